"""What the responder reads and keeps, as interfaces: ocsp/ never imports ca/.

The composition root hands in implementations (ca/status.py) backed by the CA database.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

# One vocabulary with ca/ (a leaf both may import): RFC 6960 4.2.1 status, the served issuer, a
# pre-signed response. Re-exported here as the names the responder speaks.
from policies.status import CertStatus, PresignedResponse, ServedIssuer, StatusInfo

__all__ = ["CertStatus", "PresignedResponse", "ServedIssuer", "StatusInfo", "StatusSource", "PresignedStore",
           "KeySource", "RepositorySource"]


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

    def crl_of(self, ca_name: str, partition: str | None) -> tuple[bytes, dt.datetime, dt.datetime] | None: ...

    def newest_crl_this_update(self) -> dt.datetime | None: ...
