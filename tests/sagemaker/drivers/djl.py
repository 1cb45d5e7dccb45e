"""Run inside a side environment: the lmi package's model.py through the DJL stand-in
(tests/sagemaker/djl_stub), in DJL's sync or async mode.

Usage: python djl.py MODEL_DIR sync|async < bodies.json
  -> {"transformers": version, "results": [[status, headers, [chunk, ...], [time, ...]], ...]}
In async mode the bodies are sent at once, from one thread each, as concurrent HTTP requests.
"""

import importlib.util
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "djl_stub"))

import djl_frontend  # noqa: E402


def load_model_py(model_dir):
    # service_loader.load_model_service: a module named after a hash of the entry point's path
    spec = importlib.util.spec_from_file_location("model_0123abcd", Path(model_dir) / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main():
    model_dir, mode = sys.argv[1], sys.argv[2]
    bodies = [body.encode("utf-8") for body in json.load(sys.stdin)]
    module = load_model_py(model_dir)
    if mode == "sync":
        frontend = djl_frontend.SyncFrontend(module, model_dir)
        responses = [frontend.invoke(body) for body in bodies]
    else:
        frontend = djl_frontend.AsyncFrontend(module, model_dir)
        with ThreadPoolExecutor(len(bodies)) as pool:
            responses = list(pool.map(frontend.invoke, bodies))
    import transformers

    results = [
        [r.status, r.headers, [c.decode("utf-8") for c in r.chunks], r.times] for r in responses
    ]
    print(json.dumps({"transformers": transformers.__version__, "results": results}))


if __name__ == "__main__":
    main()
