"""One vocabulary for certificate status and pre-signed OCSP responses, shared by ca/ (which
stores them), ocsp/ (which answers with them) and the composition root (which wires the two).

A leaf: it imports nothing internal, so ca/ and ocsp/ may both use it without importing each other.
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class CertStatus(str, enum.Enum):
    """The status of one certificate, as RFC 6960 4.2.1 CertStatus answers it.

    ``VALID`` is RFC 6960's "good": issued and not revoked; it keeps the spelling the CA database,
    `govca cert list --status` and the JSON output have always used ("valid"), and ``GOOD`` names
    the same member. ``REVOKED`` carries a time and an RFC 5280 5.3.1 reason (``StatusInfo``).
    ``UNKNOWN`` is only ever an answer (a serial this CA never issued); no record holds it.
    """

    VALID = "valid"
    GOOD = "valid"  # alias: RFC 6960 4.2.1 spelling of VALID
    REVOKED = "revoked"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> "CertStatus | None":
        # Pre-signed responses stored before this vocabulary spell VALID as RFC 6960 does.
        return cls.VALID if value == "good" else None

    @property
    def rfc6960_name(self) -> str:
        """The ASN.1 CHOICE name RFC 6960 4.2.1 gives this status: good, revoked or unknown."""
        return "good" if self is CertStatus.VALID else self.value

    @classmethod
    def of_record(cls) -> tuple["CertStatus", ...]:
        """The statuses a certificate record can hold (`govca cert list --status`)."""
        return (cls.VALID, cls.REVOKED)


@dataclass(frozen=True)
class StatusInfo:
    """What a responder says about one certificate (RFC 6960 4.2.1 SingleResponse.certStatus)."""

    status: CertStatus
    revoked_at: dt.datetime | None = None
    reason: str | None = None  # RFC 5280 5.3.1 reason name, e.g. "keyCompromise"


@dataclass(frozen=True)
class ServedIssuer:
    """A CA answered for, and its delegated responder (RFC 6960 4.2.2.2): certificate and key URI."""

    ca_name: str
    issuer_der: bytes
    responder_der: bytes
    responder_key_uri: str


@dataclass(frozen=True)
class PresignedResponse:
    """A signed OCSP response kept for nonce-less requests (RFC 5019 2.1.1), one per (CA, serial, CertID hash)."""

    der: bytes
    status: CertStatus
    this_update: dt.datetime
    next_update: dt.datetime
    produced_at: dt.datetime
