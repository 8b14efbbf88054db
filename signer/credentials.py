"""API client secrets: shown once, stored only as scrypt hashes (RFC 7914), never logged.

A bearer token is ``gvc_<client id>_<secret>``. Verifying scrypt costs ~50 ms by design, so a
worker remembers, for a few minutes, the SHA-256 of secrets it has already verified (memory
only); revocation is still read from the database on every request.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
TOKEN = re.compile(r"^gvc_([0-9]{1,12})_([A-Za-z0-9_-]{40,64})$")
CACHE_SECONDS = 300.0


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def make_token(client_id: int, secret: str) -> str:
    return f"gvc_{client_id}_{secret}"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        computed = hashlib.scrypt(secret.encode(), salt=base64.urlsafe_b64decode(salt), n=int(n), r=int(r),
                                  p=int(p), dklen=32)
        return hmac.compare_digest(computed, base64.urlsafe_b64decode(digest))
    except (ValueError, TypeError):
        return False


def parse_token(header: str | None) -> tuple[int, str] | None:
    """``Authorization: Bearer gvc_<id>_<secret>`` → (id, secret), or None."""
    if not header or not header.startswith("Bearer "):
        return None
    m = TOKEN.match(header[len("Bearer "):].strip())
    return (int(m.group(1)), m.group(2)) if m else None


class SecretVerifier:
    """Verifies secrets against stored hashes, remembering recent successes in memory."""

    def __init__(self) -> None:
        self._ok: dict[tuple[int, str], tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def verify(self, client_id: int, secret: str, stored_hash: str) -> bool:
        fast = hashlib.sha256(secret.encode()).digest()
        key = (client_id, stored_hash)
        with self._lock:
            hit = self._ok.get(key)
        if hit is not None and hit[1] > time.monotonic() and hmac.compare_digest(hit[0], fast):
            return True
        if not check_secret(secret, stored_hash):
            return False
        with self._lock:
            self._ok[key] = (fast, time.monotonic() + CACHE_SECONDS)
        return True
