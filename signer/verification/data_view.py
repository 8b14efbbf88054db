"""The data a document carries, as rows a person can read, Thai first.

- An XML document of a govca schema (signer/docdata/schemas.py: e-License 1, e-Receipt 1) gets
  labelled rows: the field's Thai and English names, its value, and for an ``xs:date`` (XML
  Schema 1.1 Part 2, 3.3.9) the date in the Buddhist era and in the Gregorian calendar
  (signer/thai.py). Whether it is valid against the schema's XSD is said too.
- Any other XML, and JSON (RFC 8259), gets a generic tree: element names (or keys), attributes
  and text, at most :data:`MAX_ROWS` rows, :data:`MAX_DEPTH` levels and :data:`MAX_VALUE` characters
  per value.
- XML is parsed only by :func:`signer.docdata.safe_xml.parse` (no DOCTYPE, entities or network);
  a file that cannot be read is described by the reason, never by a traceback.
An XML signature inside the document (XMLDSig 1.1 4.1 ``ds:Signature``, an enveloped XAdES
signature) is not data: it is left out of the rows.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import Any

from lxml import etree

from ..docdata import safe_xml
from ..docdata.schemas import HERE, Schema, known_schema
from ..errors import SignerError
from ..thai import english_date, thai_date

MAX_ROWS = 500
MAX_DEPTH = 16
MAX_VALUE = 2_000
MAX_BYTES = 4 * 1024 * 1024
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def kind_of(mime: str | None, name: str, data: bytes) -> str | None:
    """``xml``, ``json`` or None (no data view), by MIME type, then the name's extension, then
    the first byte (a BOM and leading blanks skipped)."""
    mime = (mime or "").lower()
    if mime in ("application/xml", "text/xml") or mime.endswith("+xml"):
        return "xml"
    if mime == "application/json" or mime.endswith("+json"):
        return "json"
    lower = name.lower()
    if lower.endswith(".xml"):
        return "xml"
    if lower.endswith(".json"):
        return "json"
    head = data[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    if not mime and head.startswith(b"<"):
        return "xml"
    return None


def _date_fields(schema: Schema) -> frozenset[str]:
    """The local names of the schema's ``xs:date`` elements, read from its XSD (govca's own file)."""
    return _dates_in(schema.xsd)


@functools.lru_cache(maxsize=None)
def _dates_in(xsd: str) -> frozenset[str]:
    tree = etree.parse(str(HERE / xsd))
    return frozenset(e.get("name") for e in tree.iter(f"{{{XSD_NS}}}element") if e.get("type") == "xs:date")


_VALIDATORS: dict[str, etree.XMLSchema] = {}


def _validator(schema: Schema) -> etree.XMLSchema:
    # Built once per process; lxml's XMLSchema.validate is not shared between threads here
    # (gunicorn's workers are synchronous).
    if schema.xsd not in _VALIDATORS:
        _VALIDATORS[schema.xsd] = schema.validator()
    return _VALIDATORS[schema.xsd]


def _date(value: str) -> dict[str, str] | None:
    if not _DATE.match(value):
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    return {"th": thai_date(day), "en": english_date(day)}


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


class _Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.truncated = False

    def add(self, **row: Any) -> bool:
        if len(self.rows) >= MAX_ROWS:
            self.truncated = True
            return False
        self.rows.append(row)
        return True


def _xml_rows(root: etree._Element, schema: Schema | None) -> _Rows:
    out = _Rows()
    dates = _date_fields(schema) if schema is not None else frozenset()
    stack: list[tuple[etree._Element, str, int]] = [(c, "", 1) for c in reversed(_elements(root))]
    if root.text and root.text.strip():  # mixed content or a one-element document: its own text
        out.add(path=etree.QName(root).localname, label=None, value=_clip(root.text), date=None, depth=0)
    for name, value in sorted(root.attrib.items()) if schema is None else ():  # a schema's version is its title
        out.add(path="@" + etree.QName(name).localname, label=None, value=_clip(value), date=None, depth=0)
    while stack:
        node, parent, depth = stack.pop()
        qname = etree.QName(node)
        path = f"{parent}/{qname.localname}" if parent else qname.localname
        label = None
        if schema is not None and qname.namespace == schema.namespace:
            pair = schema.label(path)
            label = {"th": pair[0], "en": pair[1]} if pair else None
        text = _clip(node.text) if node.text and node.text.strip() else None
        if schema is not None:
            date = _date(text) if text and qname.localname in dates else None
        else:
            date = _date(text) if text else None
        if not out.add(path=path, label=label, value=text, date=date, depth=depth - 1):
            break
        for name, value in sorted(node.attrib.items()):
            out.add(path=f"{path}/@{etree.QName(name).localname}", label=None, value=_clip(value), date=None,
                    depth=depth)
        if depth >= MAX_DEPTH:
            if len(node):
                out.truncated = True
            continue
        stack.extend((c, path, depth + 1) for c in reversed(_elements(node)))
    return out


def _elements(node: etree._Element) -> list[etree._Element]:
    """Child elements that are data: no comments or processing instructions, no XML signature."""
    return [c for c in node if isinstance(c.tag, str) and etree.QName(c).namespace != DSIG_NS]


def xml_view(data: bytes, what: str) -> dict[str, Any]:
    return tree_view(safe_xml.parse(data, what=what, max_bytes=MAX_BYTES))


def tree_view(tree: etree._ElementTree) -> dict[str, Any]:
    """The rows of an XML document already parsed by :func:`signer.docdata.safe_xml.parse`."""
    root = tree.getroot()
    schema = known_schema(root)
    rows = _xml_rows(root, schema)
    view: dict[str, Any] = {"kind": "xml", "root": etree.QName(root).localname,
                            "namespace": etree.QName(root).namespace, "schema": None,
                            "rows": rows.rows, "truncated": rows.truncated}
    if schema is not None:
        validator = _validator(schema)
        valid = validator.validate(tree)
        error = validator.error_log.last_error
        view["schema"] = {"namespace": schema.namespace, "xsd": schema.xsd,
                          "title": {"th": schema.title[0], "en": schema.title[1]}, "valid": bool(valid),
                          "error": None if valid or error is None else _clip(f"line {error.line}: {error.message}")}
    return view


def json_view(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise ValueError(f"over the {MAX_BYTES:,}-byte limit")
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    out = _Rows()
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if path and not out.add(path=path, label=None, value=None, date=None, depth=depth - 1):
                break
            if depth >= MAX_DEPTH:
                out.truncated = out.truncated or bool(item)
                continue
            pairs = list(item.items()) if isinstance(item, dict) else [(f"[{i}]", v) for i, v in enumerate(item)]
            joined = [((f"{path}/{k}" if path else str(k)) if isinstance(item, dict) else f"{path}{k}", v)
                      for k, v in pairs]
            stack.extend((p, v, depth + 1) for p, v in reversed(joined))
        else:
            text = "null" if item is None else json.dumps(item) if isinstance(item, bool) else str(item)
            if not out.add(path=path or "(value)", label=None, value=_clip(text),
                           date=_date(text) if isinstance(item, str) else None, depth=max(depth - 1, 0)):
                break
    return {"kind": "json", "root": None, "namespace": None, "schema": None, "rows": out.rows,
            "truncated": out.truncated}


def view(data: bytes, mime: str | None, name: str) -> dict[str, Any] | None:
    """The rows of a data file, or None for a file that is not XML or JSON. A file that cannot be
    read gets ``{"kind": "error", "detail": ...}`` with the reason."""
    kind = kind_of(mime, name, data)
    if kind is None:
        return None
    try:
        return xml_view(data, f"the file {name!r}") if kind == "xml" else json_view(data)
    except SignerError as exc:
        return {"kind": "error", "format": kind, "detail": str(exc)}
    except (ValueError, UnicodeDecodeError) as exc:
        return {"kind": "error", "format": kind, "detail": f"the file {name!r} is not readable JSON: "
                f"{str(exc).splitlines()[0][:200]}"}
