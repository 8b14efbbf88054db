"""Officials' PINs (activation data), checked with a key that never leaves the HSM.

A PIN of 6-12 digits has at most 10^12 values; a slow hash in the database only delays an
attacker who copies it, and costs every legitimate authorisation the same delay. Instead the record
is HMAC-SHA256, computed in the HSM with a non-extractable secret key, over a random salt, the
official's id and the PIN (ขมธอ. 36-2566 / CEN EN 419 241-1: the activation data is verified with
protection from the HSM): without the token the record tells nothing, and a check costs
microseconds. Five wrong attempts lock the credential (signer/remote/csc.py), so online guessing is
bounded too.

Record: ``hsm-hmac-sha256$<key label>$<salt, base64>$<mac, base64>``.
"""
from __future__ import annotations

import base64
import hmac
import os
import threading
from typing import Callable

SCHEME = "hsm-hmac-sha256"
KEY_LABEL = "govca-pin-mac-v1"
Mac = Callable[[bytes], bytes]


class LazyMac:
    """The HSM's HMAC function, looked up on first use (thread-safe): ``factory`` returns it, so a
    server whose token has no such key yet starts all the same and fails only where it is used."""

    def __init__(self, factory: Callable[[], Mac]) -> None:
        self._factory = factory
        self._mac: Mac | None = None
        self._lock = threading.Lock()

    def __call__(self, message: bytes) -> bytes:
        if self._mac is None:
            with self._lock:
                if self._mac is None:
                    self._mac = self._factory()
        return self._mac(message)


class HsmMacRecords:
    """Records ``hsm-hmac-sha256$<key label>$<salt>$<mac>`` made with an HMAC key held in the HSM
    (sensitive, not extractable). ``mac_factory`` returns the HSM's HMAC function; it is called on
    first use only (:class:`LazyMac`). Subclasses say what message a secret and a salt make."""

    def __init__(self, mac_factory: Callable[[], Mac], key_label: str) -> None:
        self._compute, self.key_label = LazyMac(mac_factory), key_label

    def _make(self, message: Callable[[bytes], bytes]) -> str:
        salt = os.urandom(16)
        mac = self._compute(message(salt))
        return "$".join((SCHEME, self.key_label, base64.b64encode(salt).decode(), base64.b64encode(mac).decode()))

    def _check(self, message: Callable[[bytes], bytes], record: str) -> bool:
        parts = record.split("$")
        if len(parts) != 4 or parts[0] != SCHEME or parts[1] != self.key_label:
            return False
        try:
            salt, expected = base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(self._compute(message(salt)), expected)


class PinVault(HsmMacRecords):
    """Makes and checks officials' PIN records."""

    def __init__(self, mac_factory: Callable[[], Mac], key_label: str = KEY_LABEL) -> None:
        super().__init__(mac_factory, key_label)

    @staticmethod
    def _message(official_id: int, salt: bytes, pin: str) -> bytes:
        return b"govca official PIN v1\x00" + str(official_id).encode() + b"\x00" + salt + pin.encode()

    def record(self, official_id: int, pin: str) -> str:
        return self._make(lambda salt: self._message(official_id, salt, pin))

    def verify(self, official_id: int, pin: str, record: str) -> bool:
        return self._check(lambda salt: self._message(official_id, salt, pin), record)
