"""AWS event-stream frames, as SageMaker's InvokeEndpointWithResponseStream sends them.

Frame layout, integers big-endian: total length u32, headers length u32, CRC32 of those 8 bytes,
headers, payload, CRC32 of everything before it. A header is name length u8, name, type u8
(7 = string), value length u16, value.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import httpx

Fault = Literal["none", "split", "merge"]
log = logging.getLogger("sagemaker_openai.emulator")

_PRELUDE = struct.Struct(">II")  # total length, headers length
_CRC = struct.Struct(">I")
_STRING = 7  # header value type: UTF-8 string with a u16 length
_OVERHEAD = _PRELUDE.size + 2 * _CRC.size  # 16 bytes of framing around headers and payload


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its string headers, in wire order, and its payload."""

    headers: dict[str, str]
    payload: bytes


def encode_frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """Encode one frame; headers keep the order given."""
    header_bytes = b"".join(_encode_header(name, value) for name, value in headers)
    total = _OVERHEAD + len(header_bytes) + len(payload)
    prelude = _PRELUDE.pack(total, len(header_bytes))
    head = prelude + _CRC.pack(zlib.crc32(prelude)) + header_bytes + payload
    return head + _CRC.pack(zlib.crc32(head))


def encode_payload_part(data: bytes) -> bytes:
    """A PayloadPart event carrying `data`, header order as SageMaker sends it."""
    return encode_frame(
        [
            (":event-type", "PayloadPart"),
            (":content-type", "application/octet-stream"),
            (":message-type", "event"),
        ],
        data,
    )


def encode_exception(
    message: str, error_code: str, exception_type: str = "ModelStreamError"
) -> bytes:
    """An in-stream exception event (ModelStreamError or InternalStreamFailure)."""
    payload = json.dumps({"Message": message, "ErrorCode": error_code}).encode()
    return encode_frame(
        [
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload,
    )


def _encode_header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return (
        struct.pack(">B", len(name_bytes))
        + name_bytes
        + struct.pack(">BH", _STRING, len(value_bytes))
        + value_bytes
    )


class FrameDecoder:
    """Incremental decoder: feed any slices of a byte stream, get whole frames back."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= _PRELUDE.size:
            total, _ = _PRELUDE.unpack_from(self._buffer)
            if len(self._buffer) < total:
                break
            frames.append(decode_frame(bytes(self._buffer[:total])))
            del self._buffer[:total]
        return frames

    @property
    def pending(self) -> int:
        """Bytes held that do not yet make a whole frame."""
        return len(self._buffer)


def decode_frame(frame: bytes) -> Frame:
    """Decode one whole frame, checking both CRCs; ValueError if it is malformed."""
    total, headers_length = _PRELUDE.unpack_from(frame)
    if total != len(frame) or total < _OVERHEAD + headers_length:
        raise ValueError(f"frame length {len(frame)} does not match its prelude ({total})")
    (prelude_crc,) = _CRC.unpack_from(frame, _PRELUDE.size)
    if prelude_crc != zlib.crc32(frame[: _PRELUDE.size]):
        raise ValueError("prelude CRC mismatch")
    (message_crc,) = _CRC.unpack_from(frame, total - _CRC.size)
    if message_crc != zlib.crc32(frame[: total - _CRC.size]):
        raise ValueError("message CRC mismatch")
    start = _PRELUDE.size + _CRC.size
    headers = _decode_headers(frame[start : start + headers_length])
    return Frame(headers, frame[start + headers_length : total - _CRC.size])


def _decode_headers(data: bytes) -> dict[str, str]:
    headers, at = {}, 0
    while at < len(data):
        name_length = data[at]
        name = data[at + 1 : at + 1 + name_length].decode()
        at += 1 + name_length
        kind, value_length = struct.unpack_from(">BH", data, at)
        if kind != _STRING:
            raise ValueError(f"header {name!r} has type {kind}; only strings (7) are used here")
        at += 3
        headers[name] = data[at : at + value_length].decode()
        at += value_length
    return headers


async def relay_frames(upstream: httpx.Response, fault: Fault) -> AsyncIterator[bytes]:
    """One PayloadPart per container chunk (or as the fault says); transport faults in-stream."""
    try:
        async for part in _parts(upstream.aiter_raw(), fault):
            yield encode_payload_part(part)
    except httpx.TimeoutException:
        message = "The container did not send the next part of its response in time."
        yield encode_exception(message, "ModelInvocationTimeExceeded")
    except httpx.TransportError as error:
        log.warning("container stream broke: %r", error)
        yield encode_exception(f"The container's response stream broke: {error}", "StreamBroken")
    finally:
        await upstream.aclose()


async def _parts(chunks: AsyncIterator[bytes], fault: Fault) -> AsyncIterator[bytes]:
    pending = b""  # merge mode: a chunk waiting for its partner
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            if fault == "split" and len(chunk) > 1:
                yield chunk[: len(chunk) // 2]
                yield chunk[len(chunk) // 2 :]
            elif fault == "merge" and not pending:
                pending = chunk
            elif fault == "merge":
                yield pending + chunk
                pending = b""
            else:
                yield chunk
    except httpx.TransportError:
        if pending:
            yield pending
        raise
    if pending:
        yield pending
