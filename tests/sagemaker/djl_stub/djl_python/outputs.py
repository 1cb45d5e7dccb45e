"""djl_python.outputs.Output, after djl-serving engines/python/setup/djl_python/outputs.py
(v0.29.0, v0.35.0 and v0.36.0 agree on everything here).

`send` writes DJL's worker-to-frontend frames exactly as the real one does; above all, every
streamed item goes through `stream_output_formatter`, whose default wraps it as
`{"outputs": item}` + newline (so bytes items fail: bytes are not JSON serializable), and an
exception while streaming ends the stream with a frame carrying `str(exception)`.
"""

import json
import logging
import struct


def _default_stream_output_formatter(token_texts):
    # verbatim behaviour of Output._default_stream_output_formatter
    token_texts = {"outputs": token_texts}
    json_encoded_str = json.dumps(token_texts) + "\n"
    return bytearray(json_encoded_str.encode("utf-8"))


class Output:
    def __init__(self, code=200, message="OK"):
        self.code = code
        self.message = message
        self.properties = {}
        self.content = []  # (key, bytearray): DJL's PairList
        self.stream_content = None
        self.stream_output_formatter = None

    def set_code(self, code):
        self.code = code
        return self

    def set_message(self, message):
        self.message = message
        return self

    def error(self, error, code=424, message="invoke handler failure"):
        self.code = code
        self.message = message
        self.add_property("content-type", "application/json")
        return self.add_as_json({"code": self.code, "message": self.message, "error": error})

    def add_property(self, key, val):
        self.properties[key] = val
        return self

    def get_properties(self):
        return self.properties

    def get_property(self, key):
        return self.properties.get(key)

    def add(self, value, key=None, batch_index=None):
        if batch_index is not None:
            key = f"batch_{batch_index}.{'' if key is None else key}"
        if type(value) is str:
            value = value.encode("utf-8")
        elif type(value) not in (bytes, bytearray):
            value = self._encode_json(value)
        self.content.append((key, bytearray(value)))
        return self

    def add_as_json(self, val, key=None, batch_index=None):
        return self.add(self._encode_json(val), key=key, batch_index=batch_index)

    def add_stream_content(self, stream_content, output_formatter=_default_stream_output_formatter):
        self.stream_content = stream_content
        self.stream_output_formatter = output_formatter
        return self

    @staticmethod
    def _encode_json(val):
        text = json.dumps(val, ensure_ascii=False, allow_nan=False, indent=2, separators=(",", ":"))
        return bytearray(text.encode("utf-8"))

    @staticmethod
    def binary_encode(data):
        """The {str: str} map an async-mode handler sends as its one content item."""
        msg = bytearray(struct.pack(">h", len(data)))
        for k, v in data.items():
            Output.write_utf8(msg, k)
            Output.write_utf8(msg, str(v))
        return msg

    @staticmethod
    def write_utf8(msg, val):
        if val is None:
            msg += struct.pack(">i", -1)
        else:
            buf = val.encode("utf-8")
            msg += struct.pack(">i", len(buf)) + buf

    def send(self, cl_socket):
        """Frames to the frontend: header, then content, or stream frames (1 = more, 0 = end)."""
        msg = bytearray(struct.pack(">h", self.code))
        self.write_utf8(msg, self.message)
        msg += struct.pack(">h", len(self.properties))
        for k, v in self.properties.items():
            self.write_utf8(msg, k)
            self.write_utf8(msg, str(v))
        if self.stream_content is None:
            msg += struct.pack(">h", len(self.content))
            for k, v in self.content:
                self.write_utf8(msg, k)
                msg += struct.pack(">i", len(v)) + v
            cl_socket.sendall(msg)
            return
        msg += struct.pack(">h", -1)
        cl_socket.sendall(msg)
        while True:
            try:
                data = next(self.stream_content)
                if self.stream_output_formatter is not None:
                    data = self.stream_output_formatter(data)
                if type(data) is str:
                    data = data.encode("utf-8")
                elif type(data) not in (bytes, bytearray):
                    data = self._encode_json(data)
                cl_socket.sendall(b"\1" + struct.pack(">i", len(data)) + data)
            except StopIteration:
                cl_socket.sendall(b"\0" + struct.pack(">i", 0))
                break
            except Exception as e:
                logging.exception("Failed read streaming content from output")
                data = str(e).encode("utf-8")
                cl_socket.sendall(b"\0" + struct.pack(">i", len(data)) + data)
                break
