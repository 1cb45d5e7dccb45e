"""User mistakes the command line finds itself, and how every command reports one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # generic only in typeshed, not at run time
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

Command: TypeAlias = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A user mistake the CLI finds itself; the message names the fix."""


def fail(error: Exception, status: int = 2) -> int:
    print(f"error: {error}", file=sys.stderr)
    return status
