"""The public verification page (Thai first, English on request) and POST /api/v1/verify.

Uploaded PDFs and XML documents are validated in memory and never stored. Everything the page
needs (styles, script, the Thai font) is served by govca itself: the page makes no external
request. A PDF's associated files (ISO 32000-2 14.13) are offered as ``data:`` links with the
``download`` attribute (HTML Living Standard 4.6.5), as the JSON report is: nothing is kept.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Callable, Optional

from flask import Blueprint, Response, jsonify, render_template, request, send_file

from ..errors import BadInputError, NotFoundError, SignerError, TooLargeError
from ..registry import Document, SignerRepository
from ..thai import DEFAULT_FONT, english_datetime, thai_datetime
from .text import FILE_PROBLEMS, RELATIONSHIPS
from .upload import check_upload
from .verify import Verifier

DOC_ID = re.compile(r"^DOC-[A-Z2-7]{16}$")
TEMPLATES = Path(__file__).parent / "templates"

def _record(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "sha256": doc.sha256, "agency": {"code": doc.agency.code, "name_th": doc.agency.name_th,
            "name_en": doc.agency.name_en}, "level": doc.level, "seal_serial": doc.seal_serial,
            "format": "xml" if doc.subfilter.startswith("xades") else "pdf",
            "sealed_at": {"iso": doc.sealed_at.isoformat().replace("+00:00", "Z"),
                          "th": thai_datetime(doc.sealed_at), "en": english_datetime(doc.sealed_at)}}

# Types a download keeps; anything else is offered as application/octet-stream (the link has the
# download attribute, but a data: URL of HTML or SVG is not offered as such all the same).
SAFE_TYPES = {"application/xml", "text/xml", "application/json", "text/plain", "text/csv", "application/pdf"}


def download_link(summary: dict[str, Any], data: bytes | None) -> dict[str, str] | None:
    """The ``data:`` URL (RFC 2397) and a file name for an associated file shown on the page."""
    if data is None:
        return None
    mime = summary.get("mime") or ""
    mime = mime if mime in SAFE_TYPES else "application/octet-stream"
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", summary.get("name") or "").strip(" .") or "attachment"
    return {"href": f"data:{mime};base64," + base64.b64encode(data).decode(), "name": name[:120]}


def _uploaded(max_bytes: int) -> bytes:
    if (request.content_length or 0) > max_bytes + 1024 * 1024:
        raise TooLargeError(f"the file is over the {max_bytes // (1024 * 1024)} MB limit")
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise BadInputError("choose a PDF file or an XML document to check")
        return upload.read(max_bytes + 1)
    return request.get_data(cache=False)

Refused = Callable[[Optional[str], str, dict], None]  # client address, path, details


def verification_blueprint(verifier: Verifier, repo: SignerRepository, font_path: str = DEFAULT_FONT,
                           refused: Refused | None = None) -> Blueprint:
    """``refused``: audits a refused upload (the composition root aggregates them per address and
    window, signer/throttle.py, so a flood of bad uploads writes a bounded number of records)."""
    bp = Blueprint("verify", __name__, template_folder=str(TEMPLATES))

    def audit_refusal(exc: SignerError) -> None:
        if refused is not None and exc.status != 404:
            refused(request.remote_addr, request.path[:200],
                    {"status": exc.status, "error": type(exc).__name__, "detail": str(exc)[:200]})

    def lang() -> str:
        return "en" if request.args.get("lang") == "en" else "th"

    def record_of(doc_id: str) -> dict[str, Any] | None:
        if not DOC_ID.match(doc_id):
            raise NotFoundError(f"no sealed document {doc_id!r}")
        return _record(repo.get_document(doc_id))

    def page(status: int = 200, files: list[bytes | None] | None = None, **context: Any) -> Response:
        report = context.get("report")
        if report is not None:
            context["report_href"] = "data:application/json;base64," + base64.b64encode(
                json.dumps(report, ensure_ascii=False, indent=2).encode()).decode()
            listed = (report.get("attachments") or {}).get("files", [])
            context["downloads"] = [download_link(f, data) for f, data in zip(listed, files or [])]
        html = render_template("verify.html", lang=lang(), max_mb=verifier.max_bytes // (1024 * 1024),
                               relationships=RELATIONSHIPS, file_problems=FILE_PROBLEMS, **context)
        resp = Response(html, status, content_type="text/html; charset=utf-8")
        # The page has no inline script or style: nothing inline may run (CSP Level 3, script-src).
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                                   "script-src 'self'; object-src 'none'; base-uri 'none'; "
                                                   "form-action 'self'; frame-ancestors 'none'")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def check(doc_id: str | None) -> Response:
        record = None
        try:
            record = record_of(doc_id) if doc_id else None
            report, files = check_upload(verifier, _uploaded(verifier.max_bytes))
        except SignerError as exc:
            audit_refusal(exc)
            return page(exc.status, error={"status": exc.status, "detail": str(exc)}, record=record, doc_id=doc_id)
        match = None if record is None else report["document"]["sha256"] == record["sha256"]
        return page(report=report, record=record, match=match, doc_id=doc_id, files=files)

    @bp.get("/verify")
    def form() -> Response:
        return page()

    @bp.post("/verify")
    def upload() -> Response:
        return check(None)

    @bp.get("/verify/<doc_id>")
    def document(doc_id: str) -> Response:
        try:
            # The first view of a QR link: the register's record and an invitation to compare;
            # nothing is said about a match until a file has been compared.
            return page(record=record_of(doc_id), doc_id=doc_id, match=None)
        except SignerError as exc:
            return page(exc.status, error={"status": exc.status, "detail": str(exc)}, doc_id=doc_id)

    @bp.post("/verify/<doc_id>")
    def compare(doc_id: str) -> Response:
        return check(doc_id)

    @bp.get("/verify/static/<name>")
    def static(name: str) -> Response:
        files = {"verify.css": (TEMPLATES / "verify.css", "text/css"), "verify.js": (TEMPLATES / "verify.js",
                 "text/javascript"), "thai.otf": (Path(font_path), "font/otf")}
        if name not in files:
            raise NotFoundError(f"no static file {name!r}")
        path, mime = files[name]
        resp = send_file(path, mimetype=mime, max_age=86400)
        return resp

    @bp.post("/api/v1/verify")
    def api() -> Response:
        try:
            doc_id = request.args.get("document_id")
            record = record_of(doc_id) if doc_id else None
            report, _files = check_upload(verifier, _uploaded(verifier.max_bytes))
        except SignerError as exc:
            audit_refusal(exc)
            resp = jsonify({"type": "about:blank", "title": exc.title, "status": exc.status, "detail": str(exc)})
            resp.status_code, resp.content_type = exc.status, "application/problem+json"
            return resp
        if record is not None:
            report["registry"] = {"record": record, "match": report["document"]["sha256"] == record["sha256"]}
        return jsonify(report)

    return bp

