"""Agencies, their e-seal certificates and the TSA certificate, each with its subject."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hsm import KeyType
from policies import name_attributes

from .context import Admin
from .hierarchy import default_issuing_ca
from .errors import BadValueError

AGENCY_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")
Attrs = tuple[tuple[str, str], ...]
TSA_CN = "govca Time-Stamping Authority"


def add_agency(admin: Admin, code: str, name_th: str, name_en: str, juristic_id: str, actor: str) -> Any:
    """Register an agency (its 13-digit juristic id checked by the caller); audited."""
    if not AGENCY_CODE.match(code):
        raise BadValueError("--code must be 1-32 upper-case letters, digits or '-'")
    agency = admin.registry.add_agency(code, name_th.strip(), name_en.strip(), juristic_id, admin.now())
    admin.audit(actor, "agency.add", code, "success", {"name_en": name_en, "juristic_id": juristic_id})
    return agency


def seal_subject(agency: Any, note: str = "") -> Attrs:
    """An agency's e-seal subject (ETSI EN 319 412-3 4.2.1: organizationName and commonName;
    EN 319 412-1 5.1.4 organizationIdentifier NTRTH-<juristic id>). ``note`` is added to the CN."""
    cn = f"{agency.name_th} {note}" if note else agency.name_th[:64]
    return (("C", "TH"), ("O", agency.name_en), ("CN", cn),
            ("organizationIdentifier", f"NTRTH-{agency.juristic_id}"))


def tsa_subject(ca: Any) -> Attrs:
    """The TSA unit's subject: the issuing CA's country and organisation, a fixed CN (RFC 3161 2.3)."""
    attrs = dict(name_attributes(ca.certificate.subject))
    return (("C", attrs.get("C", "TH")), ("O", attrs.get("O", ca.name)), ("CN", TSA_CN))


@dataclass(frozen=True)
class Issued:
    record: Any                  # ca.records.CertificateRecord (key in the service token)
    chain: tuple[bytes, ...]     # the issuing CA's chain, DER


def issue_generated(admin: Admin, ca_name: str, profile: str, key_type: KeyType, subject: Attrs, actor: str) -> Issued:
    """A certificate of ``profile`` for a key the CA service generates (in the service token)."""
    rec = admin.ca.issue(ca_name=ca_name, profile_name=profile, actor=actor, generate=key_type, subject=subject)
    assert rec.key_uri is not None  # a generated key always has its URI
    return Issued(rec, tuple(c.certificate_der for c in admin.ca.chain(ca_name)))


def issue_seal_certificate(admin: Admin, code: str, ca_name: str, key_type: KeyType, actor: str,
                           note: str = "") -> Issued:
    """An e-seal certificate (profile eseal) for agency ``code``, not registered as its seal."""
    return issue_generated(admin, ca_name, "eseal", key_type, seal_subject(admin.registry.get_agency(code), note), actor)


def issue_seal(admin: Admin, code: str, ca_name: str | None, key_type: KeyType, actor: str) -> tuple[Any, Issued]:
    """An e-seal for agency ``code``: key generated in the service token, certificate, registered as
    the agency's seal: (seal, issued). No ``ca_name``: the active issuing CA."""
    ca_name = ca_name or default_issuing_ca(admin)
    issued = issue_seal_certificate(admin, code, ca_name, key_type, actor)
    rec = issued.record
    seal = admin.registry.add_seal(code, ca_name, rec.serial_hex, rec.key_uri, rec.der, issued.chain,
                                   rec.not_after, admin.now())
    return seal, issued


def set_up_tsa(admin: Admin, ca_name: str | None, key_type: KeyType, actor: str) -> Issued:
    """The TSA certificate (profile tsa: EKU timeStamping only, critical; RFC 3161 2.3), key in the
    service token, registered as the current TSA unit. No ``ca_name``: the active issuing CA."""
    ca_name = ca_name or default_issuing_ca(admin)
    issued = issue_generated(admin, ca_name, "tsa", key_type, tsa_subject(admin.ca.get_ca(ca_name)), actor)
    rec = issued.record
    admin.registry.add_tsa(ca_name, rec.serial_hex, rec.key_uri, rec.der, issued.chain, rec.not_after, admin.now())
    return issued
