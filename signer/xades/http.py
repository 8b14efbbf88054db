"""HTTP edge of XML sealing: POST /api/v1/sign-xml (XAdES, ETSI EN 319 132-1), with the bearer
token, problem documents and audit records of /api/v1/sign."""
from __future__ import annotations

import os
from typing import Any

import jsonschema
from flask import Blueprint, Response, request

from ..errors import BadInputError, SignerError, TooLargeError, UnsupportedMediaError
from ..openapi import XML_SIGN_OPTIONS
from ..sealing.http import options_part, problem
from .model import XadesLevel
from .seal import XmlOptions
from .service import ACTION, XadesService

XML_TYPES = ("application/xml", "text/xml")
_VALIDATOR = jsonschema.Draft202012Validator(XML_SIGN_OPTIONS)


def parse_xml_options(raw: Any, upload_name: str | None, mime_type: str) -> tuple[XmlOptions, str | None]:
    """The options of a request (checked against the OpenAPI schema) and the seal asked for."""
    if not isinstance(raw, dict):
        raise BadInputError("invalid options: the 'options' part must be a JSON object")
    errors = sorted(_VALIDATOR.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise BadInputError("invalid options: " + "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or 'options'}: {e.message}"[:200] for e in errors[:10]))
    packaging = raw.get("packaging", "enveloped")
    name = raw.get("file_name") or (os.path.basename(upload_name) if upload_name else None)
    if packaging == "detached" and not name:
        raise BadInputError("invalid options: a detached signature references its file by name: give options.file_name "
                            "or a file name on the 'file' part")
    options = XmlOptions(level=XadesLevel(raw.get("level", XadesLevel.B_LTA.value)), packaging=packaging,
                         file_name=name if packaging == "detached" else None, mime_type=mime_type)
    return options, raw.get("seal")


def _read_request(max_bytes: int) -> tuple[bytes, Any, str | None, str]:
    """(document, options JSON, the file part's name, its MIME type) of the request."""
    if (request.content_length or 0) > max_bytes + 1024 * 1024:
        raise TooLargeError(f"the request is over the {max_bytes:,}-byte document limit")
    ctype = request.mimetype
    if ctype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise BadInputError("multipart body needs a 'file' part with the XML document")
        data = upload.read(max_bytes + 1)
        part_type = upload.mimetype if upload.mimetype in XML_TYPES else XML_TYPES[0]
        return data, options_part(), upload.filename, part_type
    if ctype in XML_TYPES:
        return request.get_data(cache=False), {}, None, ctype
    raise UnsupportedMediaError(f"send application/xml, text/xml or multipart/form-data, not {ctype or 'no type'}")


def xades_blueprint(service: XadesService) -> Blueprint:
    bp = Blueprint("xades", __name__)
    sealing = service.sealing

    @bp.errorhandler(SignerError)
    def _signer_error(exc: SignerError) -> Response:
        return problem(exc)

    @bp.post("/api/v1/sign-xml")
    def sign_xml() -> Response:
        client = sealing.authenticate(request.headers.get("Authorization"))
        try:
            data, raw, upload_name, mime_type = _read_request(sealing.settings.max_pdf_bytes)
            options, seal = parse_xml_options(raw, upload_name, mime_type)
        except SignerError as exc:
            sealing.audit(f"api:client-{client.id}", ACTION, client.agency_code, "refused",
                          {"error": str(exc), "status": exc.status})
            raise
        sealed = service.seal(client, data, options, seal)
        resp = Response(sealed.xml, 200, content_type="application/xml")
        resp.headers["X-Document-Id"] = sealed.document_id
        resp.headers["Location"] = sealed.verify_url
        resp.headers["Content-Disposition"] = f'attachment; filename="{sealed.document_id}.xml"'
        return resp

    return bp
