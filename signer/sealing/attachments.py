"""Data parts: machine-readable data (XML, JSON) embedded in a sealed PDF as PDF/A-3 associated
files (ISO 19005-3 6.8; ISO 32000-2 14.13), in the same incremental update as the signature, so
the signature covers them (docs/pdfa.md).

:func:`check_data_parts` refuses, naming the part by its file name, anything that is not one
well-formed XML or JSON document with a plain file name; :func:`embed_data_parts` writes each as
an embedded-file stream (ISO 32000-2 7.11.4) with its file specification (7.11.3), listed in the
catalog's ``/AF`` array and the ``/EmbeddedFiles`` name tree (7.9.6, keys sorted).
"""
from __future__ import annotations

import codecs
import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams, FileSpec
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.misc import PdfError

from ..docdata import safe_xml
from ..errors import BadInputError, ConflictError, TooLargeError, UnsupportedMediaError
from ..openapi import _depth

MAX_PARTS = 8
MAX_NAME_BYTES = 255
JSON_MAX_DEPTH = 64  # as deep as safe_xml allows XML to nest
RELATIONSHIPS = ("Data", "Source")  # ISO 32000-2 14.13 Table 43; the two that fit data about the document
# RFC 6838 4.2 restricted-name characters; the subtype becomes a PDF name (ISO 32000-2 7.11.4).
_MIME = re.compile(r"^([a-z0-9][a-z0-9!#$&^_.+-]{0,126})/([a-z0-9][a-z0-9!#$&^_.+-]{0,126})$")
NAME_TREE_MAX_ENTRIES = 10_000
NAME_TREE_MAX_DEPTH = 32


@dataclass(frozen=True)
class DataPart:
    name: str
    mime: str
    data: bytes
    relationship: str = "Data"
    description: str | None = None


def _kind(mime: str, name: str) -> str:
    """"xml" or "json" for an allowed MIME type (parameters such as charset dropped), else 415."""
    match = _MIME.match(mime.split(";", 1)[0].strip().lower())
    if match:
        top, sub = match.groups()
        if (top, sub) in (("application", "xml"), ("text", "xml")) or sub.endswith("+xml"):
            return "xml"
        if (top, sub) == ("application", "json") or sub.endswith("+json"):
            return "json"
    raise UnsupportedMediaError(f"the data part {name!r} has the type {mime[:100]!r}: a data part is XML "
                                "(application/xml, text/xml, */*+xml) or JSON (application/json, */*+json)")


def media_type(mime: str) -> str:
    """The bare media type that goes into ``/Subtype`` (no parameters, lower case)."""
    return mime.split(";", 1)[0].strip().lower()


def check_name(name: str) -> None:
    """One path segment (ISO 32000-2 7.11.2 file specification strings are paths; an extractor
    writes the name as a file): no separators, NUL or control characters, no ``..``, at most
    255 UTF-8 bytes."""
    shown = repr(name[:100])
    if not name or not name.strip():
        raise BadInputError("a data part has no file name: send each 'data' part with a filename")
    if any(c in name for c in "/\\") or ".." in name:
        raise BadInputError(f"the data part {shown} has a path in its file name (/, \\ or ..): send one plain "
                            "file name")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise BadInputError(f"the data part {shown} has a control character in its file name")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise BadInputError(f"the data part {shown} has a file name over {MAX_NAME_BYTES} bytes (UTF-8)")


def _check_json(part: DataPart) -> None:
    what = f"the data part {part.name!r}"
    try:
        text = part.data.decode("utf-8")  # RFC 8259 8.1
        value = json.loads(text)
    except UnicodeDecodeError:
        raise BadInputError(f"{what} is not UTF-8 JSON (RFC 8259 8.1)") from None
    except RecursionError:
        raise BadInputError(f"{what} is JSON nested too deeply") from None
    except ValueError as exc:
        raise BadInputError(f"{what} is not well-formed JSON: {str(exc)[:200]}") from None
    if _depth(value, JSON_MAX_DEPTH) > JSON_MAX_DEPTH:
        raise BadInputError(f"{what} is JSON nested more than {JSON_MAX_DEPTH} levels deep")


def check_data_parts(parts: Sequence[DataPart], max_total: int) -> None:
    """Refuse (4xx, naming the part) anything :func:`embed_data_parts` should not embed."""
    if len(parts) > MAX_PARTS:
        raise BadInputError(f"{len(parts)} data parts: at most {MAX_PARTS} per document")
    total, seen = 0, set()
    for part in parts:
        check_name(part.name)
        if part.name.casefold() in seen:
            raise BadInputError(f"two data parts are named {part.name[:100]!r}: each needs its own file name")
        seen.add(part.name.casefold())
        if part.relationship not in RELATIONSHIPS:
            raise BadInputError(f"the data part {part.name!r} has the relationship {part.relationship[:40]!r}; "
                                "one of Data, Source (ISO 32000-2 14.13)")
        total += len(part.data)
        if total > max_total:
            raise TooLargeError(f"the data parts come to more than {max(max_total, 0):,} bytes, what the size limit "
                                f"leaves after the PDF (at {part.name!r})")
        if _kind(part.mime, part.name) == "xml":
            safe_xml.parse(part.data, what=f"the data part {part.name!r}")
        else:
            _check_json(part)


def refuse_on_signed(reader: Any) -> None:
    """Data parts on a document that already holds a signature are refused (409): a new embedded
    file is not among the changes DocMDP permits after a signature (ISO 32000-1 12.8.2.2,
    Table 254), and the earlier signature would not cover it."""
    from pyhanko.sign.fields import enumerate_sig_fields

    if any(True for _ in enumerate_sig_fields(reader, filled_status=True)):
        raise ConflictError("the document is already signed: data parts can only be embedded by its first "
                            "signature (a file embedded later is not among the changes ISO 32000-1 12.8.2.2 "
                            "permits and no earlier signature would cover it); seal it without data parts")


# --- writing ------------------------------------------------------------------------------

def _key_bytes(key: Any) -> bytes:
    """A name-tree key as the bytes of its string (keys sort by them, ISO 32000-2 7.9.6)."""
    if isinstance(key, (bytes, bytearray)):
        return bytes(key)
    try:
        return key.original_bytes  # a key read from the input: its own encoding
    except (AttributeError, PdfError):
        pass
    try:
        return generic.encode_pdfdocencoding(str(key))
    except UnicodeEncodeError:
        return codecs.BOM_UTF16_BE + str(key).encode("utf-16be")


def _tree_entries(node: Any, depth: int = 0) -> Iterable[tuple[Any, Any]]:
    """(key, raw value) pairs of a name tree, leaves and intermediate nodes alike (7.9.6)."""
    if depth > NAME_TREE_MAX_DEPTH:
        raise BadInputError(f"the document's /EmbeddedFiles name tree is nested over {NAME_TREE_MAX_DEPTH} levels")
    node = node.get_object()
    names = node.get("/Names")
    if names is not None:
        names = names.get_object()
        for i in range(0, len(names) - 1, 2):
            yield names[i], names.raw_get(i + 1)
    for kid in node.get("/Kids", ()):
        yield from _tree_entries(kid, depth + 1)


def embed_data_parts(writer: Any, parts: Sequence[DataPart], now: dt.datetime) -> None:
    """Embed ``parts`` as associated files of the document in ``writer``'s next revision.

    Each: an embedded-file stream with ``/Subtype`` its MIME type as a PDF name (``/`` written
    ``#2F``) and ``/Params`` ``/Size``, ``/ModDate``, ``/CheckSum`` (MD5; ISO 32000-2 7.11.4.2
    Table 45); a file specification with ``/F``, ``/UF``, ``/Desc`` and ``/AFRelationship``
    (ISO 32000-2 7.11.3, 14.13; ISO 19005-3 6.8). pyHanko's ``embed_file`` is not used: it
    appends to the name tree unsorted, refuses trees with /Kids, and sets the catalog's
    /Version to 2.0 for /AF, which a PDF/A-3 document (ISO 32000-1 based) should not claim."""
    if not parts:
        return
    root = writer.root
    entries: dict[bytes, tuple[Any, Any]] = {}
    try:
        names_raw = root.raw_get("/Names")
    except KeyError:
        names_raw = None
    names_dict = names_raw.get_object() if names_raw is not None else generic.DictionaryObject()
    if "/EmbeddedFiles" in names_dict:
        for key, value in _tree_entries(names_dict.raw_get("/EmbeddedFiles")):
            entries[_key_bytes(key)] = (key, value)
            if len(entries) > NAME_TREE_MAX_ENTRIES:
                raise BadInputError(f"the document embeds over {NAME_TREE_MAX_ENTRIES:,} files")
    new_refs = []
    for part in parts:
        key = generic.pdf_string(part.name)
        if _key_bytes(key) in entries:
            raise ConflictError(f"the document already embeds a file named {part.name!r}: choose another name "
                                "for the data part (name-tree keys are unique, ISO 32000-2 7.9.6)")
        stream = EmbeddedFileObject.from_file_data(
            writer, part.data, compress=True, mime_type=media_type(part.mime),
            params=EmbeddedFileParams(embed_size=True, embed_checksum=True, modification_date=now))
        spec = FileSpec(file_spec_string=part.name, file_name=part.name, embedded_data=stream,
                        description=part.description, af_relationship=pdf_name("/" + part.relationship))
        ref = writer.add_object(spec.as_pdf_object())
        entries[_key_bytes(key)] = (key, ref)
        new_refs.append(ref)
    ordered = generic.ArrayObject()
    for _, (key, value) in sorted(entries.items()):
        ordered += [key, value]
    names_dict["/EmbeddedFiles"] = writer.add_object(generic.DictionaryObject({pdf_name("/Names"): ordered}))
    if isinstance(names_raw, generic.IndirectObject):
        writer.update_container(names_dict)
    else:
        root["/Names"] = writer.add_object(names_dict)
    af = root["/AF"] if "/AF" in root else generic.ArrayObject()
    existing = [af.raw_get(i) for i in range(len(af))] if isinstance(af, generic.ArrayObject) else []
    root["/AF"] = writer.add_object(generic.ArrayObject(existing + new_refs))
    writer.update_root()
