"""Pure builders: a certificate builder from (inputs, profile, settings, now); CRLs: ca/crl_der.py.

No I/O: the caller signs the returned builder with a throwaway key for linting, then with the
HSM adapter, and both signatures cover identical TBS bytes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID

from hsm.errors import UnsupportedMechanismError
from hsm.mechanisms import default_mechanism
from policies import CertificateProfile, PolicySettings
from policies.checks import OCSP_NOCHECK

from .errors import CaError
from .partitions import partition_url

REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}
# RFC 5280 5.3.1: removeFromCRL (8) appears only in delta CRLs; govca issues none.


@dataclass(frozen=True)
class IssuerInfo:
    """What a certificate takes from its issuer (None for a self-signed root)."""

    name: str
    subject: x509.Name
    ski: bytes
    not_after: dt.datetime


def hash_for_key(key: object) -> hashes.HashAlgorithm:
    """The hash a CA key signs certificates and CRLs with: hsm's one rule (``default_mechanism``)."""
    try:
        return default_mechanism(key).hash_algorithm
    except UnsupportedMechanismError:
        raise CaError(f"unsupported key {type(key).__name__}") from None


def ca_urls(base_url: str, ca_name: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {"crl": f"{base}/crl/{ca_name}.crl", "ca_issuers": f"{base}/certs/{ca_name}.crt", "ocsp": f"{base}/ocsp"}


def build_certificate(*, profile: CertificateProfile, settings: PolicySettings, subject: x509.Name,
                      public_key: object, serial: int, now: dt.datetime, issuer: IssuerInfo | None,
                      validity_days: int | None = None, crl_partition: str | None = None) -> x509.CertificateBuilder:
    """The certificate builder for ``profile``; ``issuer`` None means self-signed. With
    ``crl_partition`` the CRL DP names that partition of the issuer's CRL (ca/partitions.py)."""
    days = validity_days if validity_days is not None else profile.validity.default_days
    not_before = now.replace(microsecond=0)
    not_after = not_before + dt.timedelta(days=days)
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)  # RFC 5280 4.2.1.2 method (1)
    issuer_name = issuer.subject if issuer else subject
    aki = x509.AuthorityKeyIdentifier(issuer.ski if issuer else ski.digest, None, None)
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer_name).public_key(public_key)
         .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after))
    bc = profile.basic_constraints
    b = b.add_extension(x509.BasicConstraints(ca=bc.ca, path_length=bc.path_length), critical=bc.critical)
    ku = {n: n in profile.key_usage.values for n in (
        "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
        "key_agreement", "key_cert_sign", "crl_sign")}
    b = b.add_extension(x509.KeyUsage(**ku, encipher_only=False, decipher_only=False),
                        critical=profile.key_usage.critical)
    if profile.extended_key_usage:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in profile.extended_key_usage.values]),
                            critical=profile.extended_key_usage.critical)
    b = b.add_extension(ski, critical=False)
    b = b.add_extension(aki, critical=False)
    if issuer is not None:
        urls = ca_urls(settings.base_url, issuer.name)
        d = profile.distribution
        if d.crl:
            crl_url = (partition_url(settings.base_url, issuer.name, crl_partition) if crl_partition
                       else urls["crl"])  # RFC 5280 4.2.1.13; the partition's IDP names the same URL (5.2.5)
            b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(crl_url)], None, None, None)]), critical=False)
        access = []
        if d.ocsp:
            access.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                                 x509.UniformResourceIdentifier(urls["ocsp"])))
        if d.ca_issuers:
            access.append(x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                                 x509.UniformResourceIdentifier(urls["ca_issuers"])))
        if access:
            b = b.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if profile.policies.include:
        b = b.add_extension(x509.CertificatePolicies([
            x509.PolicyInformation(x509.ObjectIdentifier(settings.agency_policy_oid), None),
            x509.PolicyInformation(x509.ObjectIdentifier(settings.etsi_policy_oid), None),
        ]), critical=False)
    if profile.ocsp_nocheck and profile.ocsp_nocheck.value:
        b = b.add_extension(x509.UnrecognizedExtension(OCSP_NOCHECK, b"\x05\x00"), critical=False)
    return b


def ski_of(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
