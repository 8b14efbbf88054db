"""What both CSC API versions share at the HTTP edge: JSON bodies, bearer tokens, the error body."""
from __future__ import annotations

from typing import Any, Callable

from flask import Response, jsonify, request

from .csc import CscError, RemoteSigning
from .errors import SignerError
from .registry import ApiClient


def csc_error(exc: CscError) -> Response:
    """CSC error model: ``{"error", "error_description"}`` with the HTTP status."""
    resp = jsonify({"error": exc.error, "error_description": exc.description})
    resp.status_code = exc.status
    return resp


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    if data is None:
        data = {} if not request.get_data() else None
    if not isinstance(data, dict):
        raise CscError("invalid_request", "The request body must be a JSON object")
    return data


class BearerClients:
    """The API client behind ``Authorization: Bearer``: a CSC access token from auth/login, or
    the agency's API token itself (as in the sealing API)."""

    def __init__(self, core: RemoteSigning, authenticate: Callable[[str | None], ApiClient],
                 client_by_id: Callable[[int], ApiClient]) -> None:
        self.core, self.authenticate, self.client_by_id = core, authenticate, client_by_id

    def __call__(self, malformed: str = "Malformed authorization header.") -> ApiClient:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise CscError("invalid_request", malformed)
        client_id = self.core.client_of_token(header[len("Bearer "):].strip())
        try:
            found = self.client_by_id(client_id) if client_id is not None else self.authenticate(header)
        except SignerError:
            found = None
        if found is None or found.revoked_at is not None:
            raise CscError("invalid_token", "The access token is not valid", 401)
        return found

    def login(self) -> tuple[str, int]:
        """auth/login with HTTP Basic: userID = API client id, password = its secret."""
        import base64
        import binascii

        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            raise CscError("invalid_request", "Malformed authentication parameter.", 401)
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise CscError("invalid_request", "Malformed username-password.") from None
        try:
            client = self.authenticate(f"Bearer gvc_{user}_{password}")
        except SignerError:
            raise CscError("authentication_error", "An error occurred during authentication process") from None
        return self.core.login(client)


def cert_object(cred: Any, which: Any, cert_info: bool) -> dict[str, Any]:
    """The ``cert`` object of credentials/info, the same in v1 and v2."""
    import base64

    if which not in ("none", "single", "chain"):
        raise CscError("invalid_request", "Invalid parameter certificates")
    cert: dict[str, Any] = {"status": "valid" if cred.enabled else "suspended"}
    if which != "none":
        certs = [cred.cert_der] if which == "single" else [cred.cert_der, *cred.chain_der]
        cert["certificates"] = [base64.b64encode(d).decode() for d in certs]
    if cert_info:
        x = cred.cert
        cert.update({"issuerDN": x.issuer.rfc4514_string(), "subjectDN": x.subject.rfc4514_string(),
                     "serialNumber": f"{x.serial_number:X}",
                     "validFrom": x.not_valid_before_utc.strftime("%Y%m%d%H%M%SZ"),
                     "validTo": x.not_valid_after_utc.strftime("%Y%m%d%H%M%SZ")})
    return cert
