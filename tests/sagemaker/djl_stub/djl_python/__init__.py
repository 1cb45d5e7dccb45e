"""Stand-in for DJL Serving's `djl_python` package (it is not on PyPI), rewritten from its source.

Source: deepjavalibrary/djl-serving, engines/python/setup/djl_python/{__init__,inputs,outputs}.py
at tags v0.29.0 (LMI 0.29/0.30 images), v0.35.0 and v0.36.0 (LMI 0.36, lmi28): the members a
handler uses behave as there, above all `Output.add_stream_content`'s default
`output_formatter`, which JSON-encodes every streamed item as `{"outputs": item}`.
`djl_frontend.py` beside this package reproduces the Java side that drives a handler.
"""

from .inputs import Input
from .outputs import Output

__all__ = ["Input", "Output"]
