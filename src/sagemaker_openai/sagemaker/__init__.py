"""Packaging and deploying models to SageMaker endpoints (control plane only)."""
