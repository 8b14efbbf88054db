"""Domain objects the repositories return (never ORM rows)."""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from cryptography import x509

from policies.status import CertStatus  # the one status vocabulary (RFC 6960 4.2.1), shared with ocsp/

__all__ = ["CertStatus", "SerialState", "CaState", "CaRecord", "PendingCaRecord", "CertificateRecord", "CrlRecord", "AuditRecord",
           "normalise_serial", "serial_to_hex"]


class SerialState(str, enum.Enum):
    RESERVED = "reserved"
    INTENT = "intent"
    ISSUED = "issued"
    BURNED = "burned"


class CaState(str, enum.Enum):
    """The life of a CA (``govca ca list``).

    PENDING   its key is in the CA token; its request waits for the parent's certificate; issues nothing
    ACTIVE    issues certificates, publishes CRLs, answers OCSP
    RETIRING  a successor took over issuance: issues only its own OCSP responders, keeps publishing
              CRLs and answering OCSP until its last certificate expires
    EXTERNAL  its certificate is here and its key is not (a national root, an offline root): it
              issues nothing here; its CRLs/ARLs are imported or fetched, never generated
    EXPIRED   shown for a CA past its notAfter (not stored: it follows from the time)
    """

    PENDING = "pending"
    ACTIVE = "active"
    RETIRING = "retiring"
    EXTERNAL = "external"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CaRecord:
    id: int
    name: str
    parent_name: str | None
    profile: str
    key_uri: str
    key_type: str
    subject: str
    serial_hex: str
    certificate_der: bytes
    not_before: dt.datetime
    not_after: dt.datetime
    crl_number: int
    state: CaState = CaState.ACTIVE

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)

    @property
    def is_root(self) -> bool:
        return self.parent_name is None

    @property
    def holds_key(self) -> bool:
        """Whether this CA's key is in this data directory's CA token (not an external CA)."""
        return self.state is not CaState.EXTERNAL

    def shown_state(self, now: dt.datetime) -> CaState:
        """The state ``ca list`` shows: a CA past its notAfter is expired, whatever is stored."""
        return CaState.EXPIRED if self.not_after <= now else self.state


@dataclass(frozen=True)
class PendingCaRecord:
    """A CA whose key is in the CA token and whose PKCS#10 request waits for its certificate."""

    name: str
    profile: str
    key_uri: str
    key_type: str
    subject: str
    request_der: bytes
    successor_of: str | None
    created_at: dt.datetime

    @property
    def request(self) -> x509.CertificateSigningRequest:
        return x509.load_der_x509_csr(self.request_der)


@dataclass(frozen=True)
class CertificateRecord:
    serial_hex: str
    ca_name: str
    profile: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    der: bytes
    key_uri: str | None
    status: CertStatus
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    invalidity_date: dt.datetime | None
    issued_at: dt.datetime

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


@dataclass(frozen=True)
class CrlRecord:
    ca_name: str
    crl_number: int
    this_update: dt.datetime
    next_update: dt.datetime
    der: bytes


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    time: dt.datetime
    actor: str
    action: str
    subject: str
    outcome: str
    details: dict
    prev_hash: str
    hash: str


def serial_to_hex(serial: int) -> str:
    """Serials are shown in upper-case hex, an even number of digits (as OpenSSL prints them)."""
    h = f"{serial:X}"
    return h if len(h) % 2 == 0 else "0" + h


def normalise_serial(text: str) -> str:
    """Accept hex with or without colons / 0x, any case; return the canonical form."""
    cleaned = text.strip().replace(":", "").lower().removeprefix("0x")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise ValueError(f"serial {text!r} is not hexadecimal") from None
    return serial_to_hex(value)
