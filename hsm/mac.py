"""HMAC-SHA256 with a secret key generated in, and never leaving, the token.

Used to verify activation data (officials' PINs) without a hash anyone could attack offline: the
record in the database is useless without the token (ขมธอ. 36-2566 / CEN EN 419 241-1, the
activation data is checked with a key held in the HSM). The key is CKK_GENERIC_SECRET, 256 bits,
CKA_SENSITIVE true, CKA_EXTRACTABLE false, usable for CKM_SHA256_HMAC only.
"""
from __future__ import annotations

from typing import Any

from .errors import KeyNotFoundError
from .token import Pkcs11Token


class HsmMacKey:
    """A secret key in the token whose only operation is :meth:`mac` (HMAC-SHA256)."""

    def __init__(self, token: Pkcs11Token, label: str) -> None:
        self.token, self.label = token, label

    def mac(self, data: bytes) -> bytes:
        import pkcs11

        return self.token.call(lambda _session: bytes(self._handle().sign(data, mechanism=pkcs11.Mechanism.SHA256_HMAC)))

    def _handle(self) -> Any:
        """The object handle, from the token's index. Valid inside token.call() only."""
        key = self.token.find_secret_key(self.label)
        if key is None:
            raise KeyNotFoundError(f"no secret key {self.label!r} in token {self.token.config.token_label!r}")
        return key


def mac_key(token: Pkcs11Token, label: str, create: bool = False) -> HsmMacKey:
    """The HMAC key labelled ``label``; generated in the token first when ``create`` and absent."""
    import pkcs11
    from pkcs11 import Attribute

    key = HsmMacKey(token, label)

    def find_or_make(_session: Any) -> None:
        if token.find_secret_key(label) is not None:
            return
        if not create:
            raise KeyNotFoundError(f"no secret key {label!r} in token {token.config.token_label!r}")
        token.generate_secret_key(label, pkcs11.KeyType.GENERIC_SECRET, 256, {
            Attribute.SIGN: True, Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.DECRYPT: False,
            Attribute.WRAP: False, Attribute.UNWRAP: False, Attribute.DERIVE: False})

    token.call(find_or_make)
    return key
