"""CSC API v2.0.0.2 under /csc/v2/: v2 field names (``hashes``, ``hashAlgorithmOID``,
``authData``, the ``auth`` object) and error codes, over the same core as v1; plus
signatures/signDoc for PDFs (PAdES with the credential's key and govca's TSA)."""
from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import replace
from typing import Any, Callable

from flask import Blueprint, Response, jsonify

from .csc import EC_ALGOS, HASH_OIDS, RSA_ALGOS, CscError, Credential, RemoteSigning, b64_list
from .csc_http import BearerClients, cert_object, csc_error, json_body, refusals_audited
from ..errors import SignerError
from ..sealing.pades import Level, SignOptions
from ..sealing.pdfa import plan as pdfa_plan
from ..pdf_checks import check_pdf
from ..registry import ApiClient
from ..sealing.service import SealingService, default_stamp

METHODS = ["auth/login", "credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash",
           "signatures/signDoc"]
LEVELS = {"ades-b-b": Level.B_B, "ades-b-t": Level.B_T, "ades-b-lt": Level.B_LT, "ades-b-lta": Level.B_LTA,
          "ades-b": Level.B_B, "ades-t": Level.B_T, "ades-lt": Level.B_LT, "ades-lta": Level.B_LTA}


def _auth_object(cred: Credential) -> dict[str, Any]:
    if cred.scal != "2":
        return {"mode": "explicit", "objects": []}  # v2 drops implicit mode (docs/csc.md, credentials/info)
    return {"mode": "explicit", "expression": "PIN AND OTP", "objects": [
        {"type": "Password", "id": "PIN", "format": "N", "label": "PIN",
         "description": "รหัส PIN ของผู้ลงนาม / the official's PIN"},
        {"type": "Password", "id": "OTP", "format": "N", "generator": "totp", "label": "OTP",
         "description": "รหัสจากแอปยืนยันตัวตน (TOTP, RFC 6238) / the code from the authenticator app"}]}


def _info(cred: Credential, which: str, cert_info: bool) -> dict[str, Any]:
    cert = cert_object(cred, which, cert_info)
    return {"description": cred.label, "key": cred.key_info(), "cert": cert, "auth": _auth_object(cred),
            "SCAL": cred.scal, "multisign": cred.multisign, "lang": "th-TH"}


def _documents(data: dict[str, Any], cred: Credential, max_pdf_bytes: int) -> list[tuple[bytes, SignOptions, Any]]:
    """signDoc's documents, each decoded and checked (check_pdf) before the SAD is spent on any."""
    if "documentDigests" in data and "documents" in data:
        raise CscError("invalid_request", "Both documentDigests and documents parameters passed")
    documents = data.get("documents")
    if data.get("documentDigests"):
        raise CscError("invalid_request", "Invalid parameter documentDigests: send the PDF in documents")
    if not isinstance(documents, list) or not documents:
        raise CscError("invalid_request", "Empty documentDigests and documents objects")
    if not cred.enabled:
        raise CscError("invalid_request", "The credential identified by credentialID is disabled")
    parsed = []
    for item in documents:
        if not isinstance(item, dict) or item.get("signature_format") != "P":
            raise CscError("invalid_request", "Invalid parameter signature_format: only P (PAdES) is served")
        if not isinstance(item.get("document"), str) or not item["document"]:
            raise CscError("invalid_request", "Missing (or invalid type) string parameter document")
        try:
            pdf = base64.b64decode(item["document"], validate=True)
        except (binascii.Error, ValueError):
            raise CscError("invalid_request", "Invalid Base64 document string parameter") from None
        level = LEVELS.get(str(item.get("conformance_level", "Ades-B-B")).lower())
        if level is None:
            raise CscError("invalid_request", "Invalid parameter conformance_level")
        envelope = item.get("signed_envelope_property", "Certification")
        if envelope not in ("Certification", "Revision"):
            raise CscError("invalid_request", "Invalid parameter signed_envelope_property")
        options = SignOptions(level=level, certify=envelope == "Certification", stamp=cred.kind == "seal")
        try:  # every document checked before the SAD is spent on any of them
            reader = check_pdf(pdf, max_pdf_bytes, options.certify, page=options.page if options.stamp else None,
                               box=options.box)
            # A seal's stamp on a PDF/A document without an RGB output intent would break its claim
            # (ISO 19005-2/-3 6.2.4.3); signDoc has no option for it: the seal goes into an
            # invisible field and the document stays PDF/A (docs/pdfa.md).
            if options.stamp and not pdfa_plan(reader, 0, True, "without-stamp").stamp:
                options = replace(options, stamp=False)
        except SignerError as exc:
            raise CscError("invalid_request", f"Invalid document: {exc}", 400 if exc.status < 500 else 503) from None
        parsed.append((pdf, options, reader))
    return parsed


def csc_v2_blueprint(core: RemoteSigning, sealing: SealingService, authenticate: Callable[[str | None], ApiClient],
                     client_by_id: Callable[[int], ApiClient]) -> Blueprint:
    bp = Blueprint("csc_v2", __name__, url_prefix="/csc/v2")
    client = BearerClients(core, authenticate, client_by_id)

    @bp.errorhandler(CscError)
    def _csc(exc: CscError) -> Response:
        return csc_error(exc)

    @bp.post("/info")
    def info() -> Response:
        return jsonify({"specs": "2.0.0.2", "name": "govca remote signing", "logo": "", "region": "TH",
                        "lang": "th-TH", "description": "Government CA of Thailand: remote signing (ขมธอ. 36-2566)",
                        "authType": ["basic"], "methods": METHODS,
                        "signAlgorithms": {"algos": list(RSA_ALGOS) + list(EC_ALGOS)},
                        "signature_formats": {"formats": ["P"], "envelope_properties": [["Certification", "Revision"]]},
                        "conformance_levels": ["Ades-B-B", "Ades-B-T", "Ades-B-LT", "Ades-B-LTA"]})

    @bp.post("/auth/login")
    def login() -> Response:
        token, lifetime = client.login()
        return jsonify({"access_token": token, "expires_in": lifetime})

    @bp.post("/credentials/list")
    def credentials_list() -> Response:
        c, data = client(), json_body()
        if data.get("userID") is not None:
            raise CscError("invalid_request", "userID parameter MUST be null")
        which = data.get("certificates", "single")
        if which not in ("none", "single", "chain"):
            raise CscError("invalid_request", "Invalid parameter certificates")
        creds = [cr for cr in core.credentials(c) if cr.enabled or not data.get("onlyValid")]
        out: dict[str, Any] = {"credentialIDs": [cr.id for cr in creds]}
        if data.get("credentialInfo"):
            out["credentialInfos"] = [{"credentialID": cr.id, **_info(cr, which, bool(data.get("certInfo")))}
                                      for cr in creds]
        if data.get("onlyValid"):
            out["onlyValid"] = True
        return jsonify(out)

    @bp.post("/credentials/info")
    def credentials_info() -> Response:
        c, data = client(), json_body()
        cred = core.credential(c, data.get("credentialID"))
        which = data.get("certificates", "single")
        if which not in ("none", "single", "chain"):
            raise CscError("invalid_request", "Invalid parameter certificates")
        return jsonify(_info(cred, which, bool(data.get("certInfo"))))

    @bp.post("/credentials/authorize")
    def authorize() -> Response:
        c, data = client(), json_body()
        cred = core.credential(c, data.get("credentialID"))
        hashes = None
        factors: dict[str, str] = {}
        with refusals_audited(core, c, cred.id, "csc.authorize"):
            if "hashes" in data:
                if data.get("hashAlgorithmOID") not in HASH_OIDS:
                    raise CscError("invalid_request", "Invalid parameter hashAlgorithmOID")
                hashes = b64_list(data["hashes"], "hashes")
            auth_data = data.get("authData")
            if auth_data is not None and not isinstance(auth_data, list):
                raise CscError("invalid_request", "Invalid parameter authData")
            for item in auth_data or []:
                if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                    raise CscError("invalid_request", "Invalid parameter authData")
                if isinstance(item.get("value"), str):
                    factors[item["id"]] = item["value"]
        sad, expires = core.authorize(c, cred, data.get("numSignatures"), hashes, factors.get("PIN"),
                                      factors.get("OTP"), version=2)
        return jsonify({"SAD": sad, "expiresIn": expires})

    @bp.post("/signatures/signHash")
    def sign_hash() -> Response:
        c, data = client(), json_body()
        cred = core.credential(c, data.get("credentialID"))
        # docs/csc.md interop rule 5: also accept v1's hash/hashAlgo, so v1-shaped clients work here.
        with refusals_audited(core, c, cred.id, "csc.signHash"):
            hashes = b64_list(data.get("hashes", data.get("hash")), "hashes")
        signatures = core.sign_hash(c, cred, data.get("SAD"), hashes, data.get("signAlgo"),
                                    data.get("hashAlgorithmOID", data.get("hashAlgo")))
        return jsonify({"signatures": [base64.b64encode(s).decode() for s in signatures]})

    @bp.post("/signatures/signDoc")
    def sign_doc() -> Response:
        c, data = client(), json_body()
        cred = core.credential(c, data.get("credentialID"))
        with refusals_audited(core, c, cred.id, "csc.signDoc"):
            parsed = _documents(data, cred, sealing.settings.max_pdf_bytes)
        # SCAL2: the SAD covers these exact documents (the SHA-256 of each as sent).
        digests = [hashlib.sha256(pdf).digest() for pdf, _, _ in parsed]
        core.redeem(c, cred, data.get("SAD"), digests, "csc.signDoc",
                    CscError("invalid_hash", "Document or documentDigest does not match authroized hash", 403))
        out, ids = [], []
        for (pdf, options, reader), digest in zip(parsed, digests):
            try:
                sealed = sealing.sign_registered(c, core.material(cred), f"{cred.cert.serial_number:X}",
                                                 cred.kind, pdf, options, default_stamp, reader)
            except SignerError as exc:
                core.audit(f"api:client-{c.id}", "csc.signDoc", cred.id, "refused",
                           {"credential": cred.id, "hashes": [digest.hex()], "error": str(exc), "status": exc.status})
                raise CscError("invalid_request", str(exc), 400 if exc.status < 500 else 503) from None
            core.audit(f"api:client-{c.id}", "csc.signDoc", cred.id, "success",
                       {"credential": cred.id, "hashes": [digest.hex()], "document": sealed.document_id,
                        "level": options.level.value})
            out.append(base64.b64encode(sealed.pdf).decode())
            ids.append(sealed.document_id)
        return jsonify({"DocumentWithSignature": out, "documentIDs": ids})

    return bp
