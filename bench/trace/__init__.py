"""A per-request trace of a burst in both vLLM servers (sitecustomize.py, __main__.py)."""
