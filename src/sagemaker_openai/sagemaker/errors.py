"""Deployment errors: each one is a one-line message the CLI prints before exiting non-zero."""

from __future__ import annotations


class DeployError(Exception):
    """Anything that stops package, deploy, delete or status."""


class InvalidInput(DeployError):
    """A flag or a model folder is wrong; found before any AWS call."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


class NoCredentials(DeployError):
    """boto3 found no AWS credentials."""


class AwsError(DeployError):
    """An AWS API call failed; `code` is AWS's error code (ValidationException, ...)."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code


class StepFailed(DeployError):
    """A deploy step failed after earlier steps had created resources, now rolled back."""

    def __init__(self, step: str, reason: str, rolled_back: list[str]) -> None:
        undone = ", ".join(rolled_back) if rolled_back else "nothing had been created"
        super().__init__(f"step {step!r} failed: {reason} (rolled back: {undone})")
        self.step = step
        self.rolled_back = rolled_back
