from model_handler import ModelHandler

from common import reid


def init_context(context):
    context.user_data.model = ModelHandler()


def handler(context, event):
    return reid.handle(context, event, context.user_data.model)
