"""API client secrets: shown once, stored only as an HMAC made in the HSM, never logged.

A bearer token is ``gvc_<client id>_<secret>``, the secret 256 random bits. For a secret that
cannot be guessed a slow hash adds nothing but cost (a wrong token then costs the server what
it costs the caller to send it); what protects the stored record is the key: the record is
HMAC-SHA256 computed in the HSM with a non-extractable secret key (hsm/mac.py), exactly as
officials' PINs (signer/pins.py), so a copy of the database tells nothing without the token, and
a check costs microseconds.

Record: ``hsm-hmac-sha256$<key label>$<salt, base64>$<mac, base64>``.

Records made before are ``scrypt$N$r$p$salt$digest`` (RFC 7914, ~50 ms a check): they keep
verifying; a right secret upgrades its record to the HMAC record (compare-and-set, by the
``upgrade`` callback of the composition root). A wrong secret against an old scrypt record still
costs a scrypt, which is why refused authentication is rate-limited per address
(signer/throttle.py) and an address past its limit is not checked against a scrypt record at all.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from typing import Callable

from .pins import SCHEME as HMAC_SCHEME
from .pins import HsmMacRecords, Mac

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
TOKEN = re.compile(r"^gvc_([0-9]{1,12})_([A-Za-z0-9_-]{40,64})$")
CACHE_SECONDS = 300.0
KEY_LABEL = "govca-apiclient-mac-v1"
log = logging.getLogger("govca.credentials")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def make_token(client_id: int, secret: str) -> str:
    return f"gvc_{client_id}_{secret}"


def hash_secret(secret: str) -> str:
    """The old (slow) record; kept for records made before the HMAC record, and for tests."""
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


def scheme_of(stored: str) -> str:
    return stored.split("$", 1)[0]


def is_slow(stored: str) -> bool:
    """True for a record whose check costs a slow hash (an old scrypt record)."""
    return scheme_of(stored) == "scrypt"


def parse_token(header: str | None) -> tuple[int, str] | None:
    """``Authorization: Bearer gvc_<id>_<secret>`` → (id, secret), or None."""
    if not header or not header.startswith("Bearer "):
        return None
    m = TOKEN.match(header[len("Bearer "):].strip())
    return (int(m.group(1)), m.group(2)) if m else None


class SecretVault(HsmMacRecords):
    """Makes and checks HMAC records of API client secrets with the HSM key ``key_label``."""

    def __init__(self, mac_factory: Callable[[], Mac], key_label: str = KEY_LABEL) -> None:
        super().__init__(mac_factory, key_label)

    @staticmethod
    def _message(salt: bytes, secret: str) -> bytes:
        return b"govca API client secret v1\x00" + salt + secret.encode()

    def record(self, secret: str) -> str:
        return self._make(lambda salt: self._message(salt, secret))

    def verify(self, secret: str, record: str) -> bool:
        return self._check(lambda salt: self._message(salt, secret), record)


class SecretVerifier:
    """Verifies secrets against stored records: HMAC records with the vault (microseconds), old
    scrypt records slowly, remembering recent scrypt successes in memory (SHA-256 of the secret,
    a few minutes) and upgrading a record on its first success."""

    def __init__(self, vault: SecretVault | None = None,
                 upgrade: Callable[[int, str, str], None] | None = None) -> None:
        self.vault, self.upgrade = vault, upgrade
        self._ok: dict[tuple[int, str], tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        self._warned = False

    def verify(self, client_id: int, secret: str, stored_hash: str) -> bool:
        if scheme_of(stored_hash) == HMAC_SCHEME:
            return self.vault is not None and self.vault.verify(secret, stored_hash)
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
        self._upgrade(client_id, secret, stored_hash)
        return True

    def _upgrade(self, client_id: int, secret: str, stored_hash: str) -> None:
        if self.vault is None or self.upgrade is None:
            return
        try:
            self.upgrade(client_id, stored_hash, self.vault.record(secret))
        except Exception as exc:  # noqa: BLE001 - the old record still works; never the secret in the log
            if not self._warned:  # once per process (a token without the key: every upgrade fails alike)
                self._warned = True
                log.warning("API client %s: scrypt record not upgraded to the HMAC record (%s; the key %s is "
                            "made by `govca apiclient create`; the web database role may not write api_clients)",
                            client_id, type(exc).__name__, getattr(self.vault, "key_label", "?"))


ACCESS_TOKEN_KEY_LABEL = "govca-token-mac-v1"
ACCESS_TOKEN_MAX_SECONDS = 3600
_ACCESS_TOKEN = re.compile(r"^csc1\.([0-9]{1,12})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


class AccessTokens:
    """CSC access tokens (auth/login, v1 and v2): ``csc1.<client id>.<expiry>.<mac>``, the MAC an
    HMAC-SHA256 computed in the HSM (key ``govca-token-mac-v1``, sensitive, not extractable) over a
    version tag, the client id and the expiry (Unix seconds). Nothing in the data directory outside
    the token (no server secret, configuration value or database row) can make one. A token lives
    at most an hour (:data:`ACCESS_TOKEN_MAX_SECONDS`); one whose expiry lies further ahead is
    refused even when its MAC checks, and so is an expired one."""

    def __init__(self, mac: Mac) -> None:
        self._mac = mac

    @staticmethod
    def _message(client_id: int, expires: int) -> bytes:
        return b"govca CSC access token v2\x00" + f"{client_id}\x00{expires}".encode()

    def issue(self, client_id: int, now: float, lifetime: int = ACCESS_TOKEN_MAX_SECONDS) -> tuple[str, int]:
        lifetime = max(1, min(int(lifetime), ACCESS_TOKEN_MAX_SECONDS))
        expires = int(now) + lifetime
        mac = base64.urlsafe_b64encode(self._mac(self._message(client_id, expires))).rstrip(b"=").decode()
        return f"csc1.{client_id}.{expires}.{mac}", lifetime

    def client_of(self, token: str, now: float) -> int | None:
        """The API client id of a genuine token that is unexpired and expires within the hour."""
        m = _ACCESS_TOKEN.match(token)
        if m is None:
            return None
        client_id, expires = int(m.group(1)), int(m.group(2))
        if not now < expires <= now + ACCESS_TOKEN_MAX_SECONDS:
            return None
        mac = base64.urlsafe_b64decode(m.group(3) + "=")
        return client_id if hmac.compare_digest(self._mac(self._message(client_id, expires)), mac) else None
