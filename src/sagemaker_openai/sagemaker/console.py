"""Deploy progress on a terminal: the only place that writes control codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

CLEAR_TO_END = "\033[K"  # ANSI: erase the rest of the line


class TerminalProgress:
    """A one-line progress bar and status line on a terminal stream (stderr)."""

    def __init__(self, out: TextIO | None = None) -> None:
        # sys.stderr as it is now, not as it was at import (a default argument is bound once)
        self.out = out or sys.stderr

    def upload(self, total_bytes: int) -> Callable[[int], None]:
        sent = 0

        def advance(n: int) -> None:
            nonlocal sent
            sent += n
            filled = int(30 * sent / max(total_bytes, 1))
            mib = f"{sent / 2**20:.1f}/{total_bytes / 2**20:.1f} MiB"
            self.out.write(f"\r  upload [{'#' * filled}{'.' * (30 - filled)}] {mib}")
            self.out.flush()

        return advance

    def status(self, text: str) -> None:
        self.out.write(f"\r  {text}{CLEAR_TO_END}")
        self.out.flush()

    def done(self) -> None:
        self.out.write("\n")
        self.out.flush()
