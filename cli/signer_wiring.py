"""Composition of the sealing service: the CA's status, in-process OCSP and CRLs, the audit log."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from ca.audit import AuditEvent, append
from ca.context import utcnow
from ca.status import StatusReader
from ca.storage.db import Database
from ocsp.responder import OcspResponder
from signer.revinfo import RevocationData, crl_scope, is_ca, needs_status
from signer.registry import SignerRepository
from signer.sealing.service import SealingService, SignerSettings

from .config import GovcaConfig


def audit_writer(db: Database):  # type: ignore[no-untyped-def]
    def write(actor: str, action: str, subject: str, outcome: str, details: dict) -> None:
        with db.unit_of_work() as s:
            audit_in(s, actor, action, subject, outcome, details)
    return write


def audit_in(session: Any, actor: str, action: str, subject: str, outcome: str, details: dict) -> None:
    """An audit event in the caller's transaction (committed, or rolled back, with its change).
    Inside an HTTP request the client's address is added to the details (unless they name one
    already: an aggregated record names the address it counts)."""
    append(session, AuditEvent(actor, action, subject, outcome, with_client_address(details)), utcnow())


def with_client_address(details: dict) -> dict:
    from flask import has_request_context, request

    if "client_address" in details or not has_request_context():
        return details
    return {**details, "client_address": request.remote_addr}


class InProcessRevocation:
    """For each (certificate, issuer) pair of a chain, the status its issuer publishes, and nothing
    whose size grows with a CA's revocations (issue 13; docs/ltv.md):

    - govca's own OCSP answer when one of its responders serves the issuer (called directly, not
      over HTTP): every end-entity certificate of an issuing CA with a responder, and a CA
      certificate whose parent here has one;
    - else, for a CA certificate, its parent's ARL (the parent's full CRL: a root's lists CA
      certificates only), or under an external parent what `govca ca refresh-parent` stored (the
      parent's OCSP answers and CRL, read at every call: a refresh that stores only an OCSP
      answer publishes no CRL, so it would not renew the cache);
    - else, for an end-entity certificate, the CRL its distribution point names: its partition
      (RFC 5280 5.2.5); only a certificate issued before partitions names the full CRL;
    - nothing for a responder's certificate with id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1).

    A CA's full CRL is never embedded for a certificate with a partition or an OCSP answer.
    Kept for a few minutes per process, and only while no CRL has been published since: a
    revocation publishes one, so no worker embeds, or judges a document by, a "good" fetched
    before it (the cache is keyed by the newest CRL's id, one primary-key lookup)."""

    TTL = 300.0

    def __init__(self, responder: OcspResponder, reader: StatusReader) -> None:
        self.responder, self.reader = responder, reader
        self._cache: dict[tuple, tuple[float, int | None, RevocationData, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def __call__(self, pairs: list[tuple[bytes, bytes]]) -> RevocationData:
        key = tuple(dict.fromkeys(pairs))
        epoch = self.reader.newest_crl_id()
        with self._lock:
            hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < self.TTL and hit[1] == epoch:
            return self._with_parent(hit[2], hit[3])
        data, external = self._collect(key)
        with self._lock:
            self._cache[key] = (time.monotonic(), epoch, data, external)
        return self._with_parent(data, external)

    def _collect(self, pairs: tuple[tuple[bytes, bytes], ...]) -> tuple[RevocationData, frozenset[str]]:
        """Our own part (cached), and the names of the CAs whose status an external parent publishes."""
        cas = {bytes(der): name for name in self.reader.ca_names()
               if (der := self.reader.ca_certificate(name)) is not None}
        under_external = {row.ca for row in self.reader.parent_status()}
        ocsps: list[bytes] = []
        crls: list[bytes] = []
        external: set[str] = set()
        for cert_der, issuer_der in pairs:
            cert = x509.load_der_x509_certificate(cert_der)
            if not needs_status(cert):
                continue
            answer = self._ocsp(cert, issuer_der)
            if answer is not None:
                ocsps.append(answer)
                continue
            issuer = cas.get(bytes(issuer_der))
            if issuer is None:
                continue  # not a CA of this database: govca holds no status of it
            if is_ca(cert):
                if cas.get(bytes(cert_der)) in under_external:
                    external.add(cas[bytes(cert_der)])
                    continue
                found = self.reader.crl_of(issuer, None)  # the parent's ARL
            else:
                named, partition = crl_scope(cert)
                found = self.reader.crl_of(issuer, partition) if named else None
            if found is not None:
                crls.append(bytes(found[0]))
        return RevocationData(tuple(dict.fromkeys(ocsps)), tuple(dict.fromkeys(crls))), frozenset(external)

    def _ocsp(self, cert: x509.Certificate, issuer_der: bytes) -> bytes | None:
        """govca's OCSP answer for ``cert`` when a responder here serves its issuer, else None."""
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, x509.load_der_x509_certificate(issuer_der),
                                                        hashes.SHA1())
        answer = self.responder.respond(req.build().public_bytes(Encoding.DER))
        return answer.der if answer.status == "successful" else None

    def _with_parent(self, data: RevocationData, external: frozenset[str]) -> RevocationData:
        """Plus the external parent's status of our CA certificates in the chain, as `govca ca
        refresh-parent` stored it (its OCSP answers and its CRL: each what the parent publishes
        for CA certificates, neither grows with our revocations)."""
        if not external:
            return data
        rows = [r for r in self.reader.parent_status() if r.ca in external and r.der is not None]
        return data + RevocationData(tuple(bytes(r.der) for r in rows if r.kind == "ocsp"),
                                     tuple(bytes(r.der) for r in rows if r.kind == "crl"))


def signer_settings(cfg: GovcaConfig) -> SignerSettings:
    return SignerSettings(base_url=cfg.base_url, tsa_policy_oid=cfg.signer.tsa_policy_oid,
                          max_pdf_bytes=cfg.signer.max_pdf_mb * 1024 * 1024,
                          tsa_accuracy_ms=cfg.signer.tsa_accuracy_ms)


def signer_repository(db: Database) -> SignerRepository:
    return SignerRepository(db.unit_of_work, db.reader)


def build_sealing_service(cfg: GovcaConfig, db: Database, keys: Any, responder: OcspResponder,
                          reader: StatusReader) -> SealingService:
    service = SealingService(
        repo=signer_repository(db), keys=keys, status=status_lookup(reader),
        revocation=InProcessRevocation(responder, reader), audit=audit_writer(db),
        settings=signer_settings(cfg), clock=utcnow)
    service.verifier = secret_verifier(db, keys)
    return service


def status_lookup(reader: StatusReader):  # type: ignore[no-untyped-def]
    """signer's StatusLookup: (CA name, serial hex) -> its status (policies/status.py)."""
    return lambda ca, serial: reader.status(ca, serial).status


def secret_vault(keys: Any, create_key: bool = False):  # type: ignore[no-untyped-def]
    """API client secrets checked with the HSM's API-client HMAC key (created by `govca apiclient
    create`, the one single-process path, with the keys that authorise CSC signatures; servers
    only look them up)."""
    from hsm.mac import mac_key
    from signer.credentials import KEY_LABEL, SecretVault

    def factory():  # type: ignore[no-untyped-def]
        if create_key:
            create_authorisation_keys(keys)
        return mac_key(keys, KEY_LABEL, create=create_key).mac
    return SecretVault(factory)


def create_authorisation_keys(keys: Any) -> None:
    """The service token's keys that authorise remote signatures, each made when absent (sensitive,
    not extractable): the SAD MAC, the CSC access-token MAC and the TOTP seed AES key. Made by
    administrator commands only (enrolment, `apiclient create`, `official upgrade-keys`, demo),
    one process at a time; `govca serve` only looks them up, so two workers never race to make
    two keys under one label."""
    from hsm.aead import aead_key
    from hsm.mac import mac_key
    from signer.credentials import ACCESS_TOKEN_KEY_LABEL
    from signer.remote.csc import SAD_KEY_LABEL
    from signer.remote.officials import TOTP_KEY_LABEL

    mac_key(keys, SAD_KEY_LABEL, create=True)
    mac_key(keys, ACCESS_TOKEN_KEY_LABEL, create=True)
    aead_key(keys, TOTP_KEY_LABEL, create=True)


def secret_verifier(db: Database, keys: Any):  # type: ignore[no-untyped-def]
    """HMAC records checked in the HSM; an old scrypt record upgraded on its first success."""
    from signer.credentials import SecretVerifier

    return SecretVerifier(secret_vault(keys), upgrade_secret_record(db))


def upgrade_secret_record(db: Database):  # type: ignore[no-untyped-def]
    def upgrade(client_id: int, old: str, new: str) -> None:
        from sqlalchemy import update

        from signer.storage import ApiClientRow

        with db.unit_of_work() as s:  # compare-and-set: only the record that was checked is replaced
            s.execute(update(ApiClientRow).where(ApiClientRow.id == client_id, ApiClientRow.secret_hash == old)
                      .values(secret_hash=new))
    return upgrade


def build_error_audit(cfg: GovcaConfig, db: Database):  # type: ignore[no-untyped-def]
    """The audit of 500s, aggregated per (address, window) like refused authentication; never a 429."""
    from signer.throttle import Throttle, ThrottleSettings

    t = cfg.throttle
    return Throttle(audit_writer(db), ThrottleSettings(limit=2**62, window=t.window_seconds,
                                                       max_addresses=t.max_addresses,
                                                       audit_per_window=t.audit_records_per_window),
                    wall=utcnow)


def build_throttle(cfg: GovcaConfig, db: Database):  # type: ignore[no-untyped-def]
    """Refused authentication per client address, per worker (signer/throttle.py)."""
    from signer.throttle import Throttle, ThrottleSettings

    t = cfg.throttle
    return Throttle(audit_writer(db), ThrottleSettings(limit=t.failures_per_window, window=t.window_seconds,
                                                       max_addresses=t.max_addresses,
                                                       audit_per_window=t.audit_records_per_window),
                    wall=utcnow)


class TrustRoots:
    """govca's root certificates from the CA database plus configured extra roots, re-read every minute."""

    def __init__(self, reader: StatusReader, extra_pem_files: tuple[str, ...] = ()) -> None:
        self.reader, self.extra = reader, extra_pem_files
        self._cached: tuple[float, Any] = (-1e9, None)

    def __call__(self):  # type: ignore[no-untyped-def]
        from cryptography.hazmat.primitives.serialization import Encoding as _Enc

        from signer.verification.verify import TrustSettings

        loaded_at, value = self._cached
        if value is not None and time.monotonic() - loaded_at < 60:
            return value
        roots = self.reader.root_certificates()
        for path in self.extra:
            with open(path, "rb") as fh:
                roots += [c.public_bytes(_Enc.DER) for c in x509.load_pem_x509_certificates(fh.read())]
        value = TrustSettings(tuple(roots))
        self._cached = (time.monotonic(), value)
        return value


def build_verifier(cfg: GovcaConfig, db: Database, revocation: InProcessRevocation):  # type: ignore[no-untyped-def]
    """The verifier trusts govca's roots read through the revocation source's read interface."""
    from signer.verification.verify import Verifier

    from signer.remote.officials import english_name_lookup

    return Verifier(TrustRoots(revocation.reader, cfg.signer.extra_roots), revocation, utcnow,
                    cfg.signer.max_pdf_mb * 1024 * 1024, english_name=english_name_lookup(db.reader))


def official_repository(home: Path, db: Database, keys: Any, create_pin_key: bool = False):  # type: ignore[no-untyped-def]
    """Officials, their TOTP seeds encrypted with the service token's AES key (seeds of the earlier
    format read with secrets/server.key while it exists) and their PINs checked with the HSM's PIN
    key (these keys are created by enrolment, the one single-process path; servers only look them up)."""
    from hsm.aead import aead_key
    from hsm.mac import mac_key
    from signer.remote.officials import TOTP_KEY_LABEL, OfficialRepository, SecretBox, TotpSeeds
    from signer.pins import KEY_LABEL, PinVault

    def pin_mac():  # type: ignore[no-untyped-def]
        if create_pin_key:
            create_authorisation_keys(keys)
        return mac_key(keys, KEY_LABEL, create=create_pin_key).mac
    seeds = TotpSeeds(lambda: aead_key(keys, TOTP_KEY_LABEL, create=create_pin_key),
                      SecretBox(home / "secrets" / "server.key"))
    return OfficialRepository(db.unit_of_work, db.reader, seeds, PinVault(pin_mac))


def build_remote_signing(cfg: GovcaConfig, db: Database, keys: Any, sealing: SealingService, reader: StatusReader):  # type: ignore[no-untyped-def]
    from hsm.mac import mac_key
    from signer.credentials import ACCESS_TOKEN_KEY_LABEL, AccessTokens
    from signer.pins import LazyMac
    from signer.remote.csc import SAD_KEY_LABEL, RemoteSigning

    officials = official_repository(cfg.home, db, keys)
    tokens = AccessTokens(LazyMac(lambda: mac_key(keys, ACCESS_TOKEN_KEY_LABEL).mac))
    return RemoteSigning(officials, sealing.repo, keys, status_lookup(reader), sealing.audit, audit_in,
                         tokens, LazyMac(lambda: mac_key(keys, SAD_KEY_LABEL).mac), utcnow)
