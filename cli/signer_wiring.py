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
from signer.revinfo import RevocationData
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
    """OCSP responses from govca's own responder (called directly, not over HTTP) and every CA's
    newest CRL, kept for a few minutes per process, and only while no CRL has been published
    since: a revocation publishes one, so no worker embeds, or judges a document by, a "good"
    fetched before it (the cache is keyed by the newest CRL's id, one primary-key lookup)."""

    TTL = 300.0

    def __init__(self, responder: OcspResponder, reader: StatusReader) -> None:
        self.responder, self.reader = responder, reader
        self._cache: dict[tuple, tuple[float, int | None, RevocationData]] = {}
        self._lock = threading.Lock()

    def __call__(self, pairs: list[tuple[bytes, bytes]]) -> RevocationData:
        key = tuple(pairs)
        epoch = self.reader.newest_crl_id()
        with self._lock:
            hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < self.TTL and hit[1] == epoch:
            return self._with_parent(hit[2])
        ocsps = []
        for cert_der, issuer_der in pairs:
            req = ocsp.OCSPRequestBuilder().add_certificate(
                x509.load_der_x509_certificate(cert_der), x509.load_der_x509_certificate(issuer_der), hashes.SHA1())
            answer = self.responder.respond(req.build().public_bytes(Encoding.DER))
            if answer.status == "successful":
                ocsps.append(answer.der)
        crls = []
        for name in self.reader.ca_names():
            found = self.reader.latest_crl(name)
            if found is not None:
                crls.append(found[0])
        data = RevocationData(tuple(ocsps), tuple(crls))
        with self._lock:
            self._cache[key] = (time.monotonic(), epoch, data)
        return self._with_parent(data)

    def _with_parent(self, data: RevocationData) -> RevocationData:
        """Plus the external parent's OCSP responses for our CA certificates (`govca ca
        refresh-parent`), read at every call: a refresh that stores only an OCSP answer publishes
        no CRL, so it would not renew the cache. The parent's CRLs are among every CA's newest."""
        parent = tuple(bytes(r.der) for r in self.reader.parent_status() if r.kind == "ocsp")
        return RevocationData(data.ocsps + parent, data.crls) if parent else data


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
