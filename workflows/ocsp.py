"""OCSP responders and pre-signed responses (RFC 6960, RFC 5019 pre-production of responses)."""
from __future__ import annotations

from dataclasses import dataclass

from hsm import KeyType

from .context import Admin
from .hierarchy import default_issuing_ca


@dataclass(frozen=True)
class ResponderSetUp:
    info: object        # ca.responders.ResponderInfo
    presigned: int      # responses (re-)signed afterwards


def resign(admin: Admin, ca_name: str, serial_hex: str) -> int:
    """Re-sign one certificate's pre-signed responses now (after a revocation: RFC 6960 allows no
    stale "good" to be served once the certificate is revoked)."""
    return admin.responder().presign(ca_name, serial_hex)


def refresh_responses(admin: Admin, force: bool = False) -> int:
    """Re-sign the pre-signed responses older than ocsp.refresh_after_hours (every one with force)."""
    return admin.responder().refresh(force=force)


def set_up_responder(admin: Admin, ca_name: str | None, key_type: KeyType, actor: str) -> ResponderSetUp:
    """A delegated responder certificate for CA (RFC 6960 4.2.2.2; key generated in the service
    token), then every response of the CA's certificates pre-signed with it. No ``ca_name``: the
    active issuing CA."""
    ca_name = ca_name or default_issuing_ca(admin)
    info = admin.ca.setup_ocsp_responder(ca_name, actor, key_type)
    return ResponderSetUp(info, refresh_responses(admin, force=True))


def renew_responders(admin: Admin, within_days: int, force: bool, actor: str) -> tuple[list, int]:
    """Renew the responder certificates that expire within ``within_days`` (every one with force)
    and re-sign the responses with the new ones: (renewed responders, responses re-signed)."""
    renewed = admin.ca.renew_ocsp_responders(actor, within_days, force)
    return renewed, (refresh_responses(admin, force=True) if renewed else 0)
