"""The one hardened parse of an uploaded PDF, to sign or to verify (budgets and watchdog in
signer/pdf_guard.py): each refusal is a 4xx with a precise message in plain words."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from typing import Callable

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm

from .errors import BadInputError, BudgetError, ConflictError, TooLargeError, UnsupportedMediaError
from .page_box import check_stamp_box
from .pdf_guard import DEFAULT_BUDGETS, Budgets, guard, precheck


@dataclass
class Shape:
    """What the walks counted: pages, form fields, filled signature fields."""

    pages: int = 0
    fields: int = 0
    signatures: int = 0


def read_pdf(data: bytes, max_bytes: int, budgets: Budgets = DEFAULT_BUDGETS) -> PdfFileReader:
    """The checks every upload gets, to sign or to verify: size, PDF, structure within budgets,
    not encrypted, a page tree and field tree that are trees within their budgets."""
    budgets = budgets if budgets.max_bytes <= max_bytes else replace(budgets, max_bytes=max_bytes)
    if len(data) > budgets.max_bytes:
        raise TooLargeError(f"the PDF is {len(data):,} bytes; the limit is {budgets.max_bytes:,} bytes")
    if not data:
        raise BadInputError("the file is empty; send a PDF")
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise UnsupportedMediaError("the file is not a PDF (it does not start with %PDF-)")
    precheck(data, budgets)
    with guard(budgets.parse_seconds, "reading the PDF", budgets):
        reader = PdfFileReader(io.BytesIO(data), strict=False, decode_limits=budgets.decode)
        if reader.encrypted:
            raise BadInputError("the PDF is encrypted (password-protected); send it without a password or encryption")
        root = reader.root
        if not isinstance(root, generic.DictionaryObject):
            raise BadInputError("the PDF has no document catalog (ISO 32000-1 7.7.2)")
        shape = Shape()
        _walk_pages(root, budgets, shape, _leaf_by_its_bytes(reader, data))
        _walk_fields(root, budgets, shape)
        reader.embedded_signatures  # noqa: B018 - pyHanko's reading of the signatures, now bounded
    return reader


def check_pdf(data: bytes, max_bytes: int, certify: bool, budgets: Budgets = DEFAULT_BUDGETS,
              page: int | None = None, box: tuple[int, int, int, int] | None = None) -> PdfFileReader:
    """Refuse what cannot or must not be signed; returns the parsed reader. ``page``: the page the
    visible stamp goes on (negative from the end), None when nothing is drawn; ``box``: the
    stamp's box the client chose on it (signer/page_box.py ``check_stamp_box``), None for the default."""
    reader = read_pdf(data, max_bytes, budgets)
    with guard(budgets.parse_seconds, "reading the PDF", budgets):
        existing = certification(reader)
        _what_signing_reads(reader)
        if page is not None:
            _stamped_page(reader, page, box)
    if existing is not None:
        if existing == MDPPerm.NO_CHANGES:
            raise ConflictError("the PDF is already certified with no changes allowed (DocMDP P=1); "
                                "it cannot be signed again")
        if certify:
            raise ConflictError("the PDF is already certified; a document has at most one certification "
                                "signature (ISO 32000-1 12.8.2.2): send certify=false to add an approval seal")
    return reader


def _what_signing_reads(reader: PdfFileReader) -> None:
    """Read now what pyHanko's writer reads when it signs, so that a broken one is refused before
    anything is signed (or a CSC SAD is spent): the document information dictionary and the XMP
    metadata stream (ISO 32000-1 14.3.3, 14.3.2)."""
    from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream

    trailer = reader.trailer_view
    if "/Info" in trailer:
        info = trailer["/Info"]
        if not isinstance(info, generic.DictionaryObject):
            raise BadInputError("the document information dictionary (/Info) is not a dictionary "
                                "(ISO 32000-1 14.3.3)")
        for key in list(info):
            info[key]  # noqa: B018 - every value resolves
    if "/Metadata" in reader.root:
        meta = reader.root["/Metadata"]
        if not isinstance(meta, generic.StreamObject):
            raise BadInputError("the document's /Metadata is not a stream (ISO 32000-1 14.3.2)")
        if isinstance(meta, MetadataStream):
            try:
                meta.xmp  # noqa: B018 - the XMP packet parses
            except ValueError:
                raise BadInputError("the document's XMP metadata (/Metadata) is not well-formed XMP "
                                    "(ISO 32000-1 14.3.2)") from None


def _stamped_page(reader: PdfFileReader, page: int, box: tuple[int, int, int, int] | None = None) -> None:
    """The page the stamp goes on, reached the way pyHanko's writer reaches it, with a /MediaBox
    of four numbers, own or inherited (ISO 32000-1 7.7.3.3, 7.7.3.4); and the client's ``box``,
    if any, big enough and within the page's visible area (signer/page_box.py ``check_stamp_box``)."""
    count = int(reader.root["/Pages"]["/Count"])  # the walk checked it against the leaves
    index = page if page >= 0 else count + page
    if not 0 <= index < count:
        raise BadInputError(f"invalid options: page {page} does not exist; the document has {count} pages")
    leaf = node = reader.find_page_for_modification(index)[0].get_object()
    for _ in range(DEFAULT_BUDGETS.max_depth):
        if "/MediaBox" in node:
            media = node["/MediaBox"]
            if isinstance(media, generic.ArrayObject) and len(media) == 4 and all(
                    isinstance(v, (generic.NumberObject, generic.FloatObject)) for v in media):
                if box is not None:

                    check_stamp_box(box, leaf, index + 1)
                return
            break
        if "/Parent" not in node:
            break
        node = node["/Parent"]
    raise BadInputError(f"page {index + 1} has no valid /MediaBox (four numbers; ISO 32000-1 7.7.3.3, Table 30)")


_PAGE_TYPE = re.compile(rb"/Type\s*/Page(?![A-Za-z0-9#])")


def _leaf_by_its_bytes(reader: PdfFileReader, data: bytes) -> Callable[[generic.IndirectObject], bool]:
    """True when a page tree kid is plainly a page by its bytes: an object at a file offset whose
    body, up to ``endobj``, says ``/Type /Page`` and has no ``/Kids``. Parsing a page dictionary
    with pyHanko costs ~0.2 ms, the look ~5 us; anything less plain (an object in an object
    stream, no ``/Type``) is parsed. A node that passes for a leaf here is still walked by pyHanko
    when it is on the way to the stamped page (:func:`_stamped_page`)."""
    def leaf(ref: generic.IndirectObject) -> bool:
        try:
            marker = reader.xrefs[ref.reference]
        except Exception:  # noqa: BLE001 - not plain: parse it
            return False
        if not isinstance(marker, int) or not 0 <= marker < len(data):
            return False
        window = data[marker:marker + 4096]
        end = window.find(b"endobj")
        if end < 0:
            return False
        body = window[:end]
        return b"/Kids" not in body and _PAGE_TYPE.search(body) is not None
    return leaf


def certification(reader: PdfFileReader) -> MDPPerm | None:
    """The DocMDP permission of an existing certification signature, if any (ISO 32000-1 12.8.2.2)."""
    perms = _get(reader.root, "/Perms")
    if not isinstance(perms, generic.DictionaryObject) or "/DocMDP" not in perms:
        return None
    sig = perms["/DocMDP"]
    if not isinstance(sig, generic.DictionaryObject):
        raise BadInputError("the PDF's /Perms /DocMDP entry is not a signature dictionary (ISO 32000-1 12.8.4)")
    refs = _get(sig, "/Reference", [])
    for ref in refs if isinstance(refs, generic.ArrayObject) else []:
        ref = ref.get_object()
        if isinstance(ref, generic.DictionaryObject) and _get(ref, "/TransformMethod") == "/DocMDP":
            params = _get(ref, "/TransformParams", generic.DictionaryObject())
            p = _get(params, "/P", 2) if isinstance(params, generic.DictionaryObject) else 2
            if int(p) not in (1, 2, 3):
                raise BadInputError(f"the PDF's DocMDP permission /P is {int(p)}; it must be 1, 2 or 3 "
                                    "(ISO 32000-1 12.8.2.2.2, Table 254)")
            return MDPPerm(int(p))
    return MDPPerm.FILL_FORMS


def _get(d: generic.DictionaryObject, key: str, default: object = None) -> object:
    """The value of ``key``, references resolved (``dict.get`` would return them unresolved)."""
    return d[key] if key in d else default


def _key(ref: object) -> tuple[int, int] | None:
    return (ref.idnum, ref.generation) if isinstance(ref, generic.IndirectObject) else None


def _walk_pages(root: generic.DictionaryObject, budgets: Budgets, shape: Shape,
                leaf: Callable[[generic.IndirectObject], bool]) -> None:
    """The page tree (ISO 32000-1 7.7.3): a tree of indirect nodes, each /Count the number of its
    leaves, /Parent the node that lists it; bounded in depth and pages, cycles refused."""
    ref = root.raw_get("/Pages") if "/Pages" in root else None
    if _key(ref) is None:
        raise BadInputError("the document catalog has no page tree: /Pages must be an indirect reference to "
                            "a page tree node (ISO 32000-1 7.7.2, Table 28)")
    seen: set[tuple[int, int]] = set()

    def node_pages(ref: generic.IndirectObject, parent: tuple[int, int] | None, depth: int) -> int:
        key = _key(ref)
        if key is None:
            raise BadInputError("a page tree node's /Kids holds a direct object; each kid must be an indirect "
                                "reference (ISO 32000-1 7.7.3.2, Table 29)")
        if depth > budgets.max_depth:
            raise BudgetError(f"the page tree is more than {budgets.max_depth} levels deep; the limit is "
                              f"{budgets.max_depth}")
        if key in seen:
            raise BadInputError("the page tree is not a tree: a node is reached twice (a cycle, or a page listed "
                                "under two parents; ISO 32000-1 7.7.3.2)")
        seen.add(key)
        if parent is None or not leaf(ref):
            node = ref.get_object()
            if not isinstance(node, generic.DictionaryObject):
                raise BadInputError("a page tree node is not a dictionary (ISO 32000-1 7.7.3)")
            up = node.raw_get("/Parent") if "/Parent" in node else None
            if parent is not None and up is not None and _key(up) != parent:
                raise BadInputError("a page's /Parent is not the node that lists it (ISO 32000-1 7.7.3.2, Table 29)")
            if _get(node, "/Type") == "/Pages" or "/Kids" in node:
                kids = _get(node, "/Kids")
                if not isinstance(kids, generic.ArrayObject):
                    raise BadInputError("a page tree node has no /Kids array (ISO 32000-1 7.7.3.2, Table 29)")
                total = sum(node_pages(kids.raw_get(i), key, depth + 1) for i in range(len(kids)))
                count = _get(node, "/Count")
                if not isinstance(count, int) or int(count) != total:
                    raise BadInputError(f"a page tree node gives /Count {_shown(count)} but holds {total:,} page(s) "
                                        "(ISO 32000-1 7.7.3.2, Table 29)")
                return total
        shape.pages += 1
        if shape.pages > budgets.max_pages:
            raise BudgetError(f"the PDF has more than {budgets.max_pages:,} pages; the limit is "
                              f"{budgets.max_pages:,}")
        return 1

    node_pages(ref, None, 1)  # type: ignore[arg-type]


def _shown(value: object) -> str:
    return f"{int(value):,}" if isinstance(value, int) else "no number"


def _walk_fields(root: generic.DictionaryObject, budgets: Budgets, shape: Shape) -> None:
    """The interactive form's field tree (ISO 32000-1 12.7.3.1): a tree, each partial name a text
    string; at most ``max_fields`` fields and ``max_signatures`` filled signature fields
    (ISO 32000-1 12.7.4.5, 12.8), counted before any signature is parsed or validated."""
    form = _get(root, "/AcroForm")
    if form is None:
        return
    if not isinstance(form, generic.DictionaryObject):
        raise BadInputError("the document's /AcroForm is not a dictionary (ISO 32000-1 12.7.2)")
    fields = _get(form, "/Fields", generic.ArrayObject())
    if not isinstance(fields, generic.ArrayObject):
        raise BadInputError("the interactive form's /Fields is not an array (ISO 32000-1 12.7.2, Table 218)")
    seen: set[tuple[int, int]] = set()

    def visit(ref: object, depth: int, field_type: object) -> None:
        key = _key(ref)
        if depth > budgets.max_depth:
            raise BudgetError(f"the form's field tree is more than {budgets.max_depth} levels deep; the limit is "
                              f"{budgets.max_depth}")
        if key is not None:
            if key in seen:
                raise BadInputError("the form's field tree is not a tree: a field is reached twice (a cycle, or a "
                                    "field listed under two parents; ISO 32000-1 12.7.3.1)")
            seen.add(key)
        node = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref
        if not isinstance(node, generic.DictionaryObject):
            raise BadInputError("a form field is not a dictionary (ISO 32000-1 12.7.3.1)")
        shape.fields += 1
        if shape.fields > budgets.max_fields:
            raise BudgetError(f"the PDF has more than {budgets.max_fields:,} form fields; the limit is "
                              f"{budgets.max_fields:,}")
        name = _get(node, "/T")
        if name is not None and not isinstance(name, generic.TextStringObject):
            raise BadInputError("a form field's name (/T) is not a text string (ISO 32000-1 12.7.3.1, Table 220)")
        field_type = _get(node, "/FT", field_type)
        if field_type == "/Sig" and _get(node, "/V") is not None:
            shape.signatures += 1
            if shape.signatures > budgets.max_signatures:
                raise BudgetError(f"the PDF has more than {budgets.max_signatures} signed signature fields; the "
                                  f"limit is {budgets.max_signatures} (ISO 32000-1 12.7.4.5)")
        kids = _get(node, "/Kids")
        if kids is not None:
            if not isinstance(kids, generic.ArrayObject):
                raise BadInputError("a form field's /Kids is not an array (ISO 32000-1 12.7.3.1, Table 220)")
            for i in range(len(kids)):
                visit(kids.raw_get(i), depth + 1, field_type)

    for i in range(len(fields)):
        visit(fields.raw_get(i), 1, None)
