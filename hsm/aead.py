"""AES-256-GCM with a secret key generated in, and never leaving, the token.

Used to keep secrets that authorise signatures (officials' TOTP seeds) unreadable without the
token: the ciphertext in the database opens only inside the HSM (ขมธอ. 36-2566 / CEN EN 419 241-1,
the data that authorises a signature is protected by the HSM). The key is CKK_AES, 256 bits,
CKA_SENSITIVE true, CKA_EXTRACTABLE false, usable for CKM_AES_GCM encryption and decryption only
(no wrapping, no derivation, no signing).

A blob is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``. The 96-bit nonce is random per
encryption (NIST SP 800-38D 8.2.2: at most 2^32 encryptions under one key; a seed is encrypted
once per enrolment). SoftHSM2 2.6 takes the caller's IV for CKM_AES_GCM and reports a wrong tag
or AAD as CKR_GENERAL_ERROR, not CKR_ENCRYPTED_DATA_INVALID (docs/csc.md): any failure to
decrypt is one :class:`DecryptionError`.
"""
from __future__ import annotations

import os
from typing import Any

from .errors import HsmError
from .secret_key import SecretKey, find_or_create
from .token import Pkcs11Token

NONCE_BYTES, TAG_BITS = 12, 128


class DecryptionError(HsmError):
    """The blob does not open under this key with this AAD (tampered, another key, or another AAD)."""


class HsmAeadKey(SecretKey):
    """An AES-256 key in the token whose only operations are :meth:`encrypt` and :meth:`decrypt`."""

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11.mechanisms import GCMParams

        nonce = os.urandom(NONCE_BYTES)
        sealed = self.token.call(lambda _session: bytes(self._handle().encrypt(
            plaintext, mechanism=pkcs11.Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, TAG_BITS))))
        return nonce + sealed

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11.mechanisms import GCMParams

        if len(blob) < NONCE_BYTES + TAG_BITS // 8:
            raise DecryptionError("ciphertext too short")

        def open_(_session: Any) -> bytes:
            key = self._handle()
            try:
                return bytes(key.decrypt(blob[NONCE_BYTES:], mechanism=pkcs11.Mechanism.AES_GCM,
                                         mechanism_param=GCMParams(blob[:NONCE_BYTES], aad, TAG_BITS)))
            except pkcs11.PKCS11Error as exc:
                raise DecryptionError(f"does not open under {self.label!r}: {type(exc).__name__}") from None
        return self.token.call(open_)


def aead_key(token: Pkcs11Token, label: str, create: bool = False) -> HsmAeadKey:
    """The AES-256 key labelled ``label``; generated in the token first when ``create`` and absent."""
    import pkcs11
    from pkcs11 import Attribute

    return find_or_create(HsmAeadKey, token, label, create, pkcs11.KeyType.AES, 256, {
        Attribute.ENCRYPT: True, Attribute.DECRYPT: True, Attribute.SIGN: False, Attribute.VERIFY: False,
        Attribute.WRAP: False, Attribute.UNWRAP: False, Attribute.DERIVE: False})
