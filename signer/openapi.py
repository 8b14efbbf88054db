"""The OpenAPI 3.1 document of the sealing API; requests are validated against its schemas."""
from __future__ import annotations

from typing import Any

import jsonschema

PROBLEM = {"type": "object", "required": ["title", "status", "detail"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
    "detail": {"type": "string"}}}

SIGN_OPTIONS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "level": {"enum": ["B-B", "B-T", "B-LT", "B-LTA"], "default": "B-LTA",
                  "description": "PAdES baseline level (ETSI EN 319 142-1)"},
        "certify": {"type": "boolean", "default": True,
                    "description": "certification signature, DocMDP P=2 (form filling and signing allowed)"},
        "stamp": {"type": "boolean", "default": True, "description": "visible Thai/English stamp with a QR code"},
        "page": {"type": "integer", "minimum": -1, "default": 0, "description": "0-based page; -1 is the last"},
        "box": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 20000},
                "minItems": 4, "maxItems": 4,
                "description": "the stamp's box [x1, y1, x2, y2] in PDF points (1/72 inch) with the origin at the "
                               "lower-left corner of the page (its MediaBox), x to the right, y up: (x1, y1) is the "
                               "box's lower-left corner, (x2, y2) its upper-right. At least 150 x 60 pt (the stamp "
                               "is laid out for 300 x 120 pt and shrinks to fit, at most to half size) and wholly "
                               "within the page's CropBox, else its MediaBox (ISO 32000-1 14.11.2); otherwise 400. "
                               "Default: 300 x 120 pt in the lower-right corner, half an inch from the edges"},
        "reason": {"type": "string", "maxLength": 500},
        "location": {"type": "string", "maxLength": 200},
        "field_name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.-]{0,63}$"},
        "subfilter": {"enum": ["ETSI.CAdES.detached", "adbe.pkcs7.detached"], "default": "ETSI.CAdES.detached"},
        "seal": {"type": "string", "pattern": "^[0-9A-Fa-f]{2,40}$",
                 "description": "serial (hex) of the agency seal to use; default: its newest usable seal"},
        "data_relationship": {
            "oneOf": [{"enum": ["Data", "Source"]},
                      {"type": "object", "maxProperties": 8, "additionalProperties": {"enum": ["Data", "Source"]}}],
            "default": "Data",
            "description": "/AFRelationship of the 'data' parts (ISO 32000-2 14.13, ISO 19005-3 6.8): one value for "
                           "all, or an object from a data part's file name to its value"},
        "pdfa": {"enum": ["refuse", "without-stamp"], "default": "refuse",
                 "description": "a PDF/A input whose conformance the stamp would break (no RGB PDF/A output intent, "
                                "ISO 19005-2/-3 6.2.4.3): refuse with 422, or seal it without a visible stamp"},
    },
}

XML_SIGN_OPTIONS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "level": {"enum": ["B-B", "B-T", "B-LT", "B-LTA"], "default": "B-LTA",
                  "description": "XAdES baseline level (ETSI EN 319 132-1)"},
        "packaging": {"enum": ["enveloped", "detached"], "default": "enveloped",
                      "description": "enveloped: the document with ds:Signature as the root's last child; detached: "
                                     "a ds:Signature document referencing the file by name (docs/xades.md)"},
        "file_name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                      "description": "detached: the name the signature references (default: the file part's name)"},
        "seal": {"type": "string", "pattern": "^[0-9A-Fa-f]{2,40}$",
                 "description": "serial (hex) of the agency seal to use; default: its newest usable seal"},
    },
}

DOCUMENT = {"type": "object", "properties": {
    "id": {"type": "string"}, "sha256": {"type": "string"}, "agency": {"type": "object"},
    "seal_serial": {"type": "string"}, "level": {"type": "string"}, "subfilter": {"type": "string"},
    "size": {"type": "integer"}, "sealed_at": {"type": "string", "format": "date-time"},
    "verify_url": {"type": "string"}}}


_TEXT = {"type": "object", "properties": {"th": {"type": "string"}, "en": {"type": "string"}}}
_REASON = {"type": "object", "properties": {"code": {"type": "string"}, "th": {"type": "string"},
                                            "en": {"type": "string"}}}
_DATA = {"type": ["object", "null"], "description": "the data of an XML or JSON file as rows: a govca schema's "
         "fields labelled in Thai and English, xs:dates also in the Buddhist era; any other XML or JSON as a bounded "
         "tree; kind 'error' with the reason for a file that cannot be read", "properties": {
             "kind": {"enum": ["xml", "json", "error"]}, "root": {"type": ["string", "null"]},
             "namespace": {"type": ["string", "null"]}, "schema": {"type": ["object", "null"]},
             "truncated": {"type": "boolean"}, "detail": {"type": "string"},
             "rows": {"type": "array", "items": {"type": "object", "properties": {
                 "path": {"type": "string"}, "label": {"type": ["object", "null"]},
                 "value": {"type": ["string", "null"]}, "date": {"type": ["object", "null"]},
                 "depth": {"type": "integer"}}}}}}
REPORT = {"type": "object", "required": ["verdict", "signatures", "document"], "properties": {
    "verdict": {"enum": ["valid", "invalid", "indeterminate"],
                "description": "EN 319 102-1 status indication: TOTAL-PASSED, TOTAL-FAILED, INDETERMINATE"},
    "verdict_text": _TEXT, "document": {"type": "object"},
    "registry": {"type": "object", "properties": {"record": {"type": "object"}, "match": {"type": "boolean"}}},
    "signatures": {"type": "array", "items": {"type": "object", "properties": {
        "kind": {"enum": ["signature", "document_timestamp"]},
        "verdict": {"enum": ["valid", "invalid", "indeterminate"]}, "reason": _REASON,
        "notes": {"type": "array", "items": _REASON}, "signer": {"type": "object"},
        "signing_time": {"type": "object"}, "tsa": {"type": "object"}, "certificate": {"type": "object"},
        "modifications": {"type": "object"}, "pades_level": {"enum": ["B-B", "B-T", "B-LT", "B-LTA"]},
        "chain": {"type": "array"}}}},
    "attachments": {"type": "object", "description": "a PDF's associated and embedded files (ISO 32000-2 14.13, "
                    "7.11.4; ISO 19005-3 6.8), /AF first, then the /EmbeddedFiles name tree; no file's bytes",
                    "properties": {"left_out": {"type": "integer"}, "files": {"type": "array", "items": {
                        "type": "object", "properties": {
                            "name": {"type": "string"}, "mime": {"type": ["string", "null"]},
                            "relationship": {"type": "string", "description": "/AFRelationship (ISO 32000-2 "
                                             "Table 43); Unspecified when absent"},
                            "size": {"type": "object", "properties": {"declared": {"type": ["integer", "null"]},
                                                                      "decoded": {"type": ["integer", "null"]}}},
                            "sha256": {"type": ["string", "null"]}, "description": {"type": ["string", "null"]},
                            "covered": {"type": "boolean", "description": "written in a revision a signature "
                                        "covers (ISO 32000-2 12.8.1)"},
                            "listed_in": {"type": "array", "items": {"enum": ["AF", "EmbeddedFiles"]}},
                            "problem": {"enum": [None, "too_large", "unreadable", "not_embedded", "not_shown"]},
                            "data": _DATA}}}}},
    "data": _DATA}}


def openapi_document(base_url: str) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    errors = {str(code): {"description": text, "content": problem} for code, text in (
        (400, "malformed options, empty or unreadable PDF, encrypted PDF"), (401, "missing or invalid token"),
        (403, "seal of another agency, or a revoked or expired seal"), (409, "already certified, or data parts for an already signed document"),
        (413, "PDF over the size limit"), (415, "not a PDF, or a data part neither XML nor JSON"),
        (422, "the seal would break the document's PDF/A conformance (docs/pdfa.md)"), (503, "TSA or database unavailable"))}
    return {
        "openapi": "3.1.0",
        "info": {"title": "govca sealing API", "version": "1.0.0",
                 "description": "Seal agency PDFs (PAdES) with the agency's e-seal held in govca's HSM."},
        "servers": [{"url": base_url}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "gvc_<client id>_<secret> from `govca apiclient create`"}},
            "schemas": {"SignOptions": SIGN_OPTIONS, "XmlSignOptions": XML_SIGN_OPTIONS, "Problem": PROBLEM,
                        "Document": DOCUMENT, "VerificationReport": REPORT},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/sign": {"post": {
                "summary": "Seal a PDF",
                "requestBody": {"required": True, "content": {
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "options": {"$ref": "#/components/schemas/SignOptions"},
                        "data": {"type": "array", "maxItems": 8, "items": {"type": "string", "format": "binary"},
                                 "description": "data parts embedded as PDF/A-3 associated files under the seal "
                                                "(ISO 19005-3 6.8): each with a filename (one path segment, at "
                                                "most 255 bytes) and an XML or JSON Content-Type; refused on a "
                                                "document already signed (409) and on PDF/A-1/-2 (422)"}},
                    }, "encoding": {"data": {"contentType": "application/xml, text/xml, application/json, "
                                                            "application/*+xml, application/*+json"}}}}},
                "responses": {"200": {"description": "the sealed PDF", "headers": {
                    "X-Document-Id": {"schema": {"type": "string"}},
                    "Location": {"description": "verification URL", "schema": {"type": "string"}}},
                    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}, **errors},
            }},
            "/api/v1/sign-xml": {"post": {
                "summary": "Seal an XML document (XAdES, ETSI EN 319 132-1)",
                "requestBody": {"required": True, "content": {
                    "application/xml": {"schema": {"type": "string", "format": "binary"}},
                    "text/xml": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "options": {"$ref": "#/components/schemas/XmlSignOptions"}}}}}},
                "responses": {"200": {"description": "the sealed XML (enveloped) or the detached signature", "headers": {
                    "X-Document-Id": {"schema": {"type": "string"}},
                    "Location": {"description": "verification URL", "schema": {"type": "string"}}},
                    "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}}},
                    **{str(code): {"description": text, "content": problem} for code, text in (
                        (400, "malformed options; empty, malformed or unsafe XML (a DOCTYPE, entities)"),
                        (401, "missing or invalid token"), (403, "seal of another agency, or a revoked or expired seal"),
                        (413, "XML over the size limit"), (415, "not XML"), (503, "TSA or database unavailable"))}},
            }},
            "/api/v1/documents/{id}": {"get": {
                "summary": "The registry record of a sealed document",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "record", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Document"}}}},
                    "404": {"description": "unknown id", "content": problem}},
            }},
            "/api/v1/verify": {"post": {
                "summary": "Validate a signed PDF (PAdES) or XML document (XAdES): the same result as the "
                           "verification page",
                "security": [],
                "parameters": [{"name": "document_id", "in": "query", "required": False,
                                "schema": {"type": "string", "pattern": "^DOC-[A-Z2-7]{16}$"},
                                "description": "compare the file with this registered document"}],
                "requestBody": {"required": True, "content": {
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                    "application/xml": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"200": {"description": "verification report", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/VerificationReport"}}}},
                    "400": {"description": "empty, damaged or encrypted PDF; XML that is not well-formed or has a "
                                           "DOCTYPE", "content": problem},
                    "404": {"description": "unknown document_id", "content": problem},
                    "413": {"description": "over the size limit", "content": problem},
                    "415": {"description": "neither a PDF nor an XML document", "content": problem}},
            }},
            "/tsa": {"post": {"summary": "RFC 3161 time-stamping", "security": [],
                              "requestBody": {"content": {"application/timestamp-query": {}}},
                              "responses": {"200": {"description": "TimeStampResp",
                                                    "content": {"application/timestamp-reply": {}}}}}},
        },
    }


_VALIDATOR = jsonschema.Draft202012Validator(SIGN_OPTIONS)


def _depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests, counted iteratively and no further than ``limit`` + 1."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= limit:
                stack.extend((c, depth + 1) for c in (item.values() if isinstance(item, dict) else item))
    return deepest


def validate_options(options: Any) -> list[str]:
    """Error messages (empty when valid) of sign options against the OpenAPI schema; each is
    short (jsonschema quotes the offending value, which may be long)."""
    if _depth(options, 3) > 3:  # the schema's deepest value, box, is 2 levels down
        return ["options: nested deeper than the schema allows"]
    errors = sorted(_VALIDATOR.iter_errors(options), key=lambda e: [str(p) for p in e.absolute_path])
    return [_short(f"{'/'.join(str(p) for p in e.absolute_path) or 'options'}: {e.message}") for e in errors[:10]]


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
