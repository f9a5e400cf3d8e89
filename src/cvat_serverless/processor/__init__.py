"""A local processor that runs one function folder the way Nuclio does, over HTTP."""

from cvat_serverless.processor.handle import ProcessorHandle, free_port, start_processor

__all__ = ["ProcessorHandle", "free_port", "start_processor"]
