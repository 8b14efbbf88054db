"""The associated files of a PDF (PDF/A-3 "documents as data"), read from the verifier's parsed
document under its budgets.

Where they are listed (both are read; a file in both is one file):
- the document catalog's ``/AF`` array of file specifications (ISO 32000-2 14.13.2, Table 29;
  ISO 19005-3 6.8 requires every embedded file to be an associated file);
- the ``/Names /EmbeddedFiles`` name tree (ISO 32000-2 7.7.4, Table 32; name trees 7.9.6).

For each: its name (``/UF``, else ``/F``, ISO 32000-2 7.11.3 Table 43), MIME type (``/Subtype`` of
the embedded file stream, 7.11.4 Table 44), relationship (``/AFRelationship``, default
``Unspecified``, Table 43), declared size (``/Params /Size``, Table 45), description (``/Desc``)
and, for the first :data:`MAX_SHOWN` files, the decoded bytes: decoded with pyHanko's decode
limits and at most :data:`MAX_FILE_BYTES` each, so a small stream that inflates is listed as too
large, never decoded unbounded. A file is "covered" when its file specification and its stream
were last written in a revision a signature covers (ISO 32000-2 12.8.1: a signature's byte range
covers its revision and every earlier one).
"""
from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

MiB = 1024 * 1024
MAX_SHOWN = 8
"""Files whose bytes are decoded and shown; any further ones are listed without content."""
MAX_FILE_BYTES = 4 * MiB
"""Decoded bytes shown per file; a file that decodes to more is listed as too large."""
MAX_LISTED = 64
"""Files listed at all; a document with more says how many were left out."""
MAX_TREE_NODES = 256
"""Name tree nodes visited (ISO 32000-2 7.9.6); a deeper or wider tree is read no further."""
MAX_TREE_DEPTH = 16

# ISO 32000-2 Table 43, /AFRelationship: the values the standard names.
RELATIONSHIPS = ("Source", "Data", "Alternative", "Supplement", "EncryptedPayload", "FormData", "Schema",
                 "Unspecified")


@dataclass
class Attachment:
    name: str
    mime: str | None
    relationship: str
    declared_size: int | None
    description: str | None
    in_af: bool
    in_names: bool
    covered: bool
    content: bytes | None = None
    problem: str | None = None  # "too_large", "unreadable", "not_embedded", "not_shown"

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None

    def summary(self) -> dict[str, Any]:
        """What the JSON report says about the file: everything but its bytes."""
        return {"name": self.name, "mime": self.mime, "relationship": self.relationship,
                "size": {"declared": self.declared_size,
                         "decoded": len(self.content) if self.content is not None else None},
                "sha256": self.sha256, "description": self.description, "covered": self.covered,
                "listed_in": [w for w, on in (("AF", self.in_af), ("EmbeddedFiles", self.in_names)) if on],
                "problem": self.problem}


@dataclass
class Listing:
    files: list[Attachment]
    left_out: int = 0


def _text(value: object) -> str | None:
    if isinstance(value, (generic.TextStringObject, generic.ByteStringObject)):
        text = value if isinstance(value, str) else value.original_bytes.decode("latin-1")
        return "".join(c for c in str(text) if c.isprintable())[:256] or None
    return None


def _get(d: generic.DictionaryObject, key: str) -> object:
    return d[key] if key in d else None


def _revision(reader: PdfFileReader, ref: object) -> int | None:
    if not isinstance(ref, generic.IndirectObject):
        return None
    try:
        return reader.xrefs.get_last_change(ref.reference)
    except KeyError:
        return None


def _key(ref: object, holder: object) -> tuple:
    if isinstance(ref, generic.IndirectObject):
        return ("ref", ref.idnum, ref.generation)
    return ("direct", id(holder), id(ref))


class _Reader:
    def __init__(self, reader: PdfFileReader) -> None:
        self.reader = reader
        # The newest revision an approval or certification signature covers (document
        # time-stamps say when, not who: ISO 32000-2 12.8.5).
        signed = [s.signed_revision for s in reader.embedded_signatures
                  if s.sig_object.get("/Type") != "/DocTimeStamp"]
        self.signed = max(signed) if signed else None
        self.found: dict[tuple, Attachment] = {}
        self.order: list[tuple] = []
        self.left_out = 0

    def add(self, ref: object, holder: object, tree_key: str | None, listed_in: str) -> None:
        """One file specification (``ref``) met in ``/AF`` or in the name tree; ``holder``: the
        indirect object that holds it when it is direct (its revision is then the holder's)."""
        key = _key(ref, holder)
        if key in self.found:
            setattr(self.found[key], listed_in, True)
            return
        if len(self.order) >= MAX_LISTED:
            self.left_out += 1
            return
        spec = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref
        if isinstance(spec, generic.TextStringObject):  # a file specification string: not embedded
            spec = generic.DictionaryObject({generic.pdf_name("/F"): spec})
        if not isinstance(spec, generic.DictionaryObject):
            return
        ef = _get(spec, "/EF")
        stream_ref = None
        if isinstance(ef, generic.DictionaryObject):
            stream_ref = ef.raw_get("/UF") if "/UF" in ef else ef.raw_get("/F") if "/F" in ef else None
        stream = stream_ref.get_object() if stream_ref is not None else None
        mime = declared = None
        if isinstance(stream, generic.StreamObject):
            subtype = _get(stream, "/Subtype")
            mime = str(subtype)[1:][:127] if isinstance(subtype, generic.NameObject) else None
            params = _get(stream, "/Params")
            size = _get(params, "/Size") if isinstance(params, generic.DictionaryObject) else None
            declared = int(size) if isinstance(size, int) and size >= 0 else None
        relationship = _get(spec, "/AFRelationship")
        name = _text(_get(spec, "/UF")) or _text(_get(spec, "/F")) or tree_key or "(unnamed)"
        revisions = [_revision(self.reader, ref if isinstance(ref, generic.IndirectObject) else holder),
                     _revision(self.reader, stream_ref)]
        if _text(_get(spec, "/UF")) is None and _text(_get(spec, "/F")) is None:
            revisions.append(_revision(self.reader, holder))  # the name comes from the tree
        covered = (self.signed is not None and isinstance(stream, generic.StreamObject)
                   and all(r is not None and r <= self.signed for r in revisions))
        item = Attachment(name=name, mime=mime,
                          relationship=str(relationship)[1:][:64] if isinstance(relationship, generic.NameObject)
                          else "Unspecified",
                          declared_size=declared, description=_text(_get(spec, "/Desc")),
                          in_af=listed_in == "in_af", in_names=listed_in == "in_names", covered=covered)
        if not isinstance(stream, generic.StreamObject):
            item.problem = "not_embedded"
        elif len(self.order) >= MAX_SHOWN:
            item.problem = "not_shown"
        else:
            item.content, item.problem = _decoded(stream)
        self.found[key] = item
        self.order.append(key)

    def af(self) -> None:
        root = self.reader.root
        holder = root.raw_get("/AF") if "/AF" in root else None
        array = holder.get_object() if isinstance(holder, generic.IndirectObject) else holder
        if not isinstance(array, generic.ArrayObject):
            return
        owner = holder if isinstance(holder, generic.IndirectObject) else None
        for i in range(len(array)):
            self.add(array.raw_get(i), owner, None, "in_af")

    def names(self) -> None:
        names = _get(self.reader.root, "/Names")
        tree_ref = names.raw_get("/EmbeddedFiles") if isinstance(names, generic.DictionaryObject) and \
            "/EmbeddedFiles" in names else None
        if tree_ref is None:
            return
        seen: set[tuple] = set()
        stack: list[tuple[object, int]] = [(tree_ref, 1)]
        visited = 0
        while stack:
            ref, depth = stack.pop()
            key = _key(ref, None)
            if key[0] == "ref":
                if key in seen:
                    continue  # a cycle or a node listed twice: read once
                seen.add(key)
            visited += 1
            if visited > MAX_TREE_NODES or depth > MAX_TREE_DEPTH:
                break
            node = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref
            if not isinstance(node, generic.DictionaryObject):
                continue
            owner = ref if isinstance(ref, generic.IndirectObject) else None
            pairs = node.raw_get("/Names") if "/Names" in node else None
            if isinstance(pairs, generic.IndirectObject):
                owner, pairs = pairs, pairs.get_object()
            if isinstance(pairs, generic.ArrayObject):
                for i in range(0, len(pairs) - 1, 2):
                    self.add(pairs.raw_get(i + 1), owner, _text(pairs[i]), "in_names")
            kids = _get(node, "/Kids")
            if isinstance(kids, generic.ArrayObject):
                stack.extend((kids.raw_get(i), depth + 1) for i in reversed(range(len(kids))))


def _decoded(stream: generic.StreamObject) -> tuple[bytes | None, str | None]:
    """The file's bytes, decoded under the document's decode limits and at most
    :data:`MAX_FILE_BYTES` (pyHanko's expected size plus its slack of a few KB)."""
    try:
        data = stream.read_data(expected_size=MAX_FILE_BYTES)
    except PdfDecodeLimitError:
        return None, "too_large"
    except (PdfError, zlib.error, NotImplementedError, ValueError, TypeError, KeyError):
        return None, "unreadable"
    if len(data) > MAX_FILE_BYTES:
        return None, "too_large"
    return data, None


def section(reader: PdfFileReader) -> tuple[dict[str, Any], list[bytes | None]]:
    """The report's ``attachments`` section (each file's summary and its data rows, no bytes)
    and, in the same order, the bytes shown (None for a file not shown)."""
    from .data_view import view

    try:
        listing = associated_files(reader)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a broken file list leaves the signatures' verdicts standing
        return {"files": [], "left_out": 0, "unreadable": True}, []
    files = []
    for item in listing.files:
        summary = item.summary()
        summary["data"] = view(item.content, item.mime, item.name) if item.content is not None else None
        files.append(summary)
    return {"files": files, "left_out": listing.left_out}, [item.content for item in listing.files]


def associated_files(reader: PdfFileReader) -> Listing:
    """The associated and embedded files of the parsed document, ``/AF`` first, then the name
    tree, each once. Call it under the verifier's guard (signer/pdf_guard.py): the objects are
    read with the reader's budgets and the watchdog still bounds the time."""
    walk = _Reader(reader)
    walk.af()
    walk.names()
    return Listing([walk.found[k] for k in walk.order], walk.left_out)
