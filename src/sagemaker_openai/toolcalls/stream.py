"""Tool calls found in text as it streams, without letting a call's text leak into content."""

from __future__ import annotations

from .formats import Format, ToolCall

Event = str | ToolCall  # content text, or one whole call


class ToolCallStream:
    """Feed text deltas, get content and calls in order.

    Text that could still become a call (a marker's beginning) is held back, as stop strings
    are. A call is given out once its region is closed and parses, so a malformed call can still
    come back as text; whitespace around calls is dropped, since OpenAI sends content null then.
    """

    def __init__(self, fmt: Format):
        self._fmt = fmt
        self._pending = ""
        self._in_region = False
        self._held = ""  # trailing whitespace of the content so far
        self._seen_text = False  # any content yet (a call may open the answer only)
        self._after_call = False
        self.calls = 0

    def feed(self, text: str) -> list[Event]:
        self._pending += text
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def finish(self) -> list[Event]:
        """What is still held at the end of the answer."""
        events: list[Event] = []
        if self._in_region:
            self._close_region(self._pending, events)
        else:
            self._text(self._pending, events)
        self._pending = ""
        if self._held and not self.calls:
            events.append(self._held)
        self._held = ""
        return events

    def _step(self, events: list[Event]) -> bool:
        """Consume what can be decided now; True if more may be decidable."""
        if self._in_region:
            end = self._fmt.region_end(self._pending)
            if end is None:
                return False
            region, self._pending = self._pending[:end], self._pending[end:]
            self._in_region = False
            self._close_region(region, events)
            return True
        start = self._region_start()
        if start is not None:
            self._text(self._pending[:start], events)
            self._pending = self._pending[start:]
            self._in_region = True
            return True
        keep = self._marker_prefix()
        cut = len(self._pending) - keep
        self._text(self._pending[:cut], events)
        self._pending = self._pending[cut:]
        return False

    def _region_start(self) -> int | None:
        found = [i for i in (self._pending.find(m) for m in self._fmt.markers) if i >= 0]
        if self._fmt.leading and not self._seen_text:
            stripped = self._pending.lstrip()
            if stripped.startswith(self._fmt.leading):
                found.append(len(self._pending) - len(stripped))
        return min(found) if found else None

    def _marker_prefix(self) -> int:
        """Length of the longest end of the pending text that begins a marker."""
        text = self._pending
        longest = max(map(len, self._fmt.markers), default=0)
        for size in range(min(len(text), longest - 1), 0, -1):
            if any(m.startswith(text[-size:]) for m in self._fmt.markers):
                return size
        return 0

    def _close_region(self, region: str, events: list[Event]) -> None:
        calls = self._fmt.parse(region)
        if not calls:
            if not self._fmt.constrained:  # a constrained answer's text is never content
                self._text(region, events)
            return
        events.extend(calls)
        self.calls += len(calls)
        self._held = ""
        self._after_call = True

    def _text(self, text: str, events: list[Event]) -> None:
        if self._after_call:
            text = text.lstrip()
        whole = self._held + text
        body = whole.rstrip()
        if not body:
            self._held = whole
            return
        self._held = whole[len(body) :]
        self._seen_text = True
        self._after_call = False
        events.append(body)


def parse_calls(text: str, fmt: Format) -> tuple[str | None, list[ToolCall]]:
    """A whole answer as (content, calls); content is None when the answer was only calls."""
    stream = ToolCallStream(fmt)  # one implementation of the rules for both paths
    events = stream.feed(text) + stream.finish()
    content = "".join(e for e in events if isinstance(e, str))
    calls = [e for e in events if isinstance(e, ToolCall)]
    if calls and not content.strip():
        return None, calls
    return content, calls
