"""Issuance, in Boulder's order (ca/ca.go): a serial is never reused, whatever step fails.

  1. reserve the serial (committed)
  2. lint a copy signed with a throwaway key: pkilint PKIX (+ ETSI for person/e-seal) and our profile checks
  3. record the intent (TBS hash) and audit it
  4. sign the same TBS in the HSM, and check the result
  5. store the certificate and audit; on failure record the serial as burned, with the certificate if signed
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hsm import KeyType, as_cryptography_key
from policies import (CertificateProfile, NameSyntaxError, ProfileKind, blocking, build_name, check_certificate,
                      check_key_type, check_subject, format_attrs, format_name, name_attributes)
from policies.lint import lint_certificate, relax_for_loopback

from .audit import AuditEvent, append
from .builders import IssuerInfo, build_certificate, hash_for_key, ski_of
from .context import CaContext
from .errors import CaError, CaStateError, CsrError, IssuanceRefusedError
from .partitions import is_partitioned, partition_of
from .records import CaRecord, CaState, CertificateRecord, SerialState, serial_to_hex
from .storage.repositories import CertificateRepository, SerialRepository

# Which profiles an issuer of a given kind may issue (RFC 5280 4.2.1.9: an issuing CA has
# pathLenConstraint 0, so it issues end-entity certificates only).
ISSUABLE = {
    ProfileKind.ROOT_CA: {ProfileKind.ISSUING_CA, ProfileKind.OCSP},
    ProfileKind.ISSUING_CA: {ProfileKind.PERSON, ProfileKind.ESEAL, ProfileKind.OCSP, ProfileKind.TSA},
}


@functools.lru_cache(maxsize=None)
def _throwaway_key(key_type: str) -> Any:
    """A software key that signs only the lint copy, never anything published."""
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(65537, int(key_type[3:]))
    return ec.generate_private_key({"ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1()}[key_type])


def new_serial() -> int:
    """RFC 5280 4.1.2.2: positive, at most 20 octets; 127 bits from the CSPRNG, top bit set for a fixed length."""
    return secrets.randbits(127) | (1 << 126)


@dataclass(frozen=True)
class Subject:
    """A subject to certify: its name attributes and either a public key or an HSM key to generate."""

    attrs: tuple[tuple[str, str], ...]
    public_key: Any = None
    generate: KeyType | None = None


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    serial_hex: str
    key_uri: str | None
    record: CertificateRecord | None  # None for a self-signed root (it is stored as a CA only)


def subject_from_csr(csr: x509.CertificateSigningRequest, override: tuple[tuple[str, str], ...] | None) -> Subject:
    attrs = override if override is not None else name_attributes(csr.subject)
    unknown = [k for k, _ in attrs if k[0].isdigit()]
    if unknown:
        raise CsrError(f"the CSR subject has attributes govca does not issue: {', '.join(unknown)}")
    return Subject(attrs=attrs, public_key=csr.public_key())


class Issuance:
    def __init__(self, ctx: CaContext) -> None:
        self.ctx = ctx

    def _refuse(self, actor: str, action: str, subject: str, exc: CaError, details: dict | None = None) -> None:
        self.ctx.audit(AuditEvent(actor, action, subject, "refused", {"error": str(exc), **(details or {})}))
        raise exc

    def precheck(self, issuer: CaRecord | None, profile: CertificateProfile, subject: Subject, actor: str,
                 action: str) -> None:
        """Checks that need no serial: issuer may issue this profile, key type, subject. Refusals are audited."""
        shown = format_attrs(subject.attrs)
        if issuer is not None:
            if issuer.state is CaState.EXTERNAL:
                self._refuse(actor, action, shown, CaStateError(
                    f"CA {issuer.name} is external: its key is not in this data directory's HSM, so it issues "
                    "nothing here"))
            if issuer.state is CaState.RETIRING and profile.kind is not ProfileKind.OCSP:
                # A retiring CA keeps answering OCSP for what it issued (RFC 6960 4.2.2.2: its
                # delegated responder must be issued by the CA itself), and issues nothing else.
                self._refuse(actor, action, shown, CaStateError(
                    f"CA {issuer.name} is retiring (rolled over): it issues nothing more; use its successor "
                    "(`govca ca list`)"))
            issuer_kind = self.ctx.profiles.get(issuer.profile).kind
            if profile.kind not in ISSUABLE.get(issuer_kind, set()):
                self._refuse(actor, action, shown, IssuanceRefusedError(
                    f"CA {issuer.name} ({issuer_kind.value}) may not issue {profile.name} certificates "
                    "(RFC 5280 4.2.1.9 path length; docs/profile.md hierarchy)"))
        elif profile.kind is not ProfileKind.ROOT_CA:
            self._refuse(actor, action, shown, IssuanceRefusedError(f"profile {profile.name} needs an issuing CA"))
        if subject.generate is not None:
            if subject.generate.value not in profile.key_types.values:
                self._refuse(actor, action, shown, IssuanceRefusedError(
                    f"{subject.generate.value} key not allowed by profile {profile.name} "
                    f"(allowed: {', '.join(profile.key_types.values)}; {profile.key_types.clause})"))
        else:
            findings = check_key_type(profile, subject.public_key)
            if findings:
                self._refuse(actor, action, shown, IssuanceRefusedError(findings[0].message, findings))
        findings = check_subject(profile, subject.attrs)
        try:
            build_name(subject.attrs)
        except NameSyntaxError as exc:
            self._refuse(actor, action, shown, IssuanceRefusedError(str(exc)))
        if findings:
            self._refuse(actor, action, shown, IssuanceRefusedError(
                "; ".join(f.message for f in findings), findings))

    def issue(self, *, issuer: CaRecord | None, profile: CertificateProfile, subject: Subject, actor: str,
              validity_days: int | None = None, action: str = "cert.issue",
              store_extra: Callable[[Session, x509.Certificate, str | None], None] | None = None) -> Issued:
        ctx = self.ctx
        ctx.open_ca_token()  # every issuance is a CA signature: fail here, before a serial is reserved
        now = ctx.clock()
        name = build_name(subject.attrs)
        shown = format_name(name)
        days = validity_days if validity_days is not None else profile.validity.default_days
        if not profile.validity.min_days <= days <= profile.validity.max_days:
            self._refuse(actor, action, shown, IssuanceRefusedError(
                f"validity of {days} days outside {profile.validity.min_days}-{profile.validity.max_days} "
                f"({profile.validity.clause})"))
        if issuer is not None and now + dt.timedelta(days=days) > issuer.not_after:
            self._refuse(actor, action, shown, IssuanceRefusedError(
                f"the certificate would outlive its issuer {issuer.name} (valid until {issuer.not_after:%Y-%m-%d}); "
                "RFC 5280 6.1.3 (a)(2) could not validate it near its end"))

        # Step 1: reserve the serial, committed before anything is signed.
        serial = self._reserve(issuer, profile, shown, now)
        serial_hex = serial_to_hex(serial)

        # Keys for HSM-generated subjects are made only after every cheap check passed.
        key_uri = None
        subject_key = subject.public_key
        if subject.generate is not None:
            # A key is generated in the token of its context: CA keys in the CA token, the keys
            # the running service uses (responders, TSA, seals, officials) in the service token.
            hsm_key = ctx.keys_for(profile.kind.is_ca).generate_key_pair(subject.generate,
                                                                         f"{profile.name}-{serial_hex}")
            key_uri, subject_key = str(hsm_key.uri), hsm_key.public_key
            self_key = hsm_key
        else:
            self_key = None
        if issuer is None:
            assert self_key is not None, "a root signs itself with its own HSM key"
            signing_key, issuer_info, issuer_cert = self_key, None, None
        else:
            signing_key = ctx.keys.get_key(issuer.key_uri)
            issuer_cert = issuer.certificate
            issuer_info = IssuerInfo(issuer.name, issuer_cert.subject, ski_of(issuer_cert), issuer.not_after)
        # RFC 5280 5.2.5: an end entity of an issuing CA names the CRL partition of its notAfter
        # window (ca/partitions.py); stored with the certificate, so it never moves.
        partition = None
        if issuer is not None and is_partitioned(profile, self.ctx.profiles.get(issuer.profile).kind):
            partition = partition_of(now.replace(microsecond=0) + dt.timedelta(days=days),
                                     ctx.profiles.crl.partition_days.value)
        builder = build_certificate(profile=profile, settings=ctx.settings, subject=name, public_key=subject_key,
                                    serial=serial, now=now, issuer=issuer_info, validity_days=days,
                                    crl_partition=partition)
        digest = hash_for_key(signing_key.public_key)

        # Step 2: lint a copy signed with a throwaway key of the issuer's type.
        lint_copy = builder.sign(_throwaway_key(signing_key.key_type.value), digest)
        findings = check_certificate(lint_copy, profile, ctx.settings)
        if ctx.lint:
            findings += relax_for_loopback(lint_certificate(lint_copy.public_bytes(Encoding.DER), profile.etsi_type),
                                           ctx.settings.base_url)
        bad = blocking(findings)
        if bad:
            with ctx.db.unit_of_work() as s:
                SerialRepository(s).set_state(serial_hex, SerialState.BURNED, ctx.clock(), reason="lint: " +
                                              "; ".join(f.code for f in bad))
                append(s, AuditEvent(actor, action, shown, "refused", {
                    "serial": serial_hex, "profile": profile.name, "findings": [str(f) for f in bad]}), ctx.clock())
            raise IssuanceRefusedError(f"issuance refused by {bad[0].code}: {bad[0].message}", bad)
        tbs_sha256 = hashlib.sha256(lint_copy.tbs_certificate_bytes).hexdigest()

        # Step 3: record what will be signed, and audit the intent.
        with ctx.db.unit_of_work() as s:
            SerialRepository(s).set_state(serial_hex, SerialState.INTENT, ctx.clock(), tbs_sha256=tbs_sha256)
            append(s, AuditEvent(actor, action + ".intent", shown, "success", {
                "serial": serial_hex, "profile": profile.name, "issuer": issuer.name if issuer else None,
                "tbs_sha256": tbs_sha256}), ctx.clock())

        # Step 4: sign the same TBS in the HSM, then check the result before it can be stored.
        cert = builder.sign(as_cryptography_key(signing_key), digest)
        der = cert.public_bytes(Encoding.DER)
        try:
            if hashlib.sha256(cert.tbs_certificate_bytes).hexdigest() != tbs_sha256:
                raise CaError("the signed TBSCertificate differs from the linted one")
            cert.verify_directly_issued_by(issuer_cert if issuer_cert is not None else cert)
            if ctx.after_sign is not None:
                ctx.after_sign(der)
            # Step 5: store and audit, in one transaction.
            record = None
            with ctx.db.unit_of_work() as s:
                if issuer is not None:
                    record = CertificateRepository(s).add(ca=issuer, serial_hex=serial_hex, profile=profile.name, subject=shown,
                                                 der=der, key_uri=key_uri, not_before=cert.not_valid_before_utc,
                                                 not_after=cert.not_valid_after_utc, now=now,
                                                 crl_partition=partition)
                if store_extra is not None:
                    store_extra(s, cert, key_uri)
                SerialRepository(s).set_state(serial_hex, SerialState.ISSUED, ctx.clock())
                append(s, AuditEvent(actor, action, shown, "success", {
                    "serial": serial_hex, "profile": profile.name, "issuer": issuer.name if issuer else None,
                    "key_uri": key_uri, "sha256": hashlib.sha256(der).hexdigest()}), ctx.clock())
        except Exception as exc:
            self._burn_signed(serial_hex, der, actor, action, shown, exc)
            raise
        if partition is not None:
            # The CRL DP must resolve from the start: a new partition gets its (empty) CRL now.
            from .revocation import Revocation
            Revocation(ctx).ensure_partition(issuer.name, partition, actor)
        return Issued(cert, serial_hex, key_uri, record)

    def _reserve(self, issuer: CaRecord | None, profile: CertificateProfile, shown: str, now: dt.datetime) -> int:
        for _ in range(5):
            serial = new_serial()
            try:
                with self.ctx.db.unit_of_work() as s:
                    SerialRepository(s).reserve(serial_to_hex(serial), issuer.id if issuer else None,
                                                profile.name, shown, now)
                return serial
            except IntegrityError:
                continue  # a collision of 127 random bits: draw again
        raise CaError("could not reserve a fresh serial")

    def _burn_signed(self, serial_hex: str, der: bytes, actor: str, action: str, shown: str, exc: Exception) -> None:
        """Record a signed-but-unstored certificate against its serial, so it is accounted for."""
        with self.ctx.db.unit_of_work() as s:
            SerialRepository(s).set_state(serial_hex, SerialState.BURNED, self.ctx.clock(),
                                          reason=f"store failed after signing: {type(exc).__name__}", certificate=der)
            append(s, AuditEvent(actor, action, shown, "failed", {
                "serial": serial_hex, "error": f"{type(exc).__name__}: {exc}",
                "sha256": hashlib.sha256(der).hexdigest()}), self.ctx.clock())
