"""Officials who sign remotely (ขมธอ. 36-2566): added, enrolled (key in the service token, person
certificate, PIN record, TOTP seed), suspended, resumed, revoked in the order that keeps a
credential from authorising once the administrator has decided, and unlocked.

No workflow here can make a signature with an official's key (SRA_SKM.11/14): that takes the
official's PIN and current TOTP, through the CSC API.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from hsm import KeyType
from signer.remote.officials import LockState, OfficialStatus, otpauth_uri

from .agencies import Issued, issue_generated
from .context import Admin, utc_text
from .errors import BadValueError, WrongStateError
from .hierarchy import default_issuing_ca
from .revocation import Revoked, revoke_certificate

PIN_RULE = re.compile(r"[0-9]{6,12}")


def add_official(admin: Admin, code: str, names: tuple[str, str, str, str], title: str, id_number: str | None,
                 actor: str) -> Any:
    """Register an official of agency ``code`` (given name and surname in Thai, then in English;
    the citizen id, checked by the caller, is kept in the database only: PDPA); audited."""
    given_th, surname_th, given_en, surname_en = (n.strip() for n in names)
    o = admin.officials.add(code, given_th, surname_th, given_en, surname_en, title.strip(), id_number, admin.now())
    admin.audit(actor, "official.add", f"official:{o.id}", "success", {"agency": code})
    return o


@dataclass(frozen=True)
class Enrolment:
    issued: Issued
    otpauth_uri: str    # the TOTP seed, for the official's authenticator app: shown once


def enrol_official(admin: Admin, official_id: int, ca_name: str | None, key_type: KeyType,
                   pin: Callable[[], str], actor: str) -> Enrolment:
    """One key per official (SRG_KM.11), generated in the service token; the person certificate
    (EN 319 412-2); the PIN kept as an HMAC made in the HSM; a fresh TOTP seed (RFC 6238).
    ``pin`` is asked for only once the official is known to be enrollable."""
    official = admin.officials.get(official_id)
    if official.key_uri is not None:
        raise WrongStateError(f"official {official_id} is already enrolled: one key per official "
                              "(ขมธอ. 36-2566 SRG_KM.11)")
    new_pin = pin()
    if not PIN_RULE.fullmatch(new_pin):
        raise BadValueError("the PIN must be 6 to 12 digits")
    ca_name = ca_name or default_issuing_ca(admin)
    agency = admin.registry.get_agency(official.agency_code)
    issued = issue_generated(admin, ca_name, "person", key_type, official.subject(agency.name_en), actor)
    rec = issued.record
    seed = admin.officials.enrol(official_id, ca_name, rec.serial_hex, rec.key_uri, rec.der, issued.chain, new_pin)
    admin.audit(actor, "official.enrol", f"official:{official_id}", "success",
                {"certificate": rec.serial_hex, "ca": ca_name, "key_uri": rec.key_uri})
    return Enrolment(issued, otpauth_uri(seed, admin.officials.get(official_id)))


STATUS_ACTIONS = {OfficialStatus.SUSPENDED: "official.suspend", OfficialStatus.ACTIVE: "official.resume"}


def set_official_status(admin: Admin, official_id: int, status: OfficialStatus, actor: str) -> Any:
    """Suspend (the credential can no longer be authorised) or resume an official; audited."""
    o = admin.officials.set_status(official_id, status)
    admin.audit(actor, STATUS_ACTIONS[status], f"official:{official_id}", "success", {})
    return o


@dataclass(frozen=True)
class OfficialRevoked:
    official_id: int
    cert_serial: str
    revoked: Revoked | None   # None: the certificate was already revoked (by `govca cert revoke`)


def revoke_official(admin: Admin, official_id: int, reason: str, actor: str) -> OfficialRevoked:
    """The credential first, then the certificate (RFC 5280 5.3.1 reason; CRL and OCSP at once):
    from the first step on the credential cannot authorise, whatever happens next, and a run
    interrupted before the certificate is revoked is completed by running it again."""
    official = admin.officials.get(official_id)
    if official.ca_name is None or official.cert_serial is None:
        raise WrongStateError(f"official {official_id} has no certificate (not enrolled)")
    cert_revoked = admin.ca.get_certificate(official.ca_name, official.cert_serial).revoked_at is not None
    if official.status is OfficialStatus.REVOKED and cert_revoked:
        raise WrongStateError(f"official {official_id} is already revoked")
    if official.status is not OfficialStatus.REVOKED:
        admin.officials.set_status(official_id, OfficialStatus.REVOKED)
    revoked = None if cert_revoked else revoke_certificate(admin, official.ca_name, official.cert_serial, reason,
                                                           actor)
    admin.audit(actor, "official.revoke", f"official:{official_id}", "success",
                {"certificate": official.cert_serial, "reason": reason})
    return OfficialRevoked(official_id, official.cert_serial, revoked)


def unlock_official(admin: Admin, official_id: int, actor: str) -> LockState:
    """Lift the lock wrong PINs or OTPs put on a credential (the PIN and seed neither shown nor
    changed); audited with the state before. Returns that state."""
    previous = admin.officials.unlock(official_id, admin.now())
    admin.audit(actor, "official.unlock", f"official:{official_id}", "success",
                {"official": official_id, "previous_locked_until": utc_text(previous.locked_until),
                 "previous_failed_attempts": previous.failed_attempts})
    return previous


def officials_and_locks(admin: Admin) -> list[tuple[Any, LockState | None]]:
    """Every official with the lock wrong PINs or OTPs put on their credential (read only)."""
    locks = admin.officials.lock_states(admin.now())
    return [(o, locks.get(o.id)) for o in admin.officials.list()]
