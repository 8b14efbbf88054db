"""pkilint, run in-process: RFC 5280 checks for every certificate, ETSI EN 319 412 checks for
natural- and legal-person certificates, and the RFC 5280 CRL and RFC 6960 OCSP lints.

Validator containers are built once per process and reused (building them costs more than
running them).
"""
from __future__ import annotations

import functools
from typing import Any

from .findings import Finding, Severity

ETSI_TYPES = {"natural_person": "NCP_NATURAL_PERSON_CERTIFICATE", "legal_person": "NCP_LEGAL_PERSON_CERTIFICATE"}


@functools.lru_cache(maxsize=None)
def _pkix_validator() -> Any:
    from pkilint.pkix import certificate, extension, name

    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


@functools.lru_cache(maxsize=None)
def _etsi_validator(etsi_type: str) -> tuple[Any, Any]:
    from pkilint import etsi
    from pkilint.etsi import etsi_constants
    from pkilint.pkix import certificate

    cert_type = etsi_constants.CertificateType[ETSI_TYPES[etsi_type]]
    container = certificate.create_pkix_certificate_validator_container(
        etsi.create_decoding_validators(cert_type), etsi.create_validators(cert_type))
    return container, etsi.create_etsi_finding_filters(cert_type)


@functools.lru_cache(maxsize=None)
def _crl_validator(kind: str) -> Any:
    from pkilint import pkix
    from pkilint.pkix import crl, extension, name

    return crl.create_pkix_crl_validator_container(
        [pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
         pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)],
        [crl.create_issuer_validator_container([]), crl.create_validity_validator_container([]),
         crl.create_extensions_validator_container([])],
    )


@functools.lru_cache(maxsize=None)
def _ocsp_validator() -> Any:
    from pkilint import pkix
    from pkilint.pkix import extension, name
    from pkilint.pkix import ocsp as pkix_ocsp

    return pkix_ocsp.create_pkix_ocsp_response_validator_container(
        [pkix_ocsp.create_response_decoder(),
         pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
         pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)],
        [],
    )


def _findings(results: Any, source: str) -> list[Finding]:
    out = []
    for result in results:
        for finding in result.finding_descriptions:
            sev = Severity(str(finding.finding.severity))
            msg = finding.message or ""
            out.append(Finding(sev, finding.finding.code, f"{msg} at {result.node.path}".strip(), source))
    return out


def lint_certificate(der: bytes, etsi_type: str | None = None) -> list[Finding]:
    """pkilint findings for a certificate: PKIX, or for person/e-seal types ETSI EN 319 412.

    pkilint builds its ETSI container from the same PKIX validator containers with ETSI
    validators added, so the ETSI run is a superset of the PKIX run and the certificate is
    walked once.
    """
    from pkilint import finding_filter, loader

    cert = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    if etsi_type is None:
        return _findings(_pkix_validator().validate(cert.root), "pkilint-pkix")
    container, filters = _etsi_validator(etsi_type)
    results, _ = finding_filter.filter_results(filters, container.validate(cert.root))
    return _findings(results, "pkilint-etsi")


def lint_crl(der: bytes, is_arl: bool = False) -> list[Finding]:
    """pkilint's RFC 5280 CRL findings."""
    from pkilint import loader

    doc = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    return _findings(_crl_validator("ARL" if is_arl else "CRL").validate(doc.root), "pkilint-crl")


def lint_ocsp_response(der: bytes) -> list[Finding]:
    """pkilint's RFC 6960 OCSP response findings."""
    from pkilint import loader

    doc = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(der, "ocsp")
    return _findings(_ocsp_validator().validate(doc.root), "pkilint-ocsp")


LOCAL_URL_CODES = {"etsi.internal_domain_name", "etsi.internal_ip_address"}


def is_loopback_base_url(base_url: str) -> bool:
    import ipaddress
    from urllib.parse import urlparse

    host = urlparse(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def relax_for_loopback(findings: list[Finding], base_url: str) -> list[Finding]:
    """With a loopback base URL (the one-machine demo), ETSI's "internal name" findings on our
    own CRL/AIA links are downgraded to WARNING: they describe the deployment, not the profile.
    Any other base URL keeps them as ERROR, so a production CA cannot publish internal links."""
    if not is_loopback_base_url(base_url):
        return findings
    return [Finding(Severity.WARNING, f.code, f.message + " (allowed for a loopback demo base URL)", f.source)
            if f.code in LOCAL_URL_CODES else f for f in findings]
