from model_handler import ModelHandler

from common import tracker


def init_context(context):
    context.user_data.model = ModelHandler()


def handler(context, event):
    return tracker.handle(context, event, context.user_data.model)
