"""A minimal DER writer and a strict TLV reader, for the OCSP hot path.

asn1crypto builds and parses every OCSP structure correctly but costs ~0.5 ms per response;
the responder's shapes are few and fixed, so they are written from pre-encoded parts here
(docs/field-notes.md, OCSP response encoding). Everything produced is
checked against asn1crypto, cryptography, openssl and pkilint by the tests.
"""
from __future__ import annotations

import datetime as dt


class DerError(ValueError):
    pass


def length(n: int) -> bytes:
    """X.690 8.1.3 definite length, short or long form."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return bytes([tag]) + length(len(body)) + body


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, *parts)


def integer(value: int) -> bytes:
    """X.690 8.3: two's complement, minimal octets."""
    body = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return tlv(0x02, body)


def generalized_time(when: dt.datetime) -> bytes:
    """RFC 5280 4.1.2.5.2 form: YYYYMMDDHHMMSSZ, UTC, no fractional seconds."""
    return tlv(0x18, when.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%SZ").encode())


def read_tlv(data: bytes, pos: int, end: int | None = None) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the TLV at ``pos``; strict DER lengths."""
    end = len(data) if end is None else end
    if pos + 2 > end:
        raise DerError("truncated TLV")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers are not used here")
    pos += 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise DerError("bad length")
        size = int.from_bytes(data[pos:pos + count], "big")
        if size < 0x80 or data[pos] == 0:
            raise DerError("non-minimal length (X.690 10.1)")
        pos += count
    if pos + size > end:
        raise DerError("value runs past its container")
    return tag, pos, pos + size
