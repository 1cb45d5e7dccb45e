"""The transformers engine's cache and scheduling: continuous batching in one packed forward
pass per step (batching.py, mixed.py) over per-layer KV caches (kvcache.py), a prompt prefix
cache (prefixes.py), the model on one worker thread (worker.py)."""
