"""The WSGI application of `govca serve`: app factory, blueprints, one JSON error handler,
/healthz and /metrics. Served by gunicorn with several worker processes, each opening the
PKCS#11 library itself after the fork."""
from __future__ import annotations

import atexit
import logging
import os
import signal
import time
from pathlib import Path

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from ca.context import utcnow
from ca.storage.db import Database
from ocsp.http import repository_blueprint
from ocsp.wsgi import OcspWsgi
from signer.sealing.http import sealing_blueprint
from signer.sealing.service import default_stamp
from signer.tsa.http import tsa_blueprint
from signer.remote.csc_v1 import csc_v1_blueprint
from signer.remote.csc_v2 import csc_v2_blueprint
from signer.pdf_guard import retire_requested
from signer.throttle import install as install_throttle
from signer.verification.http import verification_blueprint
from signer.xades.http import xades_blueprint
from signer.xades.service import XadesService

from .compose import service_token
from .config import ConfigError, load_config
from .contexts import process_contexts
from .metrics import Metrics
from .ocsp_wiring import build_responder
from .signer_wiring import (build_error_audit, build_remote_signing, build_sealing_service, build_throttle,
                            build_verifier)

log = logging.getLogger("govca.web")


def create_app(home: Path | str | None = None) -> Flask:
    home = Path(home or os.environ["GOVCA_HOME"])
    cfg = load_config(home)
    if cfg.offline:  # issue 12: an offline root's data directory never serves, however it is started
        raise ConfigError(f"{home} is an offline root's data directory (offline = true): it is never served")
    db = Database(cfg.serve_database_url)  # the web role's URL on PostgreSQL ([serve] database_url)
    responder, reader = build_responder(cfg, db)
    token = service_token(cfg)  # never the CA token (issue 11, custody by context)
    metrics = Metrics()
    sealing = build_sealing_service(cfg, db, token, responder, reader)
    verifier = build_verifier(cfg, db, sealing.revocation)

    app = Flask("govca")
    # Base64 may hold "//"; merging slashes would answer a GET request with a redirect.
    app.url_map.merge_slashes = False
    # Room above the PDF limit, so that a too-large PDF gets its precise 413 from the handlers.
    app.config["MAX_CONTENT_LENGTH"] = (cfg.signer.max_pdf_mb + 16) * 1024 * 1024
    app.register_blueprint(repository_blueprint(reader, utcnow))
    app.register_blueprint(sealing_blueprint(sealing, default_stamp))
    app.register_blueprint(xades_blueprint(XadesService(sealing)))
    app.register_blueprint(tsa_blueprint(sealing.tsa_unit, utcnow))
    errors = build_error_audit(cfg, db)
    atexit.register(errors.close)
    app.register_blueprint(verification_blueprint(
        verifier, sealing.repo, refused=lambda address, path, details: errors.refuse(
            address, "public", "verify.upload", path, details)))
    remote = build_remote_signing(cfg, db, token, sealing, reader)
    install_throttle(app, build_throttle(cfg, db))
    app.register_blueprint(csc_v1_blueprint(remote, sealing.authenticate, sealing.repo.get_client))
    app.register_blueprint(csc_v2_blueprint(remote, sealing, sealing.authenticate, sealing.repo.get_client))

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _count(resp: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.observe_request(endpoint, request.method, resp.status_code, time.perf_counter() - g.get("started", 0))
        return resp

    @app.teardown_request
    def _retire(_exc: BaseException | None) -> None:
        # A request overran the PDF memory budget (signer/pdf_guard.py): gunicorn's sync worker
        # finishes this response on SIGTERM, then exits and is replaced.
        if retire_requested():
            os.kill(os.getpid(), signal.SIGTERM)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        checks = {}
        for name, probe in (("database", reader.ping), ("hsm", token.check)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - report, never crash
                checks[name] = f"unreachable ({type(exc).__name__})"
        ok = all(v == "ok" for v in checks.values())
        return jsonify({"status": "ok" if ok else "degraded", **checks, "contexts": process_contexts(cfg),
                        "custody": "shared-token" if cfg.tokens_shared else "separate-tokens"}), \
            200 if ok else 503

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(metrics.render(reader, responder.store, utcnow()), 200, content_type="text/plain; version=0.0.4")

    # OCSP is answered in front of Flask (ocsp/wsgi.py); every other path reaches the app.
    app.wsgi_app = OcspWsgi(responder, utcnow, metrics.observe_edge, app.wsgi_app)  # type: ignore[method-assign]

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        return jsonify({"type": "about:blank", "title": exc.name, "status": code, "detail": exc.description}), code

    @app.errorhandler(DBAPIError)
    def database_down(exc: DBAPIError) -> tuple[Response, int, dict]:
        log.error("database unavailable on %s %s: %s", request.method, request.path, type(exc.orig).__name__)
        return jsonify({"type": "about:blank", "title": "Service Unavailable", "status": 503,
                        "detail": "the certificate database is unavailable; try again shortly"}), 503, \
            {"Retry-After": "30"}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        try:  # every attempt is audited, a failed one too: the class of the error, never its text
            errors.refuse(request.remote_addr or "unknown", _actor(), "http.error", request.path[:200],
                          {"method": request.method, "path": request.path[:200], "error": type(exc).__name__},
                          outcome="failed")
        except Exception:  # noqa: BLE001 - an audit failure must not turn the 500 into something else
            log.error("the audit record of the error on %s %s could not be written", request.method, request.path)
        return jsonify({"type": "about:blank", "title": "Internal Server Error", "status": 500,
                        "detail": "an internal error occurred; it has been logged"}), 500

    return app


def _actor() -> str:
    """Who asked, as far as the request says without checking anything (no secret)."""
    from signer.credentials import parse_token

    parsed = parse_token(request.headers.get("Authorization"))
    return f"api:client-{parsed[0]}?" if parsed else "api:anonymous"
