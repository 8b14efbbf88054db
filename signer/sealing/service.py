"""The sealing service: authenticate an agency system, choose its seal, check the PDF, sign it
(PAdES with the HSM key, govca's TSA, embedded revocation data), register it, audit it."""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Sequence

from cryptography import x509

import policies.names  # noqa: F401 - its warnings filter covers Thai names read below
from policies.status import CertStatus

from .. import throttle
from ..credentials import SecretVerifier, is_slow, parse_token
from ..errors import ForbiddenError, NotFoundError, SignerError, UnauthenticatedError, UnavailableError
from ..revinfo import RevocationData, validation_context
from .attachments import DataPart, check_data_parts, refuse_on_signed
from .pades import InProcessTimeStamper, SigningMaterial, SignOptions, sign_pdf
from .pdfa import plan as pdfa_plan
from ..pdf_checks import certification, check_pdf
from ..pdf_guard import mapped
from ..registry import ApiClient, Seal, SignerRepository
from ..tsa.authority import TsaUnit, build_response, new_serial

# (certificate DER, issuer DER) pairs in, OCSP responses and CRLs for them out.
RevocationSource = Callable[[list[tuple[bytes, bytes]]], RevocationData]
StatusLookup = Callable[[str, str], CertStatus]  # (CA name, serial hex) -> its status (policies/status.py)
Audit = Callable[[str, str, str, str, dict], None]  # actor, action, subject, outcome, details


@dataclass(frozen=True)
class SignerSettings:
    """``base_url`` prefixes verification URLs; ``tsa_accuracy_ms`` is claimed in every token."""

    base_url: str
    tsa_policy_oid: str
    max_pdf_bytes: int = 50 * 1024 * 1024
    tsa_accuracy_ms: int = 1000


@dataclass(frozen=True)
class Sealed:
    document_id: str
    pdf: bytes
    sha256: str
    verify_url: str
    seal_serial: str


def default_stamp(fields: dict) -> tuple[Any, dict]:
    """The Thai/English stamp with a QR code of the verification URL (signer/sealing/stamp.py)."""
    import logging

    from .stamp import StampInfo, stamp_style, stamp_text_params

    # fontTools reports each table it cannot subset at WARNING; that is not news for a stamp.
    logging.getLogger("fontTools").setLevel(logging.ERROR)

    return stamp_style(), stamp_text_params(StampInfo(**fields))


def new_document_id() -> str:
    return "DOC-" + base64.b32encode(secrets.token_bytes(10)).decode().rstrip("=")


@contextlib.contextmanager
def unvalidated_chain(level: str) -> Iterator[None]:
    """A long-term level embeds the status of every certificate of the chain (ETSI EN 319 142-1
    5.4, B-LT): when pyHanko cannot validate the chain with the status govca holds, that is a fault
    of the service's revocation data (a parent's status never fetched, or one that says revoked),
    not of the client's PDF: 503, naming it, never "the file's structure is broken"."""
    from pyhanko.sign.general import SigningError
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

    try:
        yield
    except SigningError as exc:
        cause = exc.__cause__
        if not isinstance(cause, (PathBuildingError, PathValidationError)):
            raise
        raise UnavailableError(
            f"level {level} embeds the status of every certificate of the chain, and the chain does not validate "
            f"with the status govca holds ({str(cause).rstrip('.')}): an administrator checks `govca ca list` "
            "and runs `govca ca refresh-parent` for a CA certified by an external parent") from None


def common_name(cert_der: bytes) -> str:
    attrs = x509.load_der_x509_certificate(cert_der).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


class SealingService:
    def __init__(self, repo: SignerRepository, keys: Any, status: StatusLookup, revocation: RevocationSource,
                 audit: Audit, settings: SignerSettings, clock: Callable[[], dt.datetime]) -> None:
        self.repo, self.keys, self.status, self.revocation = repo, keys, status, revocation
        self.audit, self.settings, self.clock = audit, settings, clock
        self.verifier = SecretVerifier()
        self._tsa: tuple[float, TsaUnit | None] = (-1e9, None)
        # One per process: pyHanko keeps a sizing token per digest algorithm in it, which
        # otherwise costs an extra TSA token for every B-T..B-LTA document.
        self._timestamper = InProcessTimeStamper(self.timestamp, lambda: getattr(self.tsa_unit(), "cert_der", None))

    # --- TSA -------------------------------------------------------------------------------
    def tsa_unit(self) -> TsaUnit | None:
        """The current TSA unit, re-read every minute (a renewed TSA is picked up without restart)."""
        loaded_at, unit = self._tsa
        if time.monotonic() - loaded_at < 60:
            return unit
        record = self.repo.current_tsa()
        unit = None if record is None else TsaUnit(
            cert_der=record.cert_der, chain_der=record.chain_der, key=self.keys.get_key(record.key_uri),
            policy_oid=self.settings.tsa_policy_oid, accuracy_ms=self.settings.tsa_accuracy_ms)
        self._tsa = (time.monotonic(), unit)
        return unit

    def timestamp(self, query_der: bytes) -> bytes:
        unit = self.tsa_unit()
        if unit is None:
            raise UnavailableError("no TSA is set up: run `govca tsa setup --ca NAME`")
        try:
            return build_response(query_der, unit, self.clock(), new_serial())
        except Exception as exc:  # noqa: BLE001 - a token fault: the sealing request is refused, not crashed
            raise UnavailableError(f"the TSA could not sign a time-stamp ({type(exc).__name__})") from None

    # --- authentication ----------------------------------------------------------------------
    def authenticate(self, header: str | None, action: str = "seal.authenticate") -> ApiClient:
        """The API client of ``Authorization: Bearer gvc_<id>_<secret>``. Every refusal is audited
        and counted against the client's address (signer/throttle.py): past the limit it is a 429,
        and an address past it gets no (slow) check against an old scrypt record."""
        parsed = parse_token(header)
        if parsed is None:
            throttle.refuse(self.audit, "api:anonymous", action, "-", {"error": "no or malformed bearer token"})
            raise UnauthenticatedError("send `Authorization: Bearer <API client token>`")
        client_id, secret = parsed
        actor = f"api:client-{client_id}"
        try:
            client = self.repo.get_client(client_id)
        except NotFoundError:
            client = None
        if client is not None and is_slow(client.secret_hash) and (wait := throttle.over_limit()) is not None:
            throttle.refuse(self.audit, actor, action, "-", {"error": "not checked: address past its limit"})
            throttle.mark_retry_after(wait)
            raise throttle.ThrottledError(wait)
        if client is None or not self.verifier.verify(client_id, secret, client.secret_hash):
            throttle.refuse(self.audit, actor, action, "-", {"error": "bad credentials"})
            raise UnauthenticatedError("the API client token is not valid")
        if client.revoked_at is not None:
            throttle.refuse(self.audit, actor, action, client.agency_code, {"error": "client revoked"})
            raise UnauthenticatedError(f"API client {client_id} was revoked on {client.revoked_at:%Y-%m-%d}")
        return client

    # --- sealing ---------------------------------------------------------------------------
    def choose_seal(self, client: ApiClient, seal_serial: str | None) -> Seal:
        """The client's agency's seal: the one asked for, else its newest usable one."""
        now = self.clock()
        if seal_serial:
            seal = self.repo.get_seal(seal_serial.upper())
            if seal.agency_code != client.agency_code:
                raise ForbiddenError(f"API client {client.id} of agency {client.agency_code} may not use the seal "
                                     f"of agency {seal.agency_code}")
            candidates = [seal]
        else:
            candidates = self.repo.seals_of(client.agency_code)
            if not candidates:
                raise ForbiddenError(f"agency {client.agency_code} has no seal: run `govca agency seal issue`")
        reasons = []
        for seal in candidates:
            state = self.status(seal.ca_name, seal.serial_hex)
            if state is CertStatus.REVOKED:
                reasons.append(f"the seal certificate {seal.serial_hex} of agency {seal.agency_code} is revoked")
            elif seal.not_after <= now:
                reasons.append(f"the seal certificate {seal.serial_hex} expired on {seal.not_after:%Y-%m-%d}")
            elif state is not CertStatus.GOOD:
                reasons.append(f"the status of seal certificate {seal.serial_hex} is unknown")
            else:
                return seal
        raise ForbiddenError("; ".join(reasons) + ": a revoked or expired seal cannot sign")

    def seal(self, client: ApiClient, pdf: bytes, options: SignOptions, seal_serial: str | None = None,
             stamp: Callable[[dict], tuple[Any, dict]] | None = None, data_parts: Sequence[DataPart] = ()) -> Sealed:
        """Seal ``pdf``; ``data_parts`` are embedded as PDF/A-3 associated files under the
        signature (signer/sealing/attachments.py, docs/pdfa.md)."""
        actor = f"api:client-{client.id}"
        try:
            reader = check_pdf(pdf, self.settings.max_pdf_bytes, options.certify,
                               page=options.page if options.stamp and stamp is not None else None, box=options.box)
            options = self.check_data_and_pdfa(pdf, reader, options, stamp is not None, data_parts)
            seal = self.choose_seal(client, seal_serial)
            return self._seal(client, seal, pdf, options, stamp, reader, data_parts)
        except SignerError as exc:
            self.audit(actor, "seal.sign", client.agency_code, "refused",
                       {"error": str(exc), "status": exc.status, "seal": seal_serial})
            raise

    def check_data_and_pdfa(self, pdf: bytes, reader: Any, options: SignOptions, stamp: bool,
                            data_parts: Sequence[DataPart]) -> SignOptions:
        """Refuse data parts that cannot be embedded and seals that would break a PDF/A claim;
        the options to sign with (no stamp where the PDF/A option asks for that)."""
        if data_parts:
            check_data_parts(data_parts, self.settings.max_pdf_bytes - len(pdf))
            with mapped("reading the document's signatures"):
                refuse_on_signed(reader)
        plan = pdfa_plan(reader, len(data_parts), options.stamp and stamp, options.pdfa)
        return replace(options, stamp=False) if options.stamp and stamp and not plan.stamp else options

    def _seal(self, client: ApiClient, seal: Seal, pdf: bytes, options: SignOptions,
              stamp: Callable[[dict], tuple[Any, dict]] | None, reader: Any,
              data_parts: Sequence[DataPart] = ()) -> Sealed:
        material = SigningMaterial(seal.cert_der, seal.chain_der, self.keys.get_key(seal.key_uri))
        sealed = self.sign_registered(client, material, seal.serial_hex, "seal", pdf, options, stamp, reader,
                                      data_parts)
        self.audit(f"api:client-{client.id}", "seal.sign", client.agency_code, "success", {
            "document": sealed.document_id, "sha256": sealed.sha256, "seal": seal.serial_hex,
            "level": options.level.value, **({"data_parts": [p.name for p in data_parts]} if data_parts else {})})
        return sealed

    def sign_registered(self, client: ApiClient, material: SigningMaterial, serial_hex: str, signer_kind: str,
                        pdf: bytes, options: SignOptions, stamp: Callable[[dict], tuple[Any, dict]] | None,
                        reader: Any, data_parts: Sequence[DataPart] = ()) -> Sealed:
        """PAdES-sign ``pdf`` with ``material`` (a seal, or an official after authorisation), with
        govca's TSA and revocation data as the level needs, and register the result. ``reader`` is
        what :func:`check_pdf` returned for ``pdf``: every caller checks the input first."""
        now = self.clock()
        if options.stamp and certification(reader) is not None:
            # An approval seal on a certified document goes into an invisible field: a new widget
            # annotation is not among the changes DocMDP P=2 permits (ISO 32000-1 12.8.2.2.2,
            # Table 254), and validators (pyHanko, Acrobat's strict mode) would flag it.
            options = replace(options, stamp=False)
        agency = self.repo.get_agency(client.agency_code)
        doc_id = new_document_id()
        verify_url = f"{self.settings.base_url.rstrip('/')}/verify/{doc_id}"
        chain = material.chain_der
        timestamper = context = None
        if options.level.timestamped:
            unit = self.tsa_unit()
            if unit is None:
                raise UnavailableError(f"level {options.level.value} needs the TSA: run `govca tsa setup --ca NAME`")
            timestamper = self._timestamper
            if options.level.long_term:
                # Each certificate of the signer's and the TSA's chains with its issuer (docs/ltv.md).
                pairs = [(material.cert_der, chain[0]), (unit.cert_der, unit.chain_der[0])]
                pairs += [(a, b) for c in (chain, unit.chain_der) for a, b in zip(c, c[1:])]
                context = validation_context((chain[-1],), chain + unit.chain_der + (unit.cert_der,),
                                             self.revocation(pairs), now)
        style = params = None
        signer_cn = common_name(material.cert_der)
        if options.stamp and stamp is not None:
            style, params = stamp({"agency_th": agency.name_th, "agency_en": agency.name_en, "signer": signer_cn,
                                   "signed_at": now, "document_id": doc_id, "verify_url": verify_url,
                                   "kind": signer_kind})
        with mapped("signing the PDF"), unvalidated_chain(options.level.value):
            # mapped: objects the checks did not read; a broken one is a 400, not a 500
            signed = sign_pdf(pdf, material, options, timestamper=timestamper, context=context, stamp_style=style,
                              stamp_params=params, signer_name=signer_cn, reader=reader, data_parts=data_parts,
                              now=now)
        digest = hashlib.sha256(signed).hexdigest()
        self.repo.register(doc_id, digest, agency.code, serial_hex, signer_kind, options.level.value,
                           options.subfilter, len(signed), client.id, now)
        return Sealed(doc_id, signed, digest, verify_url, serial_hex)
