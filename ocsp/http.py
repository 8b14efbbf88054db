"""HTTP edges of the public, read-only side: OCSP (RFC 6960 appendix A, RFC 5019) and the
repository of CA certificates and CRLs (the AIA caIssuers and CRL DP URLs)."""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from typing import Callable

from flask import Blueprint, Response, abort, request
from werkzeug.http import http_date

from .responder import OcspAnswer, OcspResponder

OCSP_RESPONSE = "application/ocsp-response"
MAX_OCSP_REQUEST = 16 * 1024
CA_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _cache_headers(resp: Response, body: bytes, this_update: dt.datetime, next_update: dt.datetime,
                   now: dt.datetime) -> Response:
    """RFC 5019 6.2: max-age up to nextUpdate, Last-Modified thisUpdate, Expires nextUpdate, ETag."""
    max_age = max(0, int((next_update - now).total_seconds()))
    resp.headers["Cache-Control"] = f"max-age={max_age}, public, no-transform, must-revalidate"
    resp.headers["Last-Modified"] = http_date(this_update)
    resp.headers["Expires"] = http_date(next_update)
    resp.headers["ETag"] = '"' + hashlib.sha1(body).hexdigest() + '"'
    return resp


def _decode_get_path(encoded: str) -> bytes | None:
    """RFC 6960 A.1: the base64 of the DER request, URL-encoded (Flask has undone the %-escapes)."""
    text = encoded.strip()
    for decoder in (lambda t: base64.b64decode(t, validate=True),
                    lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))):
        try:
            return decoder(text)
        except (binascii.Error, ValueError):
            continue
    return None


def ocsp_blueprint(responder: OcspResponder, clock: Callable[[], dt.datetime],
                   observe: Callable[[OcspAnswer], None] = lambda a: None) -> Blueprint:
    bp = Blueprint("ocsp", __name__)

    def answer(der: bytes | None, cacheable: bool) -> Response:
        result = responder.respond(der or b"")
        observe(result)
        resp = Response(result.der, 200, content_type=OCSP_RESPONSE)
        if result.status == "successful" and cacheable and result.this_update and result.next_update:
            resp = _cache_headers(resp, result.der, result.this_update, result.next_update, clock())
            if request.if_none_match and request.if_none_match.contains(resp.headers["ETag"].strip('"')):
                return Response(status=304, headers={k: v for k, v in resp.headers.items()
                                                     if k in ("Cache-Control", "ETag", "Expires", "Last-Modified")})
        else:
            resp.headers["Cache-Control"] = "no-store" if not cacheable else "max-age=0, no-cache"
        return resp

    @bp.post("/ocsp")
    @bp.post("/ocsp/")
    def ocsp_post() -> Response:
        if (request.content_length or 0) > MAX_OCSP_REQUEST:
            abort(413, description=f"an OCSP request is at most {MAX_OCSP_REQUEST} bytes")
        body = request.get_data(cache=False)
        if len(body) > MAX_OCSP_REQUEST:
            abort(413, description=f"an OCSP request is at most {MAX_OCSP_REQUEST} bytes")
        # A POST answer is not cacheable by intermediaries (RFC 5019 5), whatever its nonce.
        return answer(body, cacheable=False)

    @bp.get("/ocsp/", defaults={"encoded": ""})
    @bp.get("/ocsp/<path:encoded>")
    def ocsp_get(encoded: str) -> Response:
        if len(encoded) > MAX_OCSP_REQUEST * 2:
            abort(414, description="OCSP GET request too long; use POST")
        return answer(_decode_get_path(encoded), cacheable=True)

    return bp


def repository_blueprint(source, clock: Callable[[], dt.datetime]) -> Blueprint:  # type: ignore[no-untyped-def]
    """/crl/<ca>.crl (DER, the newest CRL) and /certs/<ca>.crt (DER CA certificate)."""
    bp = Blueprint("repository", __name__)

    @bp.get("/crl/<name>.crl")
    def crl(name: str) -> Response:
        if not CA_NAME.match(name):
            abort(404, description=f"no CA named {name!r}")
        found = source.latest_crl(name)
        if found is None:
            abort(404, description=f"no CRL published for CA {name!r}")
        der, this_update, next_update = found
        return _cache_headers(Response(der, 200, content_type="application/pkix-crl"), der, this_update,
                              next_update, clock())

    @bp.get("/certs/<name>.crt")
    def cert(name: str) -> Response:
        der = source.ca_certificate(name) if CA_NAME.match(name) else None
        if der is None:
            abort(404, description=f"no CA named {name!r}")
        resp = Response(der, 200, content_type="application/pkix-cert")
        resp.headers["Cache-Control"] = "max-age=86400, public"
        resp.headers["ETag"] = '"' + hashlib.sha1(der).hexdigest() + '"'
        return resp

    return bp
