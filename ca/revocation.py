"""Revocation (RFC 5280 5.3.1 reasons) and CRL generation (RFC 5280 5.1, monotonic cRLNumber 5.2.3)."""
from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import delete

from hsm import as_cryptography_key
from policies import blocking
from policies.lint import lint_crl

from .audit import AuditEvent, append
from .builders import REASONS, RevokedEntry, build_crl, hash_for_key, ski_of
from .context import CaContext
from .errors import AlreadyRevokedError, CaError, CaStateError, RevocationError
from .records import CertificateRecord, CertStatus, CrlRecord, normalise_serial
from .storage.models import OcspResponseRow
from .storage.repositories import CaRepository, CertificateRepository, CrlRepository

# certificateHold is refused: govca never un-revokes, and RFC 5280 5.3.1 removeFromCRL is for delta CRLs only.
ALLOWED_REASONS = tuple(r for r in REASONS if r != "certificateHold")


class Revocation:
    def __init__(self, ctx: CaContext) -> None:
        self.ctx = ctx

    def revoke(self, ca_name: str, serial: str, reason: str, actor: str,
               invalidity_date: dt.datetime | None = None) -> tuple[CertificateRecord, CrlRecord]:
        """Mark revoked and audit, then publish a fresh CRL at once."""
        ctx = self.ctx
        ctx.open_ca_token()  # the fresh CRL needs the CA key: fail before the revocation is marked
        shown = f"{ca_name}:{serial}"
        try:
            if reason not in ALLOWED_REASONS:
                raise RevocationError(f"unknown revocation reason {reason!r}; use one of {', '.join(ALLOWED_REASONS)} "
                                      "(RFC 5280 5.3.1)")
            serial_hex = normalise_serial(serial)
            shown = f"{ca_name}:{serial_hex}"
            now = ctx.clock()
            if invalidity_date is not None and invalidity_date > now:
                raise RevocationError("the invalidity date lies in the future (RFC 5280 5.3.2)")
            with ctx.db.unit_of_work() as s:
                ca = CaRepository(s).get(ca_name)
                certs = CertificateRepository(s)
                current = certs.get(ca, serial_hex, lock=True)
                if current.status is CertStatus.REVOKED:
                    raise AlreadyRevokedError(f"certificate {serial_hex} of CA {ca_name} is already revoked "
                                              f"({current.revocation_reason}, {current.revoked_at:%Y-%m-%d %H:%M:%S}Z)")
                record = certs.revoke(ca, serial_hex, reason, now.replace(microsecond=0), invalidity_date)
                # No pre-signed "good" may outlive the revocation: the responder signs afresh
                # until the composition root re-signs this certificate's responses.
                s.execute(delete(OcspResponseRow).where(OcspResponseRow.ca_id == ca.id,
                                                        OcspResponseRow.serial_hex == serial_hex))
                append(s, AuditEvent(actor, "cert.revoke", record.subject, "success",
                                     {"ca": ca_name, "serial": serial_hex, "reason": reason}), now)
        except (CaError, ValueError) as exc:
            ctx.audit(AuditEvent(actor, "cert.revoke", shown, "refused", {"error": str(exc)}))
            if isinstance(exc, ValueError):
                raise RevocationError(str(exc)) from None
            raise
        return record, self.generate_crl(ca_name, actor)

    def generate_crl(self, ca_name: str, actor: str) -> CrlRecord:
        ctx = self.ctx
        ctx.open_ca_token()  # before a cRLNumber is taken
        now = ctx.clock()
        try:
            # The number and the entries are read under the CA row lock, so a higher cRLNumber
            # always lists at least the revocations of a lower one.
            with ctx.db.unit_of_work() as s:
                ca = CaRepository(s).get(ca_name)
                if not ca.holds_key:
                    raise CaStateError(f"CA {ca_name} is external: its key is not here, so govca cannot sign its "
                                       f"CRL; import the one it publishes with `govca crl import --ca {ca_name} FILE` "
                                       "(or `govca ca refresh-parent`)")
                number = CaRepository(s).next_crl_number(ca_name)
                rows = CertificateRepository(s).revoked_entries(ca)
        except CaError as exc:
            ctx.audit(AuditEvent(actor, "crl.generate", ca_name, "refused", {"error": str(exc)}))
            raise
        cert = ca.certificate
        entries = [RevokedEntry(int(sh, 16), at, reason, inv) for sh, at, reason, inv in rows]
        builder = build_crl(profile=ctx.profiles.crl, issuer_subject=cert.subject, issuer_ski=ski_of(cert),
                            crl_number=number, now=now, entries=entries, is_root=ca.is_root)
        key = ctx.keys.get_key(ca.key_uri)
        crl = builder.sign(as_cryptography_key(key), hash_for_key(key.public_key))
        der = crl.public_bytes(Encoding.DER)
        if not crl.is_signature_valid(cert.public_key()):
            raise CaError("the HSM produced a CRL signature that does not verify")
        if ctx.lint:
            bad = blocking(lint_crl(der, is_arl=ca.is_root))
            if bad:
                ctx.audit(AuditEvent(actor, "crl.generate", ca_name, "refused",
                                     {"crl_number": number, "findings": [str(f) for f in bad]}))
                raise CaError(f"CRL refused by {bad[0].code}: {bad[0].message}")
        with ctx.db.unit_of_work() as s:
            record = CrlRepository(s).add(ca, number, crl.last_update_utc, crl.next_update_utc, der)
            append(s, AuditEvent(actor, "crl.generate", ca_name, "success",
                                 {"crl_number": number, "entries": len(entries)}), ctx.clock())
        return record
