"""The benchmark harness: this runtime against vllm serve, vLLM alone and plain transformers.

A development tool, kept out of the installed package: it may import `sagemaker_openai`, and
nothing in `src/` imports it. Run it from the repository root with `python -m bench`.
"""
