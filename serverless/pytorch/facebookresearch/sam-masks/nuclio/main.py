from model_handler import ModelHandler

from common import interactor


def init_context(context):
    context.user_data.model = ModelHandler(context.logger)


def handler(context, event):
    return interactor.handle(context, event, context.user_data.model)
