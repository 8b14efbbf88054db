"""OCSP at the WSGI layer (RFC 6960 appendix A, RFC 5019), in front of the Flask application.

An OCSP answer is a few table lookups and, at most, one HSM signature; Flask's request context,
routing and response objects cost more than that, and relying parties send many requests.
So /ocsp is answered here and every other path goes on to the application behind.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import time
from typing import Any, Callable, Iterable

from werkzeug.http import http_date

from .responder import OcspAnswer, OcspResponder

OCSP_RESPONSE = "application/ocsp-response"
MAX_OCSP_REQUEST = 16 * 1024

Observe = Callable[[str, str, int, float, "OcspAnswer | None"], None]


def cache_headers(body: bytes, this_update: dt.datetime, next_update: dt.datetime,
                  now: dt.datetime) -> list[tuple[str, str]]:
    """RFC 5019 6.2: max-age up to nextUpdate, Last-Modified thisUpdate, Expires nextUpdate, ETag."""
    max_age = max(0, int((next_update - now).total_seconds()))
    return [("Cache-Control", f"max-age={max_age}, public, no-transform, must-revalidate"),
            ("Last-Modified", http_date(this_update)), ("Expires", http_date(next_update)),
            ("ETag", '"' + hashlib.sha1(body).hexdigest() + '"')]


def decode_get_path(encoded: str) -> bytes | None:
    """RFC 6960 A.1: the base64 of the DER request, URL-encoded (the server has undone the %-escapes)."""
    text = encoded.strip()
    for decoder in (lambda t: base64.b64decode(t, validate=True),
                    lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))):
        try:
            return decoder(text)
        except (binascii.Error, ValueError):
            continue
    return None


def _problem(status: int, title: str, detail: str) -> tuple[str, list[tuple[str, str]], bytes]:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    return f"{status} {title}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body


class OcspWsgi:
    def __init__(self, responder: OcspResponder, clock: Callable[[], dt.datetime], observe: Observe,
                 app: Callable[..., Iterable[bytes]]) -> None:
        self.responder, self.clock, self.observe, self.app = responder, clock, observe, app

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != "/ocsp" and not path.startswith("/ocsp/"):
            return self.app(environ, start_response)
        started = time.perf_counter()
        method = environ.get("REQUEST_METHOD", "GET")
        endpoint = "/ocsp" if method == "POST" else "/ocsp/<path:encoded>"
        answer = None
        try:
            if method == "POST":
                status, headers, body, answer = self._post(environ)
            elif method in ("GET", "HEAD"):
                status, headers, body, answer = self._get(environ, path[len("/ocsp/"):])
            else:
                status, headers, body = _problem(405, "Method Not Allowed", "OCSP takes GET and POST (RFC 6960 A.1)")
                headers.append(("Allow", "GET, POST"))
        except Exception:  # noqa: BLE001 - the responder already maps its faults; this is the last guard
            import logging

            logging.getLogger("govca.ocsp").exception("OCSP edge failed")
            status, headers, body = _problem(500, "Internal Server Error", "an internal error occurred")
        start_response(status, headers)
        self.observe(endpoint, method, int(status[:3]), time.perf_counter() - started, answer)
        return [b""] if method == "HEAD" else [body]

    def _post(self, environ: dict) -> tuple[str, list, bytes, OcspAnswer | None]:
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = -1
        if size < 0 or size > MAX_OCSP_REQUEST:
            return (*_problem(413, "Payload Too Large", f"an OCSP request is at most {MAX_OCSP_REQUEST} bytes"), None)
        der = environ["wsgi.input"].read(size) if size else b""
        answer = self.responder.respond(der)
        # A POST answer is not cacheable by intermediaries (RFC 5019 5), whatever its nonce.
        return "200 OK", [("Content-Type", OCSP_RESPONSE), ("Content-Length", str(len(answer.der))),
                          ("Cache-Control", "no-store")], answer.der, answer

    def _get(self, environ: dict, encoded: str) -> tuple[str, list, bytes, OcspAnswer | None]:
        if len(encoded) > MAX_OCSP_REQUEST * 2:
            return (*_problem(414, "URI Too Long", "OCSP GET request too long; use POST"), None)
        der = decode_get_path(encoded)
        answer = self.responder.respond(der or b"")
        headers = [("Content-Type", OCSP_RESPONSE), ("Content-Length", str(len(answer.der)))]
        if answer.status == "successful" and answer.this_update and answer.next_update:
            caching = cache_headers(answer.der, answer.this_update, answer.next_update, self.clock())
            etag = caching[-1][1]
            match = environ.get("HTTP_IF_NONE_MATCH", "")
            if match and (match.strip() == "*" or etag in [m.strip() for m in match.split(",")]):
                return "304 Not Modified", caching, b"", answer
            return "200 OK", headers + caching, answer.der, answer
        return "200 OK", headers + [("Cache-Control", "max-age=0, no-cache")], answer.der, answer
