"""AWS event stream encoding (application/vnd.amazon.eventstream), the framing of Bedrock's
InvokeModelWithResponseStream. Decoded by botocore.eventstream on the client side.

A message: prelude (total length u32, headers length u32, CRC32 of those 8 bytes u32), headers, payload,
CRC32 of everything before it (u32); all big-endian. A header: name length u8, name, type u8 (7 = string),
value length u16, value.
"""

from __future__ import annotations

import struct
import zlib

_STRING = 7


def encode_headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def encode_message(headers: dict[str, str], payload: bytes, *, corrupt_crc: bool = False) -> bytes:
    raw_headers = encode_headers(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    crc = zlib.crc32(message)
    if corrupt_crc:
        crc ^= 0xFFFFFFFF
    return message + struct.pack(">I", crc)


def event(payload: bytes, *, event_type: str = "chunk", corrupt_crc: bool = False) -> bytes:
    """An `event` message, as Bedrock sends each `chunk`."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, payload, corrupt_crc=corrupt_crc)


def exception(exception_type: str, payload: bytes) -> bytes:
    """An `exception` message (e.g. internalServerException, throttlingException, modelStreamErrorException)."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, payload)
