"""HMAC-SHA256 with a secret key generated in, and never leaving, the token.

Used to verify activation data (officials' PINs) without a hash anyone could attack offline: the
record in the database is useless without the token (ขมธอ. 36-2566 / CEN EN 419 241-1, the
activation data is checked with a key held in the HSM). The key is CKK_GENERIC_SECRET, 256 bits,
CKA_SENSITIVE true, CKA_EXTRACTABLE false, usable for CKM_SHA256_HMAC only.
"""
from __future__ import annotations

from .secret_key import SecretKey, find_or_create
from .token import Pkcs11Token


class HsmMacKey(SecretKey):
    """A secret key in the token whose only operation is :meth:`mac` (HMAC-SHA256)."""

    def mac(self, data: bytes) -> bytes:
        import pkcs11

        return self.token.call(lambda _session: bytes(self._handle().sign(data, mechanism=pkcs11.Mechanism.SHA256_HMAC)))


def mac_key(token: Pkcs11Token, label: str, create: bool = False) -> HsmMacKey:
    """The HMAC key labelled ``label``; generated in the token first when ``create`` and absent."""
    import pkcs11
    from pkcs11 import Attribute

    return find_or_create(HsmMacKey, token, label, create, pkcs11.KeyType.GENERIC_SECRET, 256, {
        Attribute.SIGN: True, Attribute.VERIFY: True, Attribute.ENCRYPT: False, Attribute.DECRYPT: False,
        Attribute.WRAP: False, Attribute.UNWRAP: False, Attribute.DERIVE: False})
