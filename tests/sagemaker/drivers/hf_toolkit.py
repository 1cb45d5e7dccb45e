"""Run inside a side environment: code/inference.py through the Hugging Face inference toolkit's
real handler service inside MMS's real worker-side Service, as the HF DLC runs it.

Usage: python hf_toolkit.py MODEL_DIR < bodies.json  ->  [[status, content_type, body], ...]
"""

import json
import struct
import sys


def toolkit_service(model_dir):
    import transformers.file_utils

    # The toolkit imports this helper, which transformers 5 dropped; the images' 4.x have it.
    if not hasattr(transformers.file_utils, "is_tf_available"):
        transformers.file_utils.is_tf_available = lambda: False
    from mms.service import Service
    from sagemaker_huggingface_inference_toolkit.handler_service import HuggingFaceHandlerService

    handler = HuggingFaceHandlerService()
    service = Service("model", model_dir, None, handler.handle, None, 1)
    handler.initialize(service.context)  # MMS does this before the first request
    return service


def invoke(service, body):
    batch = [
        {
            "requestId": b"req-1",
            "parameters": [{"name": "body", "contentType": "application/json", "value": body}],
            "headers": [{"name": b"Content-Type", "value": b"application/json"}],
        }
    ]
    return parse_predict_response(bytes(service.predict(batch)))


def parse_predict_response(msg):
    """MMS's worker-to-frontend frame: (http status, content type, body) of request 0."""
    pos = 0

    def i32():
        nonlocal pos
        (value,) = struct.unpack_from("!i", msg, pos)
        pos += 4
        return value

    def blob():
        nonlocal pos
        n = i32()
        pos += n
        return msg[pos - n : pos]

    i32()  # batch code
    blob()  # batch message
    blob()  # request id
    content_type = blob().decode()
    status = i32()
    blob()  # phrase
    for _ in range(i32()):
        blob(), blob()
    return status, content_type, blob()


def main():
    service = toolkit_service(sys.argv[1])
    results = []
    for body in json.load(sys.stdin):
        status, content_type, raw = invoke(service, body.encode("utf-8"))
        results.append([status, content_type, raw.decode("utf-8")])
    import transformers

    print(json.dumps({"transformers": transformers.__version__, "results": results}))


if __name__ == "__main__":
    main()
