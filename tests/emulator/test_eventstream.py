"""Event-stream frames: byte-exact against CONTRACT.md section 6, and readable by botocore."""

from __future__ import annotations

import pytest
from botocore.eventstream import EventStreamBuffer

from sagemaker_openai.emulator.eventstream import (
    FrameDecoder,
    decode_frame,
    encode_exception,
    encode_payload_part,
)


def test_payload_part_matches_the_contract_check_value() -> None:
    frame = encode_payload_part(b'{"a":1}\n')
    assert len(frame) == 113
    assert frame[:12] == bytes.fromhex("00000071 00000059 b327ff46")
    assert frame[-4:] == bytes.fromhex("29969631")


def test_botocore_reads_our_frames() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(encode_payload_part("héllo 🙂\n".encode()))
    buffer.add_data(encode_exception("it broke", "StreamBroken"))
    part, error = list(buffer)
    assert part.headers[":event-type"] == "PayloadPart"
    assert part.headers[":message-type"] == "event"
    assert part.payload.decode() == "héllo 🙂\n"
    assert error.headers[":message-type"] == "exception"
    assert error.headers[":exception-type"] == "ModelStreamError"
    assert error.payload == b'{"Message": "it broke", "ErrorCode": "StreamBroken"}'


def test_decoder_reassembles_frames_from_any_slicing() -> None:
    stream = b"".join(encode_payload_part(f'{{"n":{n}}}\n'.encode()) for n in range(5))
    decoder = FrameDecoder()
    frames = [f for i in range(0, len(stream), 7) for f in decoder.feed(stream[i : i + 7])]
    assert [f.payload for f in frames] == [f'{{"n":{n}}}\n'.encode() for n in range(5)]
    assert decoder.pending == 0


def test_decoder_rejects_a_corrupted_frame() -> None:
    frame = bytearray(encode_payload_part(b"{}\n"))
    frame[-6] ^= 0xFF
    with pytest.raises(ValueError, match="message CRC"):
        decode_frame(bytes(frame))
