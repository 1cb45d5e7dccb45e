"""Test-side stand-in for DJL Serving's `djl_python` (not on PyPI): only the documented
Input/Output members that model.py uses, after deepjavalibrary/djl-serving
engines/python/setup/djl_python/{inputs,outputs}.py."""

import json


class Input:
    def __init__(self, properties=None, body=None):
        self.properties = dict(properties or {})
        self.content = [] if body is None else [("data", bytearray(body))]

    def get_properties(self):
        return self.properties

    def is_empty(self):
        return not self.content

    def get_as_bytes(self, key=None):
        return self.content[0][1] if self.content else None

    def get_as_json(self, key=None):
        return json.loads(self.get_as_bytes().decode("utf-8"))


class Output:
    def __init__(self, code=200, message="OK"):
        self.code = code
        self.message = message
        self.properties = {}
        self.content = []
        self.stream_content = None

    def add_property(self, key, val):
        self.properties[key] = val
        return self

    def add(self, value, key=None):
        if isinstance(value, str):
            value = value.encode("utf-8")
        self.content.append((key, bytearray(value)))
        return self

    def add_as_json(self, val, key=None):
        return self.add(json.dumps(val), key=key)

    def add_stream_content(self, stream_content, output_formatter=None):
        self.stream_content = stream_content
