"""Officials' TOTP seeds (RFC 6238), encrypted in the HSM (ขมธอ. 36-2566: the data that authorises
a signature is protected by the HSM).

New seeds are AES-256-GCM under an AES key in the service token (hsm/aead.py: sensitive, not
extractable), the AAD a purpose tag and the official's id. Seeds of the earlier format, AES-256-GCM
under a key derived from ``secrets/server.key`` (:class:`SecretBox`), are read while that file
exists and re-encrypted under the HSM key (signer/remote/officials.py ``upgrade_seed``,
``upgrade_seeds``); nothing writes that format any more, and a new data directory has no such file.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """The earlier seed encryption, kept to read seeds made before (govca writes none; tests make
    one to check the upgrade): AES-256-GCM under a key derived (HKDF-SHA256, RFC 5869) from the
    server secret file (mode 0600)."""

    def __init__(self, secret_file: Path) -> None:
        self.secret_file = secret_file

    @staticmethod
    def create(secret_file: Path) -> None:
        if secret_file.exists():
            return
        secret_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))

    def _key(self, purpose: bytes) -> bytes:
        if self.secret_file.stat().st_mode & 0o077:
            raise PermissionError(f"{self.secret_file} must be mode 0600")
        return HKDF(hashes.SHA256(), 32, salt=None, info=purpose).derive(self.secret_file.read_bytes())

    def seal(self, plaintext: bytes, purpose: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + AESGCM(self._key(purpose)).encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, purpose: bytes, aad: bytes) -> bytes:
        return AESGCM(self._key(purpose)).decrypt(blob[:12], blob[12:], aad)


TOTP_PURPOSE = b"govca totp seed v1"
TOTP_KEY_LABEL = "govca-totp-aes-v1"
HSM_SEED = b"hsm-aes-gcm$" + TOTP_KEY_LABEL.encode() + b"$"


class TotpSeeds:
    """Officials' TOTP seeds (RFC 6238) encrypted in the HSM: ``hsm-aes-gcm$<key label>$`` then the
    AES-256-GCM blob of hsm/aead.py, the AAD a purpose tag and the official's id (a blob moved to
    another official does not open). ``aead`` returns the token's AES key (looked up per use);
    ``legacy`` reads seeds of the earlier format when ``secrets/server.key`` exists."""

    def __init__(self, aead: Callable[[], Any], legacy: SecretBox | None = None) -> None:
        self.aead, self.legacy = aead, legacy

    @staticmethod
    def _aad(official_id: int) -> bytes:
        return b"govca totp seed v2\x00" + str(official_id).encode()

    @staticmethod
    def is_hsm(blob: bytes) -> bool:
        return bytes(blob).startswith(HSM_SEED)

    def seal(self, official_id: int, seed: str) -> bytes:
        return HSM_SEED + self.aead().encrypt(seed.encode(), self._aad(official_id))

    def open(self, official_id: int, blob: bytes) -> str | None:
        """The seed, or None when the blob does not open (tampered, another official's, another key).
        A missing key in the token raises (hsm.KeyNotFoundError)."""
        from hsm.aead import DecryptionError

        blob = bytes(blob)
        try:
            if self.is_hsm(blob):
                return self.aead().decrypt(blob[len(HSM_SEED):], self._aad(official_id)).decode()
            if self.legacy is not None and self.legacy.secret_file.exists():
                return self.legacy.open(blob, TOTP_PURPOSE, str(official_id).encode()).decode()
        except (DecryptionError, InvalidTag, UnicodeDecodeError):
            pass
        return None
