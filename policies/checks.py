"""govca's own profile checks on a built certificate, each naming its clause.

They complement pkilint (RFC 5280 and ETSI structure) with what only our profile knows:
exact key usages, subject attributes, validity span, links under our base URL, policy OIDs.
"""
from __future__ import annotations

import re
from typing import Iterator

from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from .findings import Finding, Severity
from .model import CertificateProfile, PolicySettings
from .names import name_attributes

OCSP_NOCHECK = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.5")
_KU_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign")
_PRINTABLE_TYPES = {"2.5.4.6", "2.5.4.5", "2.5.4.46"}  # countryName, serialNumber, dnQualifier
_PRINTABLE_STRING, _UTF8_STRING = 0x13, 0x0C


def public_key_type(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ec-p256", "secp384r1": "ec-p384"}.get(key.curve.name, f"ec-{key.curve.name}")
    return type(key).__name__


def _err(code: str, message: str) -> Finding:
    return Finding(Severity.ERROR, code, message, "govca")


def check_key_type(profile: CertificateProfile, key: object) -> list[Finding]:
    """docs/profile.md, common rules: the subject key must be one of the profile's key types."""
    kt = public_key_type(key)
    if kt not in profile.key_types.values:
        return [_err("govca.key_type", f"{kt} key not allowed by profile {profile.name} "
                     f"(allowed: {', '.join(profile.key_types.values)}; {profile.key_types.clause})")]
    return []


def check_subject(profile: CertificateProfile, attrs: tuple[tuple[str, str], ...]) -> list[Finding]:
    """Required and allowed subject attributes and value patterns of the profile."""
    out: list[Finding] = []
    names = [k for k, _ in attrs]
    rule = profile.subject
    for req in rule.required:
        if req not in names:
            out.append(_err("govca.subject.required", f"subject lacks {req} ({rule.clause})"))
    for name in names:
        if name not in rule.allowed:
            out.append(_err("govca.subject.allowed", f"subject attribute {name} is not allowed by profile "
                            f"{profile.name} ({rule.clause})"))
        if names.count(name) > 1 and name != "OU":
            out.append(_err("govca.subject.single", f"subject attribute {name} appears more than once "
                            "(EN 319 412-1 5.1; RFC 5280 4.1.2.6)"))
    if profile.subject_patterns:
        for name, pattern in profile.subject_patterns.patterns:
            for k, v in attrs:
                if k == name and not re.fullmatch(pattern, v):
                    out.append(_err("govca.subject.pattern", f"{name}={v!r} does not match {pattern} "
                                    f"({profile.subject_patterns.clause})"))
    return list(dict.fromkeys(out))


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension | None:
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def check_certificate(cert: x509.Certificate, profile: CertificateProfile, settings: PolicySettings) -> list[Finding]:
    return list(_checks(cert, profile, settings))


def _checks(cert: x509.Certificate, p: CertificateProfile, s: PolicySettings) -> Iterator[Finding]:
    # RFC 5280 4.1.2.1: v3 when extensions are present.
    if cert.version != x509.Version.v3:
        yield _err("rfc5280.4.1.2.1.version", "certificate must be X.509 v3")
    # RFC 5280 4.1.2.2: positive, at most 20 octets; CA/B-style 64 bits of entropy needs >= 8 octets.
    serial = cert.serial_number
    if serial <= 0 or serial.bit_length() > 159:
        yield _err("rfc5280.4.1.2.2.serial", "serial must be positive and at most 20 octets")
    if serial.bit_length() < 64:
        yield _err("rfc5280.4.1.2.2.serial_entropy", "serial must carry at least 64 random bits")
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400
    if not (p.validity.min_days <= days <= p.validity.max_days + 1):
        yield _err("govca.validity", f"validity of {days:.0f} days outside {p.validity.min_days}-"
                   f"{p.validity.max_days} ({p.validity.clause})")
    yield from check_key_type(p, cert.public_key())
    yield from check_subject(p, name_attributes(cert.subject))
    yield from _check_encodings(cert)

    bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    rule = p.basic_constraints
    if bc is None:
        yield _err("rfc5280.4.2.1.9.present", f"basicConstraints missing ({rule.clause})")
    else:
        if bc.value.ca != rule.ca or bc.critical != rule.critical or bc.value.path_length != rule.path_length:
            yield _err("rfc5280.4.2.1.9.value", f"basicConstraints must be CA:{rule.ca} pathlen:{rule.path_length} "
                       f"critical:{rule.critical} ({rule.clause})")
    ku = _ext(cert, ExtensionOID.KEY_USAGE)
    if ku is None:
        yield _err("rfc5280.4.2.1.3.present", f"keyUsage missing ({p.key_usage.clause})")
    else:
        bits = {n for n in _KU_NAMES if getattr(ku.value, n)}
        if bits != set(p.key_usage.values) or ku.critical != p.key_usage.critical:
            yield _err("govca.key_usage", f"keyUsage {sorted(bits)} must be exactly {sorted(p.key_usage.values)}, "
                       f"critical ({p.key_usage.clause})")
    eku = _ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    if p.extended_key_usage is None:
        if eku is not None:
            yield _err("govca.eku.absent", f"profile {p.name} carries no extendedKeyUsage")
    elif eku is None or [o.dotted_string for o in eku.value] != list(p.extended_key_usage.values) \
            or eku.critical != p.extended_key_usage.critical:
        yield _err("govca.eku", f"extendedKeyUsage must be {list(p.extended_key_usage.values)} "
                   f"critical:{p.extended_key_usage.critical} ({p.extended_key_usage.clause})")
    if _ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER) is None:
        yield _err("rfc5280.4.2.1.2.ski", "subjectKeyIdentifier missing (RFC 5280 4.2.1.2)")
    if _ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER) is None:
        yield _err("rfc5280.4.2.1.1.aki", "authorityKeyIdentifier missing (RFC 5280 4.2.1.1)")
    yield from _check_links(cert, p, s)
    yield from _check_policies(cert, p, s)
    if p.ocsp_nocheck and p.ocsp_nocheck.value and _ext(cert, OCSP_NOCHECK) is None:
        yield _err("rfc6960.4.2.2.2.1.nocheck", f"id-pkix-ocsp-nocheck missing ({p.ocsp_nocheck.clause})")


def _check_encodings(cert: x509.Certificate) -> Iterator[Finding]:
    # RFC 5280 4.1.2.6 / appendix A: C, serialNumber, dnQualifier PrintableString; others UTF8String.
    parsed = ax509.Certificate.load(cert.public_bytes(Encoding.DER))
    for rdn in parsed["tbs_certificate"]["subject"].chosen:
        for atv in rdn:
            oid = atv["type"].dotted
            tag = atv["value"].dump()[0]
            want = _PRINTABLE_STRING if oid in _PRINTABLE_TYPES else _UTF8_STRING
            if tag != want:
                yield _err("rfc5280.4.1.2.6.encoding", f"subject {oid} encoded with tag 0x{tag:02x}, must be "
                           f"{'PrintableString' if want == _PRINTABLE_STRING else 'UTF8String'} "
                           "(RFC 5280 4.1.2.6, appendix A)")


def _check_links(cert: x509.Certificate, p: CertificateProfile, s: PolicySettings) -> Iterator[Finding]:
    base = s.base_url.rstrip("/") + "/"
    cdp = _ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    aia = _ext(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    d = p.distribution
    if d.crl != (cdp is not None):
        yield _err("govca.links.crl", f"cRLDistributionPoints {'required' if d.crl else 'not allowed'} ({d.clause})")
    if cdp is not None:
        for dp in cdp.value:
            for gn in dp.full_name or []:
                if not str(gn.value).startswith(base) or not str(gn.value).startswith("http://"):
                    yield _err("govca.links.crl_url", f"CRL URL {gn.value} must be plain HTTP under {base} "
                               "(RFC 5280 4.2.1.13; docs/profile.md common rules)")
    methods = [ad.access_method for ad in aia.value] if aia else []
    want = ([AuthorityInformationAccessOID.CA_ISSUERS] if d.ca_issuers else []) + \
        ([AuthorityInformationAccessOID.OCSP] if d.ocsp else [])
    if sorted(m.dotted_string for m in methods) != sorted(m.dotted_string for m in want):
        yield _err("govca.links.aia", f"authorityInfoAccess must hold exactly {[m._name for m in want]} ({d.clause})")
    for ad in aia.value if aia else []:
        if not str(ad.access_location.value).startswith(base):
            yield _err("govca.links.aia_url", f"AIA URL {ad.access_location.value} must be under {base} "
                       "(RFC 5280 4.2.2.1)")


def _check_policies(cert: x509.Certificate, p: CertificateProfile, s: PolicySettings) -> Iterator[Finding]:
    cp = _ext(cert, ExtensionOID.CERTIFICATE_POLICIES)
    if not p.policies.include:
        if cp is not None:
            yield _err("govca.policies.absent", f"profile {p.name} carries no certificatePolicies ({p.policies.clause})")
        return
    oids = {pi.policy_identifier.dotted_string for pi in cp.value} if cp else set()
    for need in (s.agency_policy_oid, s.etsi_policy_oid):
        if need not in oids:
            yield _err("govca.policies.oid", f"certificatePolicies lacks {need} ({p.policies.clause})")
