"""What every CA operation needs, injected by the composition root."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from policies import PolicySettings, ProfileSet

from .audit import AuditEvent, append
from .storage.db import Database


class KeyStore(Protocol):
    """The part of hsm.Pkcs11Token that ca/ uses."""

    def generate_key_pair(self, key_type: Any, label: str) -> Any: ...

    def get_key(self, uri: Any) -> Any: ...

    def open(self) -> None:
        """Log in (read the PIN source) now; raise, naming the PIN source, if that fails."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class CaContext:
    """``keys`` is the CA token (root and issuing CA keys, and every CA signature); ``service_keys``
    the service token, where the CA generates the end-entity keys the running service uses (OCSP
    responders, TSA units, e-seals, officials). ETSI EN 319 411-1 and ขมธอ. 36-2566 expect the CA's
    signing keys to be usable by the CA function only, so they never share a token with those."""

    db: Database
    keys: KeyStore
    profiles: ProfileSet
    settings: PolicySettings
    service_keys: KeyStore | None = None  # None: the CA token (a data directory with one shared token)
    clock: Callable[[], dt.datetime] = utcnow
    lint: bool = True
    # Test hook: called between the HSM signature and the final store (acceptance 7).
    after_sign: Callable[[bytes], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.service_keys is None:
            self.service_keys = self.keys

    def keys_for(self, profile_is_ca: bool) -> KeyStore:
        """The token a subject key is generated in: the CA token for CA profiles, else the service token."""
        assert self.service_keys is not None
        return self.keys if profile_is_ca else self.service_keys

    def open_ca_token(self) -> None:
        """Log in to the CA token before anything is written, so that an unreadable PIN source
        fails the command with one error that names it and changes nothing."""
        self.keys.open()

    def audit(self, event: AuditEvent) -> None:
        """Audit in a transaction of its own (used for refusals, which change nothing else)."""
        with self.db.unit_of_work() as s:
            append(s, event, self.clock())
