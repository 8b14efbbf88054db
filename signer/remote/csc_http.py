"""What both CSC API versions share at the HTTP edge: JSON bodies, bearer tokens, the error body."""
from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Iterator

from flask import Response, jsonify, request

from .. import throttle
from .csc import CscError, RemoteSigning
from ..errors import SignerError
from ..throttle import ThrottledError
from ..registry import ApiClient


def csc_error(exc: CscError) -> Response:
    """CSC error model: ``{"error", "error_description"}`` with the HTTP status."""
    resp = jsonify({"error": exc.error, "error_description": exc.description})
    resp.status_code = exc.status
    return resp


JSON_MAX_BYTES = 1024 * 1024  # CSC JSON bodies but signDoc's (PDFs in base64: MAX_CONTENT_LENGTH bounds those)
JSON_MAX_DEPTH = 16  # the deepest CSC body (signDoc's documents[].document) is 3 levels


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:  # iterative: each container is visited once, the body is bounded
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > JSON_MAX_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def json_body() -> dict[str, Any]:
    """The JSON object of a CSC request (an empty body is ``{}``); anything else is a 400
    ``invalid_request``, a body over the limit a 413, in the CSC error model."""
    limit = None if request.path.endswith("/signatures/signDoc") else JSON_MAX_BYTES
    if limit is not None and (request.content_length or 0) > limit:
        raise CscError("invalid_request", f"The request body is over the {limit:,}-byte limit", 413)
    raw = request.get_data(cache=True)
    if limit is not None and len(raw) > limit:
        raise CscError("invalid_request", f"The request body is over the {limit:,}-byte limit", 413)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except RecursionError:
        raise CscError("invalid_request", "The request body is nested too deeply") from None
    except ValueError:  # not JSON, not UTF-8/16/32, or an integer of more than 4,300 digits
        raise CscError("invalid_request", "The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise CscError("invalid_request", "The request body must be a JSON object")
    if _too_deep(data):
        raise CscError("invalid_request", "The request body is nested too deeply")
    return data


class BearerClients:
    """The API client behind ``Authorization: Bearer``: a CSC access token from auth/login, or
    the agency's API token itself (as in the sealing API). Every refusal is audited and counted
    against the client's address; past the limit the answer is 429 with Retry-After (RFC 6585 4,
    signer/throttle.py), in the CSC error model."""

    def __init__(self, core: RemoteSigning, authenticate: Callable[..., ApiClient],
                 client_by_id: Callable[[int], ApiClient]) -> None:
        self.core, self.authenticate, self.client_by_id = core, authenticate, client_by_id

    def __call__(self, malformed: str = "Malformed authorization header.") -> ApiClient:
        try:
            return self._client(request.headers.get("Authorization", ""), malformed)
        except ThrottledError as exc:
            raise _too_many(exc) from None

    def _client(self, header: str, malformed: str) -> ApiClient:
        if not header.startswith("Bearer "):
            throttle.refuse(self.core.audit, "api:anonymous", "csc.authenticate", "-",
                            {"error": "no or malformed bearer token"})
            raise CscError("invalid_request", malformed)
        client_id = self.core.client_of_token(header[len("Bearer "):].strip())
        if client_id is None:  # not a CSC access token: the agency's API token, or nothing valid
            try:
                return self.authenticate(header, action="csc.authenticate")
            except ThrottledError:
                raise
            except SignerError:
                raise CscError("invalid_token", "The access token is not valid", 401) from None
        try:
            found: ApiClient | None = self.client_by_id(client_id)
        except SignerError:
            found = None
        if found is None or found.revoked_at is not None:
            throttle.refuse(self.core.audit, f"api:client-{client_id}", "csc.authenticate", "-",
                            {"error": "client revoked" if found is not None else "no such client"})
            raise CscError("invalid_token", "The access token is not valid", 401)
        return found

    def login(self) -> tuple[str, int]:
        """auth/login with HTTP Basic: userID = API client id, password = its secret (the token
        without its ``gvc_<id>_`` prefix) or the whole token."""
        try:
            return self.core.login(self._login(request.headers.get("Authorization", "")))
        except ThrottledError as exc:
            raise _too_many(exc) from None

    def _login(self, header: str) -> ApiClient:
        import base64
        import binascii

        audit = self.core.audit
        if not header.startswith("Basic "):
            throttle.refuse(audit, "api:anonymous", "csc.login", "-", {"error": "no basic credentials"})
            raise CscError("invalid_request", "Malformed authentication parameter.", 401)
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            throttle.refuse(audit, "api:anonymous", "csc.login", "-", {"error": "malformed basic credentials"})
            raise CscError("invalid_request", "Malformed username-password.") from None
        # The password is the secret, or the whole API token as `apiclient create` prints it
        # (whose client id must then be the userID).
        token = password if password.startswith(f"gvc_{user}_") else f"gvc_{user}_{password}"
        try:
            return self.authenticate(f"Bearer {token}", action="csc.login")
        except ThrottledError:
            raise
        except SignerError:
            raise CscError("authentication_error", "An error occurred during authentication process") from None


def _too_many(exc: ThrottledError) -> CscError:
    """429 in the CSC error model (RFC 6585 4); Retry-After is set by signer/throttle.py."""
    return CscError("invalid_request", f"Too many failed or unauthenticated requests from this address; retry "
                                       f"after {exc.retry_after} seconds", 429)


@contextlib.contextmanager
def refusals_audited(core: RemoteSigning, client: ApiClient, credential_id: str, action: str) -> Iterator[None]:
    """The adapters' own checks of an authorise or sign request (hash arrays, authData, the
    documents of signDoc): a refusal there is audited like the core's (every attempt is)."""
    try:
        yield
    except CscError as exc:
        core.audit(f"api:client-{client.id}", action, credential_id, "refused",
                   {"credential": credential_id, "error": exc.description})
        raise


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
