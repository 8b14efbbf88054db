"""The asn1crypto 1.5.1 definite-length fix (signer/asn1_patch.py)."""
from __future__ import annotations

from asn1crypto import core

import signer  # noqa: F401 - applies the patch
from signer.asn1_patch import _indefinite_header


def test_x690_8_1_3_6_only_a_lone_0x80_length_octet_is_indefinite() -> None:
    assert _indefinite_header(b"\x30\x80")
    assert _indefinite_header(b"\x1f\x81\x01\x80")  # high tag number form, then indefinite
    assert not _indefinite_header(b"\x30\x81\x80")  # definite length 128
    assert not _indefinite_header(b"\x30\x82\x0c\x80")  # definite length 3200
    assert not _indefinite_header(b"\x30\x05")


def test_a_definite_length_ending_in_0x80_is_not_re_encoded_on_dump() -> None:
    class Pair(core.Sequence):
        _fields = [("a", core.OctetString), ("b", core.OctetString)]

    value = Pair({"a": b"x" * 61, "b": b"y" * 63})  # 2 + 61 + 2 + 63 = 128 octets of content
    der = value.dump()
    assert der[:3] == b"\x30\x81\x80"
    parsed = Pair.load(der)
    calls = []
    original = Pair._set_contents

    def spy(self, force=False):  # type: ignore[no-untyped-def]
        calls.append(force)
        return original(self, force)

    Pair._set_contents = spy  # type: ignore[method-assign]
    try:
        assert parsed.dump() == der
    finally:
        Pair._set_contents = original  # type: ignore[method-assign]
    assert calls == []  # the stored DER was used as is


def test_a_real_indefinite_length_is_still_re_encoded_as_der() -> None:
    ber = b"\x30\x80\x04\x01\x41\x00\x00"  # SEQUENCE (indefinite) { OCTET STRING "A" }
    assert core.Sequence.load(ber).dump(force=True) == b"\x30\x03\x04\x01\x41"
