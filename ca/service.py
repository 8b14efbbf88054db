"""The CA's operations as one facade for the CLI (and later an internal issuance call)."""
from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from hsm import KeyType
from policies import CertificateProfile, NameSyntaxError, PolicyError, format_name, parse_slash_subject

Attrs = tuple[tuple[str, str], ...]


def _attrs(subject: "Attrs | str | None") -> "Attrs | None":
    """Subjects come as (short name, value) pairs or in the OpenSSL slash form."""
    return parse_slash_subject(subject) if isinstance(subject, str) else subject

from . import audit
from .audit import AuditEvent
from .context import CaContext
from .csr import load_csr
from .errors import CaError, CaExistsError, CaStateError
from .external import ExternalParent, check_ca_name
from .issuance import Issuance, Subject, subject_from_csr
from .records import (AuditRecord, CaRecord, CertificateRecord, CertStatus, CrlRecord, PendingCaRecord, normalise_serial,
                      serial_to_hex)
from .responders import ResponderInfo, Responders
from .revocation import Revocation
from .storage.repositories import (CaRepository, CertificateRepository, CrlRepository, PendingCaRepository,
                                  SerialRepository)


class CaService:
    def __init__(self, ctx: CaContext) -> None:
        self.ctx = ctx
        self.issuance = Issuance(ctx)
        self.revocation = Revocation(ctx)
        self.responders = Responders(ctx, self.issuance)
        self.external = ExternalParent(ctx)

    # --- hierarchy -------------------------------------------------------------------------
    def create_root(self, *, name: str, subject: Attrs | str, key_type: KeyType, actor: str,
                    validity_days: int | None = None) -> CaRecord:
        return self._create_ca(name, None, "root-ca", subject, key_type, actor, validity_days)

    def create_issuing(self, *, name: str, parent: str, subject: Attrs | str, key_type: KeyType,
                       actor: str, validity_days: int | None = None) -> CaRecord:
        return self._create_ca(name, parent, "issuing-ca", subject, key_type, actor, validity_days)

    def _create_ca(self, name: str, parent: str | None, profile_name: str, subject_in: Attrs | str,
                   key_type: KeyType, actor: str, validity_days: int | None) -> CaRecord:
        action = "ca.create"
        try:
            attrs = _attrs(subject_in)
            assert attrs is not None
            check_ca_name(name)  # CA names appear in URLs (/crl/<name>.crl) and key labels
            with self.ctx.db.unit_of_work() as s:
                repo = CaRepository(s)
                if repo.exists(name):
                    raise CaExistsError(f"a CA named {name!r} already exists")
                issuer = repo.get(parent) if parent else None
        except (CaError, NameSyntaxError) as exc:
            self.ctx.audit(AuditEvent(actor, action, name, "refused", {"error": str(exc)}))
            raise
        profile = self.ctx.profiles.get(profile_name)
        subject = Subject(attrs=attrs, generate=key_type)
        self.issuance.precheck(issuer, profile, subject, actor, action)

        def store(session, cert: x509.Certificate, key_uri: str | None) -> None:
            CaRepository(session).add(
                name=name, parent=parent, profile=profile_name, key_uri=key_uri or "", key_type=key_type.value,
                subject=format_name(cert.subject), serial_hex=serial_to_hex(cert.serial_number),
                der=cert.public_bytes(Encoding.DER), not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc, now=self.ctx.clock())

        self.issuance.issue(issuer=issuer, profile=profile, subject=subject, actor=actor,
                            validity_days=validity_days, action=action, store_extra=store)
        # Every certificate the CA issues names its CRL URL: publish one at once, so it resolves.
        self.generate_crl(name, actor)
        return self.get_ca(name)

    # --- issuing CAs certified by an external parent (national root, offline root) -------------
    def request_issuing(self, *, name: str, subject: Attrs | str, key_type: KeyType, actor: str,
                        successor_of: str | None = None) -> tuple[PendingCaRecord, bytes]:
        """A pending issuing CA: key in the CA token, PKCS#10 request (DER) signed in the HSM."""
        try:
            attrs = _attrs(subject)
        except NameSyntaxError as exc:
            self.ctx.audit(AuditEvent(actor, "ca.request", name, "refused", {"error": str(exc)}))
            raise
        assert attrs is not None
        return self.external.request(name=name, subject=attrs, key_type=key_type, actor=actor,
                                     successor_of=successor_of)

    def import_certificate(self, *, name: str, certificate: bytes, chain: bytes, anchors: list[bytes], actor: str,
                           parent_name: str | None = None) -> CaRecord:
        """Install the parent's certificate for pending CA ``name`` (checked first), then publish its first CRL."""
        record = self.external.install(name=name, certificate=certificate, chain=chain, anchors=anchors,
                                       actor=actor, parent_name=parent_name)
        self.generate_crl(name, actor)  # every certificate it issues names this CRL's URL
        return self.get_ca(name)

    def pending_request(self, name: str) -> bytes:
        with self.ctx.db.reader() as s:
            pending = PendingCaRepository(s).get(name)
        if pending is None:
            raise CaError(f"no pending CA named {name!r}")
        return pending.request_der

    # --- certificates ----------------------------------------------------------------------
    def issue(self, *, ca_name: str, profile_name: str, actor: str, csr: bytes | None = None,
              generate: KeyType | None = None, subject: Attrs | str | None = None,
              validity_days: int | None = None) -> CertificateRecord:
        action = "cert.issue"
        try:
            profile = self.ctx.profiles.get(profile_name)
            issuer = self.get_ca(ca_name)
            subject = _attrs(subject)
            if (csr is None) == (generate is None):
                raise CaError("give either a CSR or a key type to generate in the HSM")
            if profile.kind.is_ca:
                raise CaError(f"profile {profile_name} is for CAs: use `govca ca create-root/create-issuing`")
            if csr is not None:
                subj = subject_from_csr(load_csr(csr), subject)
            else:
                if subject is None:
                    raise CaError("a generated key needs --subject")
                subj = Subject(attrs=subject, generate=generate)
        except (CaError, PolicyError) as exc:
            self.ctx.audit(AuditEvent(actor, action, ca_name, "refused", {"error": str(exc), "profile": profile_name}))
            raise
        self.issuance.precheck(issuer, profile, subj, actor, action)
        issued = self.issuance.issue(issuer=issuer, profile=profile, subject=subj, actor=actor,
                                     validity_days=validity_days, action=action)
        assert issued.record is not None
        return issued.record

    def revoke(self, ca_name: str, serial: str, reason: str, actor: str) -> tuple[CertificateRecord, CrlRecord]:
        return self.revocation.revoke(ca_name, serial, reason, actor)

    def generate_crl(self, ca_name: str, actor: str) -> CrlRecord:
        return self.revocation.generate_crl(ca_name, actor)

    def refresh_crls(self, actor: str, max_age: dt.timedelta) -> list[CrlRecord]:
        """Re-issue every CRL (full and partitions) older than ``max_age`` (docs/profile.md, CRL
        profile: end-entity CRLs reissued at least daily): `crl publish` with --max-age-hours."""
        return [crl for _, crl in self.publish_crls(actor, None, max_age)]

    def publish_crls(self, actor: str, ca_name: str | None = None,
                     max_age: dt.timedelta | None = None) -> list[tuple[str | None, CrlRecord]]:
        """`govca crl publish`: for every CA whose key is here (or ``ca_name``), the full CRL and each
        partition still needed (ca/revocation.py ``publish_all``); (partition, CRL) pairs."""
        self.ctx.open_ca_token()  # may sign: fail at once, naming the CA token's PIN source
        done = []
        for ca in ([self.get_ca(ca_name)] if ca_name else self.list_cas()):
            if not ca.holds_key:
                if ca_name:
                    raise CaStateError(f"CA {ca_name} is external: its key is not here, so govca cannot sign its CRL")
                continue  # an external CA's CRL is imported or fetched (`crl import`, `ca refresh-parent`)
            done += self.revocation.publish_all(ca.name, actor, max_age)
        return done

    # --- OCSP responders ----------------------------------------------------------------------
    def setup_ocsp_responder(self, ca_name: str, actor: str, key_type: KeyType = KeyType.EC_P256) -> ResponderInfo:
        return self.responders.setup(ca_name, actor, key_type)

    def ocsp_responders(self) -> list[ResponderInfo]:
        return self.responders.current()

    def renew_ocsp_responders(self, actor: str, within_days: int, force: bool = False) -> list[ResponderInfo]:
        self.ctx.open_ca_token()
        return self.responders.renew(actor, dt.timedelta(days=within_days), force)

    # --- reads -----------------------------------------------------------------------------
    def get_ca(self, name: str) -> CaRecord:
        with self.ctx.db.reader() as s:
            return CaRepository(s).get(name)

    def list_cas(self) -> list[CaRecord]:
        with self.ctx.db.reader() as s:
            return CaRepository(s).list()

    def list_pending(self) -> list[PendingCaRecord]:
        with self.ctx.db.reader() as s:
            return PendingCaRepository(s).list()

    def chain(self, name: str) -> list[CaRecord]:
        """The CA and its ancestors, issuing CA first, root last."""
        out = [self.get_ca(name)]
        while out[-1].parent_name:
            out.append(self.get_ca(out[-1].parent_name))
        return out

    def get_certificate(self, ca_name: str, serial: str) -> CertificateRecord:
        with self.ctx.db.reader() as s:
            ca = CaRepository(s).get(ca_name)
            return CertificateRepository(s).get(ca, normalise_serial(serial))

    def list_certificates(self, ca_name: str | None = None, status: CertStatus | None = None) -> list[CertificateRecord]:
        with self.ctx.db.reader() as s:
            ca = CaRepository(s).get(ca_name) if ca_name else None
            return CertificateRepository(s).list(ca, status)

    def latest_crl(self, ca_name: str, partition: str | None = None) -> CrlRecord | None:
        """The newest full CRL (or ARL) of the CA, or of one of its partitions."""
        with self.ctx.db.reader() as s:
            return CrlRepository(s).latest(CaRepository(s).get(ca_name), partition)

    def serial_state(self, serial: str) -> dict | None:
        with self.ctx.db.reader() as s:
            return SerialRepository(s).get(normalise_serial(serial))

    def profile(self, name: str) -> CertificateProfile:
        return self.ctx.profiles.get(name)

    # --- audit -----------------------------------------------------------------------------
    def audit_verify(self) -> int:
        with self.ctx.db.unit_of_work() as s:
            return audit.verify(s)

    def audit_list(self, limit: int = 100, action: str | None = None) -> list[AuditRecord]:
        with self.ctx.db.reader() as s:
            return audit.list_records(s, limit, action)
