"""`govca ca rollover`: a successor takes over issuance from an active issuing CA.

Under a parent whose key is here the successor is certified at once, gets its own OCSP
responder when the old CA had one (RFC 6960 4.2.2.2: a delegated responder is issued by the CA
whose certificates it answers for), and the old CA becomes retiring. Under an external parent
(the national root, an offline root) the successor is a pending CA whose request goes to that
parent; the old CA stays active until `govca ca import-certificate` installs the successor's
certificate (that import marks it retiring). A retiring CA keeps its CRLs, OCSP responder and
repository entries until its last certificate expires (ca/records.py CaState)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hsm import HsmError, KeyType
from policies import NameSyntaxError, name_attributes, parse_slash_subject

from .context import Admin
from .errors import BadValueError, WorkflowError


@dataclass(frozen=True)
class RolledOver:
    old: Any                 # ca.records.CaRecord as it is now: retiring, or still active while NEW is pending
    new: Any                 # ca.records.CaRecord (certified here) or PendingCaRecord (waits for the parent)
    request_der: bytes | None = None   # the PKCS#10 request for an external parent
    responder: Any = None    # ca.responders.ResponderInfo of NEW, when OLD had a responder
    presigned: int = 0       # OCSP responses pre-signed for NEW (and for NEW's own certificate)

    @property
    def pending(self) -> bool:
        return self.request_der is not None


def roll_over(admin: Admin, old_name: str, new_name: str, *, actor: str, key_type: KeyType | None = None,
              subject: str | None = None, validity_days: int | None = None, request: bool = False) -> RolledOver:
    """Roll ``old_name`` over to ``new_name``. ``request``: the caller will write a request file,
    which an external parent needs and a parent here does not take. Refusals change nothing and
    are audited as ``ca.rollover``."""
    from ca import rollover as ca_rollover
    from ca.errors import CaError

    svc = admin.ca
    try:
        plan = ca_rollover.plan(svc.ctx, old_name, new_name)
        if plan.parent_is_external and not request:
            raise BadValueError(f"the parent of {old_name}, {plan.parent.name}, is external (its key is not here): "
                                f"give --csr-out FILE for {new_name}'s request to it")
        if request and not plan.parent_is_external:
            raise BadValueError(f"the parent of {old_name}, {plan.parent.name}, is in this data directory: it "
                                "certifies the successor at once, there is no request (--csr-out) to write")
        if validity_days is not None and plan.parent_is_external:
            raise BadValueError("the external parent decides the successor's validity: --validity-years does not apply")
        attrs = parse_slash_subject(subject) if subject else name_attributes(plan.old.certificate.subject)
        key = key_type or KeyType.parse(plan.old.key_type)
        old_responder = None if plan.parent_is_external else next(
            (r for r in svc.ocsp_responders() if r.ca_name == old_name), None)
        # Log in now to the tokens the keys go to (the successor's: CA token; its responder's:
        # service token), so an unreadable PIN source fails here and changes nothing.
        svc.ctx.open_ca_token()
        if old_responder is not None:
            admin.service_keys.open()
    except (CaError, HsmError, WorkflowError, NameSyntaxError, ValueError) as exc:
        admin.audit(actor, ca_rollover.ACTION, old_name, "refused", {"successor": new_name, "error": str(exc)})
        raise
    if plan.parent_is_external:
        return _request_successor(admin, plan, new_name, attrs, key, actor)
    return _certify_successor(admin, plan, new_name, attrs, key, validity_days, old_responder, actor)


def _request_successor(admin: Admin, plan: Any, new_name: str, attrs: tuple, key: KeyType,
                       actor: str) -> RolledOver:
    """The external parent certifies the successor later; OLD stays active until then."""
    from ca.errors import CaError
    from ca.rollover import ACTION

    old = plan.old
    try:
        pending, der = admin.ca.request_issuing(name=new_name, subject=attrs, key_type=key, actor=actor,
                                                successor_of=old.name)
    except (CaError, HsmError, NameSyntaxError) as exc:
        admin.audit(actor, ACTION, old.name, "failed", {"successor": new_name, "error": str(exc)})
        raise
    admin.audit(actor, ACTION, old.name, "success", {"successor": new_name, "parent": plan.parent.name,
                                                      "key_type": key.value, "pending": True,
                                                      "state": old.state.value})
    return RolledOver(old=old, new=pending, request_der=der)


def _certify_successor(admin: Admin, plan: Any, new_name: str, attrs: tuple, key: KeyType,
                       validity_days: int | None, old_responder: Any, actor: str) -> RolledOver:
    """The parent is here: NEW certified, OLD retiring (one audited transaction), NEW's responder."""
    from ca import rollover as ca_rollover
    from ca.errors import CaError

    old, svc = plan.old, admin.ca
    try:
        new = svc.create_issuing(name=new_name, parent=plan.parent.name, subject=attrs, key_type=key, actor=actor,
                                 validity_days=validity_days)
    except (CaError, HsmError, NameSyntaxError) as exc:
        # Nothing of the rollover happened: OLD is still the active CA.
        admin.audit(actor, ca_rollover.ACTION, old.name, "failed", {"successor": new_name, "error": str(exc)})
        raise
    details = {"parent": plan.parent.name, "key_type": key.value, "old_serial": old.serial_hex,
               "new_serial": new.serial_hex, "responder": old_responder is not None}
    try:
        retired = ca_rollover.retire(svc.ctx, old.name, new_name, actor, details)
    except CaError as exc:
        admin.audit(actor, ca_rollover.ACTION, old.name, "failed", {"successor": new_name, "error": str(exc)})
        raise WorkflowError(f"{exc}; {new_name} was created and is active") from exc
    if old_responder is None:
        return RolledOver(old=retired, new=new, presigned=_presign(admin, new))
    responder_key = _responder_key_type(admin, old.name, old_responder.serial_hex)
    try:
        info = svc.setup_ocsp_responder(new_name, actor, responder_key)
    except (CaError, HsmError) as exc:
        raise WorkflowError(f"{old.name} is retiring and {new_name} is active, but {new_name}'s OCSP responder was "
                            f"not issued ({exc}): run `govca ocsp setup --ca {new_name}`") from exc
    return RolledOver(old=retired, new=new, responder=info, presigned=_presign(admin, new))


def _responder_key_type(admin: Admin, ca_name: str, serial_hex: str) -> KeyType:
    """NEW's responder key is of the type of OLD's (an administrator chose it for OLD)."""
    from ca.external import key_type_of

    cert = admin.ca.get_certificate(ca_name, serial_hex).certificate
    try:
        return KeyType.parse(key_type_of(cert.public_key()))
    except ValueError:
        return KeyType.EC_P256  # `govca ocsp setup`'s default


def _presign(admin: Admin, new: Any) -> int:
    """Pre-sign the responses of NEW's certificates (its responder's) and of NEW's own certificate
    under its parent (when the parent has a responder), so the first requests are answered from
    the store (RFC 5019 pre-production); the other CAs' responses are left to `ocsp refresh`."""
    responder = admin.responder()  # built now: it sees NEW's responder
    count = responder.presign(new.parent_name, new.serial_hex)
    for cert in admin.ca.list_certificates(new.name):
        count += responder.presign(new.name, cert.serial_hex)
    return count
