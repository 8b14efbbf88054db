"""HTTP edge of the built-in TSA: RFC 3161 3.4, ``POST /tsa``.

A time-stamp query answers HTTP 200 with a TimeStampResp whether the token was granted or the
query refused (RFC 3161 3.4); HTTP errors are kept for what is not a TSP exchange at all: an
oversized body (413) and a server with no TSA configured (503, a JSON problem).
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from flask import Blueprint, Response, jsonify, request

from .authority import FailInfo, TsaUnit, build_response, new_serial, rejection

TIMESTAMP_QUERY = "application/timestamp-query"
TIMESTAMP_REPLY = "application/timestamp-reply"
# A TimeStampReq is a few hundred bytes; 64 KiB leaves room for any extension and bounds the parse.
MAX_QUERY = 64 * 1024

log = logging.getLogger("govca.tsa")


def _problem(status: int, title: str, detail: str) -> tuple[Response, int]:
    return jsonify({"type": "about:blank", "title": title, "status": status, "detail": detail}), status


def _reply(der: bytes) -> Response:
    resp = Response(der, 200, content_type=TIMESTAMP_REPLY)
    # Every reply is unique (serial, time, nonce): no intermediary may cache it.
    resp.headers["Cache-Control"] = "no-store"
    return resp


def tsa_blueprint(unit_source: Callable[[], TsaUnit | None], clock: Callable[[], dt.datetime]) -> Blueprint:
    """``POST /tsa``. ``unit_source`` gives the time-stamping unit (None: no TSA configured);
    ``clock`` gives the current time (timezone-aware) for genTime."""
    bp = Blueprint("tsa", __name__)

    @bp.post("/tsa")
    def timestamp() -> Response | tuple[Response, int]:
        too_large = f"a time-stamp query is at most {MAX_QUERY} bytes"
        if (request.content_length or 0) > MAX_QUERY:
            return _problem(413, "Content Too Large", too_large)
        # Read at most one byte past the limit, so a body without Content-Length is bounded too.
        body = request.stream.read(MAX_QUERY + 1)
        if len(body) > MAX_QUERY:
            return _problem(413, "Content Too Large", too_large)
        # Any content type is read as a query: a body that is not one gets a badDataFormat rejection.
        try:
            unit = unit_source()
        except Exception:  # noqa: BLE001 - a TSA that cannot load its unit answers systemFailure
            log.exception("TSA unit unavailable")
            return _reply(rejection(FailInfo.SYSTEM_FAILURE, "the time-stamping unit is unavailable"))
        if unit is None:
            return _problem(503, "Service Unavailable", "no time-stamping unit is configured on this server")
        try:
            now = clock()
        except Exception:  # noqa: BLE001 - RFC 3161 2.4.2 timeNotAvailable: the time source failed
            log.exception("TSA time source unavailable")
            return _reply(rejection(FailInfo.TIME_NOT_AVAILABLE, "the time source is not available"))
        try:
            der = build_response(body, unit, now, new_serial())
        except Exception as exc:  # noqa: BLE001 - bad input never raises; this is the HSM or a bug
            log.exception("TSA could not sign a time-stamp token: %s", type(exc).__name__)
            der = rejection(FailInfo.SYSTEM_FAILURE, "the time-stamping unit could not sign; try again later")
        return _reply(der)

    return bp
