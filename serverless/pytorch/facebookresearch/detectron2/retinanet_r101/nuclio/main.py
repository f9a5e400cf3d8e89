from model_handler import ModelHandler

from common import detector


def init_context(context):
    context.user_data.model = ModelHandler()


def handler(context, event):
    return detector.handle(context, event, context.user_data.model)
