"""Revocation (RFC 5280 5.3.1 reasons) and CRL generation (RFC 5280 5.1, monotonic cRLNumber 5.2.3)."""
from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from sqlalchemy import delete

from hsm import as_cryptography_key
from hsm.mechanisms import default_mechanism
from policies import blocking
from policies.lint import lint_crl

from .audit import AuditEvent, append
from .builders import REASONS, ski_of
from .context import CaContext
from .crl_checks import EntryChecks, sign_tbs, verify_tbs
from .crl_der import FULL, Scope, assemble, build_tbs, entries_of, may_list
from .issuance import _throwaway_key
from .partitions import NAME as PARTITION_NAME
from .partitions import partition_url
from .errors import AlreadyRevokedError, CaError, CaStateError, RevocationError
from .records import CertificateRecord, CertStatus, CrlRecord, normalise_serial
from .storage.models import OcspResponseRow
from .storage.repositories import CaRepository, CertificateRepository, CrlRepository

# CRLs kept per (CA, scope): the newest few (a fetch racing a publication still finds the one
# before); the audit log records every publication's number and SHA-256.
KEEP_CRLS = 3

# certificateHold is refused: govca never un-revokes, and RFC 5280 5.3.1 removeFromCRL is for delta CRLs only.
ALLOWED_REASONS = tuple(r for r in REASONS if r != "certificateHold")


class Revocation:
    def __init__(self, ctx: CaContext) -> None:
        self.ctx = ctx

    def revoke(self, ca_name: str, serial: str, reason: str, actor: str,
               invalidity_date: dt.datetime | None = None) -> tuple[CertificateRecord, CrlRecord]:
        """Mark revoked, drop its pre-signed OCSP answers and audit, then publish at once the one
        CRL its CRL DP names (its partition, or the full CRL): the cost follows the partition's
        size, not the CA's history."""
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
                partition = certs.crl_partition(ca, serial_hex)
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
        # Only the CRL the certificate's CRL DP names: its partition, or the full CRL for a
        # certificate issued before partitions (or a CA certificate, on the root's ARL).
        return record, self.publish(ca_name, actor, partition, added=serial_hex)

    def generate_crl(self, ca_name: str, actor: str) -> CrlRecord:
        """The CA's full CRL (or the root's ARL): every revoked certificate, no IDP."""
        return self.publish(ca_name, actor, None)

    def ensure_partition(self, ca_name: str, partition: str, actor: str) -> CrlRecord | None:
        """Publish a partition's first (empty) CRL when it has none yet, so the CRL DP of the
        certificate just issued resolves. A failure is audited by ``publish`` and left to the
        schedule (`govca crl publish`): the certificate is issued and stored either way."""
        with self.ctx.db.reader() as s:
            if CrlRepository(s).latest(CaRepository(s).get(ca_name), partition) is not None:
                return None
        try:
            return self.publish(ca_name, actor, partition)
        except CaError:
            return None  # audited by publish
        except Exception as exc:  # noqa: BLE001 - e.g. the token: the certificate is stored, say so and go on
            self.ctx.audit(AuditEvent(actor, "crl.publish", f"{ca_name}/{partition}", "failed",
                                      {"error": f"{type(exc).__name__}: {exc}"}))
            return None

    @staticmethod
    def _previous_entries(s, ca, partition: str | None, added: str | None):  # type: ignore[no-untyped-def]
        """For a revocation (``added``): the entries of the scope's newest CRL as DER and how many,
        when that CRL lists every revoked certificate of the scope but the one just revoked (its
        count is one less, read under the CA row lock, and the new serial is not in it); else
        (None, 0) and the scope is re-read whole. Each old entry was checked when first published;
        the schedule (`govca crl publish`) re-reads and re-checks every scope in full."""
        if added is None:
            return None, 0
        previous = CrlRepository(s).latest(ca, partition)
        if previous is None:
            return None, 0
        encoded, count = entries_of(bytes(previous.der))
        if (CertificateRepository(s).count_revoked(ca, partition) != count + 1
                or may_list(encoded, int(added, 16))):
            return None, 0
        return encoded, count

    def publish(self, ca_name: str, actor: str, partition: str | None, added: str | None = None) -> CrlRecord:
        """Publish one CRL scope: the full CRL (``partition`` None) or one partition (RFC 5280
        5.2.5 IDP, critical). The DER is written by ca/crl_der.py from rows streamed under the CA
        row lock (a higher cRLNumber, shared by every scope of the CA, always lists at least the
        revocations of a lower one: 5.2.3), checked entry by entry (ca/crl_checks.py), linted by
        pkilint on a bounded sample, signed in the HSM and verified before it is stored."""
        ctx = self.ctx
        ctx.open_ca_token()  # before a cRLNumber is taken
        now = ctx.clock().replace(microsecond=0)
        action = "crl.generate" if partition is None else "crl.publish"
        shown = ca_name if partition is None else f"{ca_name}/{partition}"
        profile = ctx.profiles.crl
        try:
            if partition is not None and not PARTITION_NAME.match(partition):
                raise CaError(f"bad CRL partition name {partition!r} (YYYYMMDD)")
            with ctx.db.unit_of_work() as s:
                ca = CaRepository(s).get(ca_name)
                if not ca.holds_key:
                    raise CaStateError(f"CA {ca_name} is external: its key is not here, so govca cannot sign its "
                                       f"CRL; import the one it publishes with `govca crl import --ca {ca_name} FILE` "
                                       "(or `govca ca refresh-parent`)")
                if partition is not None and ca.is_root:
                    raise CaError(f"CA {ca_name} is a root: its ARL is not partitioned")
                number = CaRepository(s).next_crl_number(ca_name)
                key = ctx.keys.get_key(ca.key_uri)
                mechanism = default_mechanism(key.public_key)
                cert = ca.certificate
                days = (profile.ca_next_update_days if ca.is_root else profile.end_entity_next_update_days).value
                scope = FULL if partition is None else Scope(partition_url(ctx.settings.base_url, ca_name, partition))
                header = dict(issuer_der=cert.subject.public_bytes(), issuer_ski=ski_of(cert), crl_number=number,
                              this_update=now, next_update=now + dt.timedelta(days=days), scope=scope,
                              mechanism=mechanism, omit_unspecified=profile.reason_code.omit_unspecified)
                checks = EntryChecks(now.replace(tzinfo=None), partition)  # the rows' times are naive UTC
                certs = CertificateRepository(s)
                encoded, listed = self._previous_entries(s, ca, partition, added)  # listed: how many
                raw = certs.stream_revoked(ca, partition, added if encoded is not None else None)
                try:
                    tbs = build_tbs(entries=checks.stream(raw), encoded=encoded or b"", **header)
                finally:
                    raw.close()  # a refused entry leaves the cursor open: close it inside the transaction
                if encoded is not None and (checks.count != 1 or checks.head[0].serial != int(added, 16)):
                    raise CaError(f"certificate {added} is not the one entry the {shown} CRL lacks")
                entries = checks.count + listed
        except CaError as exc:
            ctx.audit(AuditEvent(actor, action, shown, "refused", {"error": str(exc)}))
            raise
        if ctx.lint:
            # pkilint on the same header and extensions with a bounded sample of the entries,
            # signed with a throwaway key (as issuance lints a throwaway-signed copy).
            sample_tbs = build_tbs(entries=checks.sample(), **header)
            copy = assemble(sample_tbs, mechanism, sign_tbs(_throwaway_key(key.key_type.value), mechanism, sample_tbs))
            bad = blocking(lint_crl(copy, is_arl=ca.is_root))
            if bad:
                ctx.audit(AuditEvent(actor, action, shown, "refused",
                                     {"crl_number": number, "findings": [str(f) for f in bad]}))
                raise CaError(f"CRL refused by {bad[0].code}: {bad[0].message}")
        signature = sign_tbs(as_cryptography_key(key), mechanism, tbs)
        der = assemble(tbs, mechanism, signature)
        crl = x509.load_der_x509_crl(der)  # it parses, and the signature over these TBS bytes verifies
        if not verify_tbs(cert.public_key(), mechanism, tbs, signature):
            raise CaError("the HSM produced a CRL signature that does not verify")
        with ctx.db.unit_of_work() as s:
            crls = CrlRepository(s)
            record = crls.add(ca, number, crl.last_update_utc, crl.next_update_utc, der, partition)
            crls.prune(ca, partition, KEEP_CRLS)
            append(s, AuditEvent(actor, action, shown, "success",
                                 {"crl_number": number, "entries": entries, "partition": partition,
                                  "sha256": hashlib.sha256(der).hexdigest()}), ctx.clock())
        return record

    def publish_all(self, ca_name: str, actor: str, max_age: dt.timedelta | None = None) -> list[tuple[str | None, CrlRecord]]:
        """The full CRL and every partition named by an unexpired certificate or whose newest CRL
        is still within its nextUpdate; with ``max_age``, skip those published more recently."""
        now = self.ctx.clock()
        with self.ctx.db.reader() as s:
            ca = CaRepository(s).get(ca_name)
            scopes = CrlRepository(s).scopes(ca)
            wanted: set[str | None] = {None}
            if not ca.is_root:
                wanted |= set(CertificateRepository(s).live_partitions(ca, now))
                wanted |= {p for p, (_, next_update) in scopes.items() if p is not None and next_update > now}
        done, refused = [], []
        for partition in sorted(wanted, key=lambda p: (p is not None, p or "")):
            newest = scopes.get(partition)
            if max_age is not None and newest is not None and now - newest[0] < max_age:
                continue
            try:
                done.append((partition, self.publish(ca_name, actor, partition)))
            except CaError as exc:  # audited by publish; the other scopes are still published
                refused.append((partition, exc))
        if refused:
            partition, exc = refused[0]
            raise CaError(f"{len(refused)} of {len(refused) + len(done)} CRLs of CA {ca_name} refused; first "
                          f"({partition or 'full CRL'}): {exc}")
        return done
