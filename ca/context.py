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


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class CaContext:
    db: Database
    keys: KeyStore
    profiles: ProfileSet
    settings: PolicySettings
    clock: Callable[[], dt.datetime] = utcnow
    lint: bool = True
    # Test hook: called between the HSM signature and the final store (acceptance 7).
    after_sign: Callable[[bytes], None] | None = field(default=None, repr=False)

    def audit(self, event: AuditEvent) -> None:
        """Audit in a transaction of its own (used for refusals, which change nothing else)."""
        with self.db.unit_of_work() as s:
            append(s, event, self.clock())
