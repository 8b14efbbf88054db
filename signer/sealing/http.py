"""HTTP edge of the sealing API: /api/v1/sign, /api/v1/documents/<id>, /api/v1/openapi.json."""
from __future__ import annotations

import json
from typing import Any, Callable

from flask import Blueprint, Response, jsonify, request

from ..errors import BadInputError, ForbiddenError, SignerError, TooLargeError, UnsupportedMediaError
from ..openapi import openapi_document, validate_options
from .attachments import MAX_PARTS, DataPart
from .pades import Level, SignOptions
from .service import SealingService


def problem(exc: SignerError) -> Response:
    resp = jsonify({"type": "about:blank", "title": exc.title, "status": exc.status, "detail": str(exc)})
    resp.status_code = exc.status
    resp.content_type = "application/problem+json"
    if exc.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="govca"'
    return resp


def parse_options(raw: Any) -> tuple[SignOptions, str | None]:
    errors = validate_options(raw)
    if errors:
        raise BadInputError("invalid options: " + "; ".join(errors))
    opts = dict(raw)
    seal = opts.pop("seal", None)
    opts.pop("data_relationship", None)  # read with the data parts (data_parts_of)
    if "level" in opts:
        opts["level"] = Level(opts["level"])
    # JSON Schema counts 2.0 as an integer; the signer gets Python ints (the schema bounds them).
    if "page" in opts:
        opts["page"] = int(opts["page"])
    if "box" in opts:
        x1, y1, x2, y2 = (int(v) for v in opts["box"])
        if x2 <= x1 or y2 <= y1:
            raise BadInputError("invalid options: box must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1")
        opts["box"] = (x1, y1, x2, y2)
    return SignOptions(**opts), seal


def _options_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise BadInputError("the 'options' part is nested too deeply") from None
    except ValueError as exc:  # not JSON, or an integer of more than 4,300 digits
        raise BadInputError(f"the 'options' part is not JSON: {str(exc)[:200]}") from None


OPTIONS_MAX_BYTES = 65536  # a few hundred bytes in practice


def options_part() -> Any:
    """The multipart body's ``options`` part (a form field or a file), as JSON; {} without one."""
    raw = request.form.get("options")
    if raw is None and "options" in request.files:
        raw = request.files["options"].read(OPTIONS_MAX_BYTES + 1).decode("utf-8", "replace")
    if raw and len(raw.encode("utf-8", "replace")) > OPTIONS_MAX_BYTES:
        raise BadInputError(f"the 'options' part is over {OPTIONS_MAX_BYTES:,} bytes")
    return _options_json(raw) if raw else {}


def _data_parts(max_bytes: int) -> list[tuple[str, str, bytes]]:
    """(file name, Content-Type, bytes) of each multipart part named ``data`` (docs/pdfa.md)."""
    if "data" in request.form:
        raise BadInputError("each 'data' part needs a filename and a Content-Type in its part headers")
    uploads = request.files.getlist("data")
    if len(uploads) > MAX_PARTS:
        raise BadInputError(f"{len(uploads)} data parts: at most {MAX_PARTS} per document")
    parts, total = [], 0
    for upload in uploads:
        body = upload.read(max_bytes - total + 1)
        total += len(body)
        if total > max_bytes:
            raise TooLargeError(f"the data parts are over the {max_bytes:,}-byte limit (at {upload.filename!r})")
        parts.append((upload.filename or "", upload.content_type or "", body))
    return parts


def data_parts_of(raw: Any, uploads: list[tuple[str, str, bytes]]) -> list[DataPart]:
    """The data parts with their relationship (options ``data_relationship``: one for all, or
    one per file name; ISO 32000-2 14.13)."""
    chosen = raw.get("data_relationship", "Data") if isinstance(raw, dict) else "Data"
    names = {name for name, _, _ in uploads}
    if isinstance(chosen, dict):
        unknown = sorted(set(chosen) - names)
        if unknown:
            raise BadInputError(f"invalid options: data_relationship names {unknown[0][:100]!r}, which is not the "
                                "file name of a data part")
    return [DataPart(name, mime, body, chosen.get(name, "Data") if isinstance(chosen, dict) else chosen)
            for name, mime, body in uploads]


def _read_request(max_bytes: int) -> tuple[bytes, Any, list[tuple[str, str, bytes]]]:
    if (request.content_length or 0) > max_bytes + 1024 * 1024:
        raise TooLargeError(f"the request is over the {max_bytes:,}-byte PDF limit")
    ctype = request.mimetype
    if ctype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadInputError("multipart body needs a 'file' part with the PDF")
        pdf = upload.read(max_bytes + 1)
        return pdf, options_part(), _data_parts(max_bytes)
    if ctype in ("application/pdf", "application/octet-stream") or not ctype:
        return request.get_data(cache=False), {}, []
    raise UnsupportedMediaError(f"send application/pdf or multipart/form-data, not {ctype}")


def sealing_blueprint(service: SealingService, stamp: Callable[[dict], tuple[Any, dict]] | None) -> Blueprint:
    bp = Blueprint("sealing", __name__)

    @bp.errorhandler(SignerError)
    def _signer_error(exc: SignerError) -> Response:
        return problem(exc)

    @bp.post("/api/v1/sign")
    def sign() -> Response:
        client = service.authenticate(request.headers.get("Authorization"))
        try:
            pdf, raw, uploads = _read_request(service.settings.max_pdf_bytes)
            options, seal = parse_options(raw)
            data = data_parts_of(raw, uploads)
        except SignerError as exc:
            service.audit(f"api:client-{client.id}", "seal.sign", client.agency_code, "refused",
                          {"error": str(exc), "status": exc.status})
            raise
        sealed = service.seal(client, pdf, options, seal, stamp, data)
        resp = Response(sealed.pdf, 200, content_type="application/pdf")
        resp.headers["X-Document-Id"] = sealed.document_id
        resp.headers["Location"] = sealed.verify_url
        resp.headers["Content-Disposition"] = f'attachment; filename="{sealed.document_id}.pdf"'
        return resp

    @bp.get("/api/v1/documents/<doc_id>")
    def document(doc_id: str) -> Response:
        client = service.authenticate(request.headers.get("Authorization"))
        doc = service.repo.get_document(doc_id)
        if doc.agency.code != client.agency_code:
            raise ForbiddenError(f"document {doc_id} was sealed by another agency")
        return jsonify({"id": doc.id, "sha256": doc.sha256, "agency": {
            "code": doc.agency.code, "name_th": doc.agency.name_th, "name_en": doc.agency.name_en},
            "seal_serial": doc.seal_serial, "level": doc.level, "subfilter": doc.subfilter, "size": doc.size,
            "sealed_at": doc.sealed_at.isoformat().replace("+00:00", "Z"),
            "verify_url": f"{service.settings.base_url.rstrip('/')}/verify/{doc.id}"})

    @bp.get("/api/v1/openapi.json")
    def openapi() -> Response:
        return jsonify(openapi_document(service.settings.base_url))

    return bp
