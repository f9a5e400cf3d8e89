"""A Nuclio-compatible Python runtime: read function.yaml, load a folder, encode events and responses."""

from cvat_serverless.runtime.encoding import RuntimeResponse, build_event, encode_output
from cvat_serverless.runtime.loader import LoadedFunction, make_context
from cvat_serverless.runtime.spec import FunctionSpec, FunctionSpecError, parse_duration, read_function_spec

__all__ = [
    "FunctionSpec",
    "FunctionSpecError",
    "LoadedFunction",
    "RuntimeResponse",
    "build_event",
    "encode_output",
    "make_context",
    "parse_duration",
    "read_function_spec",
]
