"""Revocation data (OCSP responses, CRLs) and the offline validation context built on it: shared by
sealing (what is embedded) and verification (what is checked). Holds no key.

What a long-term signature embeds for each certificate of its chains (docs/ltv.md) is chosen from
the certificate itself: :func:`needs_status` (RFC 6960 4.2.2.2.1 id-pkix-ocsp-nocheck),
:func:`is_ca` (RFC 5280 4.2.1.9) and :func:`crl_scope` (the partition its CRL distribution point
names, RFC 5280 4.2.1.13)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from asn1crypto import crl as acrl
from asn1crypto import ocsp as aocsp
from asn1crypto import x509 as ax509
from cryptography import x509
from pyhanko_certvalidator import ValidationContext

# /crl/<ca>.crl (the CA's full CRL or ARL) or /crl/<ca>/<partition>.crl (one partition).
_CRL_PATH = re.compile(r"/crl/(?P<ca>[^/]+?)(?:/(?P<partition>[^/]+))?\.crl$")


@dataclass(frozen=True)
class RevocationData:
    """OCSP responses and CRLs for every certificate of the signer's and the TSA's chains."""

    ocsps: tuple[bytes, ...]
    crls: tuple[bytes, ...]

    def __add__(self, other: "RevocationData") -> "RevocationData":
        """Both, each response or CRL once (in order)."""
        return RevocationData(tuple(dict.fromkeys(self.ocsps + other.ocsps)),
                              tuple(dict.fromkeys(self.crls + other.crls)))

    @property
    def size(self) -> int:
        """The DER bytes of everything held: what a signature that embeds it carries."""
        return sum(map(len, self.ocsps)) + sum(map(len, self.crls))


def is_ca(cert: x509.Certificate) -> bool:
    """RFC 5280 4.2.1.9: basicConstraints cA TRUE."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def needs_status(cert: x509.Certificate) -> bool:
    """False for an OCSP responder's certificate with id-pkix-ocsp-nocheck: a relying party
    trusts it for its lifetime and checks no status of it (RFC 6960 4.2.2.2.1)."""
    try:
        cert.extensions.get_extension_for_class(x509.OCSPNoCheck)
        return False
    except x509.ExtensionNotFound:
        return True


def crl_scope(cert: x509.Certificate) -> tuple[bool, str | None]:
    """(whether the certificate names a govca CRL distribution point, the partition it names or
    None for the CA's full CRL/ARL) from its first ``/crl/...`` URL (RFC 5280 4.2.1.13)."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return False, None
    for dp in points:
        for name in dp.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                found = _CRL_PATH.search(urlsplit(name.value).path)
                if found:
                    return True, found.group("partition")
    return False, None


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
