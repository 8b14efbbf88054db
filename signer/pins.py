"""Officials' PINs (activation data), checked with a key that never leaves the HSM.

A PIN of 6-12 digits has at most 10^12 values; a slow hash in the database only delays an
attacker who copies it, and costs every legitimate authorisation the same delay. Instead the record
is HMAC-SHA256, computed in the HSM with a non-extractable secret key, over a random salt, the
official's id and the PIN (ขมธอ. 36-2566 / CEN EN 419 241-1: the activation data is verified with
protection from the HSM): without the token the record tells nothing, and a check costs
microseconds. Five wrong attempts lock the credential (signer/csc.py), so online guessing is
bounded too.

Record: ``hsm-hmac-sha256$<key label>$<salt, base64>$<mac, base64>``.
"""
from __future__ import annotations

import base64
import hmac
import os
from typing import Callable

SCHEME = "hsm-hmac-sha256"
KEY_LABEL = "govca-pin-mac-v1"
Mac = Callable[[bytes], bytes]


class PinVault:
    """Makes and checks PIN records. ``mac_factory`` returns the HSM's HMAC function; it is called
    on first use only, so a server whose token has no PIN key yet starts all the same."""

    def __init__(self, mac_factory: Callable[[], Mac], key_label: str = KEY_LABEL) -> None:
        self._factory, self.key_label = mac_factory, key_label
        self._mac: Mac | None = None

    def _message(self, official_id: int, salt: bytes, pin: str) -> bytes:
        return b"govca official PIN v1\x00" + str(official_id).encode() + b"\x00" + salt + pin.encode()

    def _compute(self, official_id: int, salt: bytes, pin: str) -> bytes:
        if self._mac is None:
            self._mac = self._factory()
        return self._mac(self._message(official_id, salt, pin))

    def record(self, official_id: int, pin: str) -> str:
        salt = os.urandom(16)
        mac = self._compute(official_id, salt, pin)
        return "$".join((SCHEME, self.key_label, base64.b64encode(salt).decode(), base64.b64encode(mac).decode()))

    def verify(self, official_id: int, pin: str, record: str) -> bool:
        parts = record.split("$")
        if len(parts) != 4 or parts[0] != SCHEME or parts[1] != self.key_label:
            return False
        try:
            salt, expected = base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(self._compute(official_id, salt, pin), expected)
