"""djl_python.inputs.Input, after djl-serving v0.36.0 engines/python/setup/djl_python/inputs.py
(unchanged in what a handler uses since v0.29.0). Content is a list of (key, bytearray) pairs
(DJL's PairList); the wire decoding (`read`) lives in djl_frontend.py."""

import json


class Input:
    def __init__(self):
        self.function_name = None
        self.properties = {}
        self.content = []  # (key, bytearray): DJL's PairList

    def get_function_name(self):
        return self.function_name

    def get_properties(self):
        return self.properties

    def get_property(self, key):
        # DJL looks properties up case-insensitively
        return next((v for k, v in self.properties.items() if k.lower() == key.lower()), None)

    def is_empty(self):
        return not self.content

    def get_as_bytes(self, key=None):
        if not self.content:
            return None
        if key:
            for k, v in self.content:
                if k == key:
                    return v
            raise KeyError(f"requested data for key:{key} is not found!")
        for k, v in self.content:
            if k == "data":
                return v
        return self.content[0][1]

    def get_as_string(self, key=None):
        return self.get_as_bytes(key=key).decode("utf-8")

    def get_as_json(self, key=None):
        return json.loads(self.get_as_bytes(key=key).decode("utf-8"))
