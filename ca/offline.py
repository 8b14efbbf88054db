"""What passes between an offline root and the online CA (issue 12, docs/ceremony.md).

On the offline root's side, in a key ceremony: the root certifies an issuing CA from its PKCS#10
request (RFC 2986), to the issuing-CA profile. The certificate is stored under the root like any
certificate it issued, so that it can be revoked and listed on the root's ARL.

On the online side: `govca crl import` stores the ARL the offline root signed, after the RFC 5280
6.3.3 checks of ca/external_crl.py, so that /crl/<root>.crl serves it. Only a CA whose key is not
here (an external CA) has its CRL imported: a CA whose key is here signs its own.
"""
from __future__ import annotations

import hashlib

from .audit import AuditEvent, append
from .context import CaContext
from .csr import load_csr
from .errors import CaError, CaStateError
from .external_crl import check_crl, store_crl
from .issuance import Issuance, subject_from_csr
from .records import CertificateRecord, CrlRecord
from .storage.repositories import CaRepository

# No OCSP URL: nothing online can answer for a certificate of the offline root (RFC 6960 4.2.2.2).
ISSUING_PROFILE = "issuing-ca-offline-root"


def certify_request(ctx: CaContext, *, root_name: str, request: bytes, actor: str,
                    validity_days: int | None = None) -> CertificateRecord:
    """The root ``root_name`` certifies the issuing CA whose PKCS#10 request is ``request`` (PEM or
    DER). Proof of possession (RFC 2986 3), the key type and subject are checked against the
    issuing-CA profile, and the certificate is linted before the HSM signs it (ca/issuance.py)."""
    action = "ca.certify-request"
    issuance = Issuance(ctx)
    profile = ctx.profiles.get(ISSUING_PROFILE)
    try:
        with ctx.db.reader() as s:
            issuer = CaRepository(s).get(root_name)
        if not issuer.is_root:
            raise CaStateError(f"CA {root_name} is not a root: only a root certifies an issuing CA from a request "
                               "(RFC 5280 4.2.1.9, pathLenConstraint 0 under an issuing CA)")
        subject = subject_from_csr(load_csr(request), None)
    except CaError as exc:
        ctx.audit(AuditEvent(actor, action, root_name, "refused",
                             {"error": str(exc), "request_sha256": hashlib.sha256(request).hexdigest()}))
        raise
    issuance.precheck(issuer, profile, subject, actor, action)
    issued = issuance.issue(issuer=issuer, profile=profile, subject=subject, actor=actor,
                            validity_days=validity_days, action=action)
    assert issued.record is not None
    return issued.record


def import_crl(ctx: CaContext, *, ca_name: str, data: bytes, actor: str) -> tuple[CrlRecord, bool]:
    """Store ``data`` as the newest CRL of the external CA ``ca_name`` (an offline root's ARL):
    (the newest CRL held, whether it was stored now). Refused, changing nothing but the audit log,
    for a CA whose key is here, or a CRL that fails RFC 5280 6.3.3 or is older than the one held
    (5.2.3)."""
    action = "crl.import"
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        with ctx.db.unit_of_work() as s:
            ca = CaRepository(s).get(ca_name)
            if ca.holds_key:
                raise CaStateError(f"CA {ca_name}'s key is in this data directory: it signs its own CRLs "
                                   f"(`govca crl generate --ca {ca_name}`); only an external CA's CRL is imported")
            now = ctx.clock()
            checked = check_crl(data, ca, now)
            record, stored = store_crl(s, ca, checked)
            append(s, AuditEvent(actor, action, ca_name, "success", {
                "crl_number": checked.crl_number, "sha256": sha256, "entries": checked.entries,
                "stored": stored}), now)
    except CaError as exc:
        ctx.audit(AuditEvent(actor, action, ca_name, "refused", {"error": str(exc), "sha256": sha256}))
        raise
    return record, stored
