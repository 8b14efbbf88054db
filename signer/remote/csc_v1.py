"""CSC API v1.0.4.0 under /csc/v1/ (the version ขมธอ. 36-2566 cites and pyHanko's CSCSigner
speaks): field names and the error model of that version, over the core in signer/remote/csc.py."""
from __future__ import annotations

import base64
from typing import Any, Callable

from flask import Blueprint, Response, jsonify

from .csc import CscError, RemoteSigning, b64_list
from .csc_http import BearerClients, cert_object, csc_error, json_body, refusals_audited
from ..registry import ApiClient

METHODS = ["auth/login", "credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash"]


def csc_v1_blueprint(core: RemoteSigning, authenticate: Callable[[str | None], ApiClient],
                     client_by_id: Callable[[int], ApiClient]) -> Blueprint:
    bp = Blueprint("csc_v1", __name__, url_prefix="/csc/v1")
    client = BearerClients(core, authenticate, client_by_id)
    body = json_body

    @bp.errorhandler(CscError)
    def _csc(exc: CscError) -> Response:
        return csc_error(exc)

    def _hashes(c: ApiClient, cred: Any, data: dict, action: str, required: bool = True) -> list[bytes] | None:
        """The ``hash`` array; a bad one is refused and audited (every attempt is)."""
        if not required and "hash" not in data:
            return None
        with refusals_audited(core, c, cred.id, action):
            return b64_list(data.get("hash"), "hash")

    @bp.post("/info")
    def info() -> Response:
        return jsonify({"specs": "1.0.4.0", "name": "govca remote signing", "logo": "", "region": "TH",
                        "lang": "th-TH", "description": "Government CA of Thailand: remote signing (ขมธอ. 36-2566)",
                        "authType": ["basic"], "methods": METHODS})

    @bp.post("/auth/login")
    def login() -> Response:
        token, lifetime = client.login()
        return jsonify({"access_token": token, "expires_in": lifetime})

    @bp.post("/credentials/list")
    def credentials_list() -> Response:
        c, data = client(), body()
        if data.get("userID") is not None:
            raise CscError("invalid_request", "userID parameter MUST be null")
        return jsonify({"credentialIDs": [cred.id for cred in core.credentials(c)]})

    @bp.post("/credentials/info")
    def credentials_info() -> Response:
        c, data = client(), body()
        cred = core.credential(c, data.get("credentialID"))
        cert = cert_object(cred, data.get("certificates", "single"), bool(data.get("certInfo")))
        out: dict[str, Any] = {"description": cred.label, "key": cred.key_info(), "cert": cert, "SCAL": cred.scal,
                               "multisign": cred.multisign, "lang": "th-TH"}
        if cred.scal == "2":
            out.update({"authMode": "explicit",
                        "PIN": {"presence": "true", "format": "N", "label": "PIN",
                                "description": "รหัส PIN ของผู้ลงนาม / the official's PIN"},
                        "OTP": {"presence": "true", "type": "offline", "format": "N", "ID": "totp",
                                "provider": "govca", "label": "OTP",
                                "description": "รหัสจากแอปยืนยันตัวตน (TOTP, RFC 6238) / the code from the "
                                               "authenticator app"}})
        else:
            out["authMode"] = "implicit"
        return jsonify(out)

    @bp.post("/credentials/authorize")
    def authorize() -> Response:
        c, data = client(), body()
        cred = core.credential(c, data.get("credentialID"))
        hashes = _hashes(c, cred, data, "csc.authorize", required=False)
        sad, expires = core.authorize(c, cred, data.get("numSignatures"), hashes, data.get("PIN"), data.get("OTP"),
                                      version=1)
        return jsonify({"SAD": sad, "expiresIn": expires})

    @bp.post("/signatures/signHash")
    def sign_hash() -> Response:
        c, data = client(), body()
        cred = core.credential(c, data.get("credentialID"))
        signatures = core.sign_hash(c, cred, data.get("SAD"), _hashes(c, cred, data, "csc.signHash"),
                                    data.get("signAlgo"), data.get("hashAlgo"))
        return jsonify({"signatures": [base64.b64encode(s).decode() for s in signatures]})

    return bp
