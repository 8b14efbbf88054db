"""HMAC-SHA256 with a secret key generated in, and never leaving, the token.

Used to verify activation data (officials' PINs) without a hash anyone could attack offline: the
record in the database is useless without the token (ขมธอ. 36-2566 / CEN EN 419 241-1, the
activation data is checked with a key held in the HSM). The key is CKK_GENERIC_SECRET, 256 bits,
CKA_SENSITIVE true, CKA_EXTRACTABLE false, usable for CKM_SHA256_HMAC only.
"""
from __future__ import annotations

import os
from typing import Any

from .errors import HsmError, KeyNotFoundError
from .token import _LOCK, Pkcs11Token


class HsmMacKey:
    """A secret key in the token whose only operation is :meth:`mac` (HMAC-SHA256)."""

    def __init__(self, token: Pkcs11Token, label: str) -> None:
        self.token, self.label = token, label

    def mac(self, data: bytes) -> bytes:
        import pkcs11

        with _LOCK:
            key = self._handle()
            return bytes(key.sign(data, mechanism=pkcs11.Mechanism.SHA256_HMAC))

    def _handle(self) -> Any:
        """The object handle, from the token's per-process index. Caller holds _LOCK."""
        import pkcs11

        key = self.token._find(self.token._session(), self.label, pkcs11.ObjectClass.SECRET_KEY)
        if key is None:
            raise KeyNotFoundError(f"no secret key {self.label!r} in token {self.token.config.token_label!r}")
        return key


def mac_key(token: Pkcs11Token, label: str, create: bool = False) -> HsmMacKey:
    """The HMAC key labelled ``label``; generated in the token first when ``create`` and absent."""
    import pkcs11
    from pkcs11 import Attribute

    key = HsmMacKey(token, label)
    with _LOCK:
        try:
            key._handle()
            return key
        except KeyNotFoundError:
            if not create:
                raise
        session = token._session()
        try:
            session.generate_key(pkcs11.KeyType.GENERIC_SECRET, 256, label=label, id=os.urandom(16), store=True,
                                 template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                                           Attribute.PRIVATE: True, Attribute.SIGN: True, Attribute.VERIFY: True,
                                           Attribute.ENCRYPT: False, Attribute.DECRYPT: False, Attribute.WRAP: False,
                                           Attribute.UNWRAP: False, Attribute.DERIVE: False})
        except pkcs11.PKCS11Error as exc:
            raise HsmError(f"generating secret key {label!r} failed: {type(exc).__name__}") from exc
        key._handle()
    return key
