"""What the responder reads and keeps, as interfaces: ocsp/ never imports ca/.

The composition root hands in implementations (ca/status.py) backed by the CA database.
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any, Protocol


class CertState(str, enum.Enum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StatusInfo:
    state: CertState
    revoked_at: dt.datetime | None = None
    reason: str | None = None  # RFC 5280 5.3.1 name, e.g. "keyCompromise"


@dataclass(frozen=True)
class ServedIssuer:
    """A CA this responder answers for, and its delegated responder (RFC 6960 4.2.2.2)."""

    ca_name: str
    issuer_der: bytes
    responder_der: bytes
    responder_key_uri: str


@dataclass(frozen=True)
class PresignedResponse:
    der: bytes
    state: CertState
    this_update: dt.datetime
    next_update: dt.datetime
    produced_at: dt.datetime


class StatusSource(Protocol):
    """Read-only certificate status."""

    def served_issuers(self) -> list[ServedIssuer]: ...

    def status(self, ca_name: str, serial_hex: str) -> StatusInfo: ...

    def serials(self, ca_name: str) -> list[str]: ...


class PresignedStore(Protocol):
    """Pre-signed responses for nonce-less requests, one per (CA, serial, CertID hash)."""

    def get(self, ca_name: str, serial_hex: str, hash_alg: str) -> PresignedResponse | None: ...

    def put(self, ca_name: str, serial_hex: str, hash_alg: str, response: PresignedResponse) -> bool:
        """Store unless the certificate's status changed since it was read (then False)."""
        ...

    def oldest_this_update(self) -> dt.datetime | None: ...


class KeySource(Protocol):
    def get_key(self, uri: Any) -> Any: ...


class RepositorySource(Protocol):
    """CA certificates and the newest CRLs, for /certs and /crl."""

    def ca_certificate(self, ca_name: str) -> bytes | None: ...

    def latest_crl(self, ca_name: str) -> tuple[bytes, dt.datetime, dt.datetime] | None: ...

    def newest_crl_this_update(self) -> dt.datetime | None: ...
