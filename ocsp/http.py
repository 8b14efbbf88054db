"""The repository of CA certificates and CRLs (the AIA caIssuers and CRL DP URLs).
OCSP itself is answered at the WSGI layer (ocsp/wsgi.py)."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Callable

from flask import Blueprint, Response, abort

from .wsgi import cache_headers

CA_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PARTITION = re.compile(r"^[0-9]{8}$")  # ca/partitions.py: the window's first day, YYYYMMDD


def repository_blueprint(source, clock: Callable[[], dt.datetime]) -> Blueprint:  # type: ignore[no-untyped-def]
    """/crl/<ca>.crl (DER, the newest full CRL), /crl/<ca>/<partition>.crl (the newest CRL of a
    partition) and /certs/<ca>.crt (DER CA certificate)."""
    bp = Blueprint("repository", __name__)

    @bp.get("/crl/<name>.crl")
    def crl(name: str) -> Response:
        if not CA_NAME.match(name):
            abort(404, description=f"no CA named {name!r}")
        found = source.latest_crl(name)
        if found is None:
            abort(404, description=f"no CRL published for CA {name!r}")
        return _crl_response(*found)

    def _crl_response(der: bytes, this_update: dt.datetime, next_update: dt.datetime) -> Response:
        resp = Response(der, 200, content_type="application/pkix-crl")
        resp.headers.extend(cache_headers(der, this_update, next_update, clock()))
        return resp

    @bp.get("/crl/<name>/<partition>.crl")
    def crl_partition(name: str, partition: str) -> Response:
        """One CRL partition (RFC 5280 5.2.5: the URL its issuingDistributionPoint names)."""
        if not CA_NAME.match(name) or not PARTITION.match(partition):
            abort(404, description="no such CRL partition")
        found = source.crl_of(name, partition)
        if found is None:
            abort(404, description=f"no CRL published for partition {partition} of CA {name!r}")
        return _crl_response(*found)

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
