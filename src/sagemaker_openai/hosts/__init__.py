"""Adapters for the model servers SageMaker's own images run: DJL Serving (the lmi target) and
the Hugging Face inference toolkit (the hf-dlc target). The packaged model.py and
code/inference.py are shims over these, importing them from the wheel shipped beside them."""
