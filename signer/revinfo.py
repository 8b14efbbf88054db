"""Revocation data (OCSP responses, CRLs) and the offline validation context built on it: shared by
sealing (what is embedded) and verification (what is checked). Holds no key."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from asn1crypto import crl as acrl
from asn1crypto import ocsp as aocsp
from asn1crypto import x509 as ax509
from pyhanko_certvalidator import ValidationContext


@dataclass(frozen=True)
class RevocationData:
    """OCSP responses and CRLs for every certificate of the signer's and the TSA's chains."""

    ocsps: tuple[bytes, ...]
    crls: tuple[bytes, ...]


def validation_context(roots: tuple[bytes, ...], others: tuple[bytes, ...], revocation: RevocationData,
                       now: dt.datetime | None = None) -> ValidationContext:
    """An offline context: nothing is fetched, revocation data must be at hand (hard-fail)."""
    return ValidationContext(
        trust_roots=[ax509.Certificate.load(r) for r in roots],
        other_certs=[ax509.Certificate.load(c) for c in others],
        ocsps=[aocsp.OCSPResponse.load(o) for o in revocation.ocsps],
        crls=[acrl.CertificateList.load(c) for c in revocation.crls],
        allow_fetching=False, revocation_mode="hard-fail", moment=now,
    )
