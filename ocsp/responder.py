"""The OCSP responder (RFC 6960, RFC 5019): status in, signed responses out.

Nonce-less single-certificate requests are answered from pre-signed responses (refreshed by
`govca ocsp refresh`, re-signed at once after a revocation); requests with a nonce, or with
several CertIDs, are signed on demand. The CA key never signs here: each issuing CA has a
delegated responder certificate whose key is in the HSM.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from asn1crypto import ocsp as aocsp
from asn1crypto import x509 as ax509
from cryptography import x509

from hsm.mechanisms import default_mechanism

from .builder import Responder, assemble, build_response_data, error_response
from .errors import MalformedRequestError
from .interfaces import CertStatus, KeySource, PresignedResponse, PresignedStore, StatusInfo, StatusSource
from .request import CertIdRequest, ParsedRequest, parse_request, parse_request_fast

log = logging.getLogger("govca.ocsp")
PRESIGN_HASHES = ("sha1", "sha256")
UNKNOWN_TTL = dt.timedelta(minutes=5)
UNKNOWN_MAX = 10_000  # RFC 5019 2.1.1 clients use SHA-1 CertIDs; modern ones SHA-256


@dataclass(frozen=True)
class OcspSettings:
    """How long responses are valid and when pre-signed ones are refreshed.

    ``validity``: nextUpdate - thisUpdate (RFC 5019 4; always present, docs/profile.md, OCSP responses).
    ``refresh_after``: a pre-signed response older than this is re-signed; keep it well inside
    ``validity`` so that a missed refresh run never lets a response expire.
    """

    validity: dt.timedelta = dt.timedelta(hours=48)
    refresh_after: dt.timedelta = dt.timedelta(hours=12)
    max_cert_ids: int = 16
    issuer_cache_seconds: float = 60.0


@dataclass(frozen=True)
class OcspAnswer:
    der: bytes
    status: str  # "successful" or an OCSPResponseStatus name
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    produced_at: dt.datetime | None = None
    presigned: bool = False


@dataclass(frozen=True)
class _Served:
    ca_name: str
    responder: Responder
    key_uri: str
    issuer_der: bytes


def serial_hex(serial: int) -> str:
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


def _responder(cert_der: bytes) -> Responder:
    """The responder's signature algorithm: hsm's one rule for its key (``default_mechanism``)."""
    mechanism = default_mechanism(x509.load_der_x509_certificate(cert_der).public_key())
    return Responder(cert_der, mechanism)


def cert_id_for(issuer_der: bytes, serial: int, hash_alg: str) -> CertIdRequest:
    """The CertID (RFC 6960 4.1.1) a client would send for ``serial`` under this issuer."""
    issuer = ax509.Certificate.load(issuer_der)
    name_hash = hashlib.new(hash_alg, issuer.subject.dump()).digest()
    key_hash = hashlib.new(hash_alg, issuer.public_key["public_key"].contents[1:]).digest()
    cid = aocsp.CertId({"hash_algorithm": {"algorithm": hash_alg}, "issuer_name_hash": name_hash,
                        "issuer_key_hash": key_hash, "serial_number": serial})
    return CertIdRequest(hash_alg, name_hash, key_hash, serial, cid.dump())


class OcspResponder:
    def __init__(self, source: StatusSource, store: PresignedStore, keys: KeySource, settings: OcspSettings,
                 clock: Callable[[], dt.datetime]) -> None:
        self.source, self.store, self.keys, self.settings, self.clock = source, store, keys, settings, clock
        self._lock = threading.Lock()
        self._issuers: dict[tuple[str, bytes, bytes], _Served] = {}
        self._unknown: dict[tuple[str, str, bytes], OcspAnswer] = {}
        self._loaded_at = -1e9

    # --- issuers ---------------------------------------------------------------------------
    def _issuer_map(self) -> dict[tuple[str, bytes, bytes], _Served]:
        """(hash, issuerNameHash, issuerKeyHash) -> served CA; reloaded every minute so a renewed
        responder certificate is picked up without a restart."""
        if time.monotonic() - self._loaded_at < self.settings.issuer_cache_seconds:
            return self._issuers
        with self._lock:
            mapping: dict[tuple[str, bytes, bytes], _Served] = {}
            for item in self.source.served_issuers():
                served = _Served(item.ca_name, _responder(item.responder_der), item.responder_key_uri, item.issuer_der)
                for alg in ("sha1", "sha256", "sha384", "sha512"):
                    cid = cert_id_for(item.issuer_der, 1, alg)
                    mapping[(alg, cid.issuer_name_hash, cid.issuer_key_hash)] = served
            self._issuers, self._loaded_at = mapping, time.monotonic()
        return self._issuers

    # --- answering -------------------------------------------------------------------------
    def respond(self, der: bytes) -> OcspAnswer:
        try:
            request = parse_request_fast(der, self.settings.max_cert_ids) or parse_request(der, self.settings.max_cert_ids)
        except MalformedRequestError as exc:
            log.info("malformedRequest: %s", exc)
            return OcspAnswer(error_response("malformed_request"), "malformed_request")
        try:
            issuers = self._issuer_map()
        except Exception:  # noqa: BLE001 - the status database is unreachable
            log.exception("OCSP issuer lookup failed")
            return OcspAnswer(error_response("try_later"), "try_later")
        served = {issuers.get((c.hash_alg, c.issuer_name_hash, c.issuer_key_hash)) for c in request.cert_ids}
        if None in served or len(served) != 1:
            # RFC 6960 2.3: a CA we do not serve, or CertIDs of several CAs that no single
            # delegated responder may answer for together.
            return OcspAnswer(error_response("unauthorized"), "unauthorized")
        target = served.pop()
        assert target is not None
        try:
            if request.nonce_value is None and len(request.cert_ids) == 1:
                return self._presigned(target, request.cert_ids[0])
            answers = [(c, self.source.status(target.ca_name, serial_hex(c.serial))) for c in request.cert_ids]
        except Exception:  # noqa: BLE001
            log.exception("OCSP status lookup failed")
            return OcspAnswer(error_response("try_later"), "try_later")
        return self._sign(target, answers, request)

    def _presigned(self, target: _Served, cid: CertIdRequest) -> OcspAnswer:
        now = self.clock()
        serial = serial_hex(cid.serial)
        cached = self.store.get(target.ca_name, serial, cid.hash_alg)
        if cached is not None and cached.next_update > now and now - cached.this_update < self.settings.refresh_after:
            return OcspAnswer(cached.der, "successful", cached.this_update, cached.next_update, cached.produced_at,
                              presigned=True)
        unknown_key = (target.ca_name, serial, cid.der)
        remembered = self._unknown.get(unknown_key)
        if remembered is not None and remembered.next_update and remembered.this_update \
                and now - remembered.this_update < UNKNOWN_TTL:
            return remembered
        status = self.source.status(target.ca_name, serial)
        answer = self._sign(target, [(cid, status)], ParsedRequest((cid,), None))
        if answer.status == "successful" and status.status is CertStatus.UNKNOWN:
            # A serial govca never issued: keep the signed "unknown" in memory for a while, so
            # made-up serials cannot keep the responder on its signing path.
            if len(self._unknown) >= UNKNOWN_MAX:
                self._unknown.clear()
            self._unknown[unknown_key] = answer
        elif answer.status == "successful":
            assert answer.this_update and answer.next_update and answer.produced_at
            self.store.put(target.ca_name, serial, cid.hash_alg, PresignedResponse(
                answer.der, status.status, answer.this_update, answer.next_update, answer.produced_at))
        return answer

    def _sign(self, target: _Served, answers: list[tuple[CertIdRequest, StatusInfo]],
              request: ParsedRequest) -> OcspAnswer:
        now = self.clock().replace(microsecond=0)
        next_update = now + self.settings.validity
        try:
            data = build_response_data(responder=target.responder, answers=answers, produced_at=now,
                                       this_update=now, next_update=next_update, nonce_value=request.nonce_value)
            signature = self.keys.get_key(target.key_uri).sign(data, target.responder.mechanism)
            der = assemble(response_data_der=data, responder=target.responder, signature=signature)
        except Exception:  # noqa: BLE001 - a token fault must not become a 5xx
            log.exception("OCSP signing failed")
            return OcspAnswer(error_response("internal_error"), "internal_error")
        return OcspAnswer(der, "successful", now, next_update, now)

    # --- pre-signing -----------------------------------------------------------------------
    def presign(self, ca_name: str, serial: str, force: bool = True) -> int:
        """(Re-)sign the stored responses of one certificate; returns how many were signed."""
        target = next((s for s in self._issuer_map().values() if s.ca_name == ca_name), None)
        if target is None:
            return 0
        now = self.clock()
        count = 0
        for alg in PRESIGN_HASHES:
            cached = self.store.get(ca_name, serial, alg)
            if not force and cached is not None and now - cached.this_update < self.settings.refresh_after:
                continue
            cid = cert_id_for(target.issuer_der, int(serial, 16), alg)
            status = self.source.status(ca_name, serial)
            answer = self._sign(target, [(cid, status)], ParsedRequest((cid,), None))
            if answer.status == "successful" and status.status is not CertStatus.UNKNOWN:
                assert answer.this_update and answer.next_update and answer.produced_at
                self.store.put(ca_name, serial, alg, PresignedResponse(
                    answer.der, status.status, answer.this_update, answer.next_update, answer.produced_at))
                count += 1
        return count

    def refresh(self, force: bool = False) -> int:
        """Re-sign every pre-signed response older than ``refresh_after`` (all with ``force``)."""
        self._loaded_at = -1e9
        count = 0
        for ca_name in sorted({s.ca_name for s in self._issuer_map().values()}):
            for serial in self.source.serials(ca_name):
                count += self.presign(ca_name, serial, force=force)
        return count
