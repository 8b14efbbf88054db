"""Revocation as relying parties see it when the workflow returns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import Admin
from .ocsp import resign


@dataclass(frozen=True)
class Revoked:
    record: Any         # ca.records.CertificateRecord, revoked
    crl: Any            # ca.records.CrlRecord, the CRL published with the revocation
    resigned: int       # OCSP responses re-signed as "revoked"


def revoke_certificate(admin: Admin, ca_name: str, serial: str, reason: str, actor: str) -> Revoked:
    """Revoke with an RFC 5280 5.3.1 reason (the CA service marks it, deletes its pre-signed "good"
    responses, audits it and publishes a fresh CRL, RFC 5280 5.1.2.4), then re-sign its OCSP
    responses as "revoked" before returning, so the next nonce-less request (RFC 5019) is answered
    from the store with the new status."""
    record, crl = admin.ca.revoke(ca_name, serial, reason, actor)
    return Revoked(record, crl, resign(admin, ca_name, record.serial_hex))
