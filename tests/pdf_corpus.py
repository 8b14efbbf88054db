"""Malformed PDFs, built by code (no binary blobs), for the upload guard (signer/pdf_guard.py)
and for fuzzers that mutate them.

API: ``corpus()`` returns {name: PDF bytes} for the entries that need no input (every entry
point refuses them); ``signing_corpus()`` those only signing refuses (verification reads them
fine); ``sealed_corpus(sealed)`` the entries derived from an already-sealed PDF (e.g. 500
signature fields pointing at its one signature); ``all_entries(sealed)`` is all of them.
Every entry is small (a few KB at most, except those derived from ``sealed``).
"""
from __future__ import annotations

import re
import zlib

HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def build(objects: dict[int, bytes], root: int = 1, size: int | None = None, startxref: int | None = None,
          trailer_extra: bytes = b"", header: bytes = HEADER) -> bytes:
    """A PDF with a classic cross-reference table (ISO 32000-1 7.5.4) over ``objects`` (number ->
    body between ``N 0 obj`` and ``endobj``); ``size``/``startxref`` override the true values."""
    out, offsets = bytearray(header), {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref_at = len(out)
    top = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % top
    for num in range(1, top):
        out += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 00000 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        size if size is not None else top, root, trailer_extra, xref_at if startxref is None else startxref)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"


def minimal() -> bytes:
    """A valid one-page PDF: the base the broken ones differ from."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", 3: PAGE})


def huge_xref_stream_size(declared: int = 4_000_000) -> bytes:
    """An xref stream (ISO 32000-1 7.5.8) declaring millions of entries in a few hundred bytes: a
    lenient reader makes the missing entries up."""
    out = bytearray(HEADER)
    offsets = []
    for body in (b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", PAGE):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (len(offsets)) + body + b"\nendobj\n"
    xref_at = len(out)
    rows = b"\x00\x00\x00\xff" + b"".join(b"\x01" + o.to_bytes(2, "big") + b"\x00" for o in offsets)
    rows += b"\x01" + xref_at.to_bytes(2, "big") + b"\x00"
    data = zlib.compress(rows)
    out += b"4 0 obj\n" + stream(data, b"/Type /XRef /Size %d /W [1 2 1] /Root 1 0 R /Filter /FlateDecode " % declared)
    out += b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def huge_xref_table_size() -> bytes:
    """A classic table whose subsection header declares 4,000,000 entries (ISO 32000-1 7.5.4)."""
    pdf = minimal()
    return pdf.replace(b"xref\n0 4\n", b"xref\n0 4000000\n").replace(b"/Size 4 ", b"/Size 4000000 ")


def huge_startxref() -> bytes:
    """startxref far past the end of the file (ISO 32000-1 7.5.5), too big for a C integer."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", 3: PAGE},
                 startxref=10 ** 30)


def startxref_past_end() -> bytes:
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", 3: PAGE},
                 startxref=10 ** 9)


def self_reference() -> bytes:
    """An object whose value is a reference to itself; the catalog's /Pages is that object."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"2 0 R"})


def reference_loop() -> bytes:
    """Two objects referring to each other (a chain that never reaches a value)."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"3 0 R", 3: b"2 0 R"})


def deep_arrays(depth: int = 100_000) -> bytes:
    """Arrays nested 100,000 deep inside the catalog (ISO 32000-1 7.3.6 sets no depth limit;
    Annex C of ISO 32000-1 suggests implementations limit it)."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * depth + b"]" * depth + b" >>",
                  2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", 3: PAGE})


def deep_dicts(depth: int = 100_000) -> bytes:
    return build({1: b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"<< /A " * depth + b"1" + b" >>" * depth + b" >>",
                  2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", 3: PAGE})


def deep_page_tree(depth: int = 5000) -> bytes:
    """A page tree 5,000 levels deep, each /Pages node with one kid (valid syntax, absurd shape)."""
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>"}
    for i in range(depth):
        num = 2 + i
        objs[num] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (num + 1)
    objs[2 + depth] = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] >>" % (1 + depth)
    return build(objs)


def page_tree_cycle() -> bytes:
    """A /Pages node whose kid is its own parent (ISO 32000-1 7.7.3.2: the page tree is a tree)."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                  2: b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
                  3: b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
                  4: PAGE})


def page_count_lies() -> bytes:
    """/Count says 1,000,000 pages; the tree has one."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1000000 >>",
                  3: PAGE})


def pages_not_a_dictionary() -> bytes:
    """/Pages is a number (the parser's 'NumberObject has no attribute' case)."""
    return build({1: b"<< /Type /Catalog /Pages 7 >>"})


def _sig_field(name: bytes) -> dict[int, bytes]:
    contents = b"<" + b"00" * 64 + b">"
    return {1: b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] /SigFlags 3 >> >>",
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [4 0 R] >>",
            4: b"<< /FT /Sig /Type /Annot /Subtype /Widget /Rect [0 0 0 0] /P 3 0 R /T " + name + b" /V 5 0 R >>",
            5: b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange [0 10 20 10] "
               b"/Contents " + contents + b" >>"}


def field_name_bytes() -> bytes:
    """A signature field whose /T is a byte string that is no text string (ISO 32000-1 7.9.2.2)."""
    return build(_sig_field(b"<FFFE00D8>"))


def field_name_not_a_string() -> bytes:
    return build(_sig_field(b"[1 2 3]"))


def field_kids_cycle() -> bytes:
    """An AcroForm field that is its own kid (ISO 32000-1 12.7.3.1: the field tree is a tree)."""
    objs = _sig_field(b"(S)")
    objs[1] = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [6 0 R] >> >>"
    objs[6] = b"<< /T (loop) /Kids [6 0 R 4 0 R] >>"
    return build(objs)


def broken_zlib_object_stream() -> bytes:
    """The catalog lives in an object stream (ISO 32000-1 7.5.7) whose Flate data is garbage."""
    pdf = bytearray(HEADER)
    body = b"garbage, not deflate data" * 4
    at2 = len(pdf)
    pdf += b"2 0 obj\n" + stream(body, b"/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode ") + b"\nendobj\n"
    return _xref_stream_tail(pdf, {2: at2}, {1: (2, 0)})


def object_stream_is_not_a_stream() -> bytes:
    """The xref stream puts the catalog in "object stream" 2, which is a plain dictionary
    (ISO 32000-1 7.5.7; pyHanko's reader asserts on it)."""
    pdf = bytearray(HEADER)
    at2 = len(pdf)
    pdf += b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    return _xref_stream_tail(pdf, {2: at2}, {1: (2, 0)})


def zlib_bomb() -> bytes:
    """An object stream that inflates twice over to 1 GiB of zeros from a file of a few KB."""
    inner = _zeros_deflated(1 << 30)
    outer = zlib.compress(inner, 9)
    pdf = bytearray(HEADER)
    at2 = len(pdf)
    pdf += b"2 0 obj\n" + stream(outer, b"/Type /ObjStm /N 1 /First 4 /Filter [/FlateDecode /FlateDecode] ")
    pdf += b"\nendobj\n"
    return _xref_stream_tail(pdf, {2: at2}, {1: (2, 0)})


def _zeros_deflated(n: int) -> bytes:
    """zlib data of ``n`` zero bytes (n a multiple of 1 MiB), made in milliseconds: after a full
    flush the deflate block for 1 MiB of zeros is the same every time, so it is repeated."""
    chunk = b"\x00" * (1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    end = comp.flush(zlib.Z_FINISH)
    adler = 1
    for _ in range(n >> 20):
        adler = zlib.adler32(chunk, adler)
    return b"\x78\xda" + first + block * ((n >> 20) - 1) + end + adler.to_bytes(4, "big")


def _xref_stream_tail(pdf: bytearray, plain: dict[int, int], packed: dict[int, tuple[int, int]]) -> bytes:
    xref_num = max([*plain, *packed]) + 1
    xref_at = len(pdf)
    rows = b"\x00\x00\x00\x00\xff"
    for num in range(1, xref_num + 1):
        if num in plain:
            rows += b"\x01" + plain[num].to_bytes(3, "big") + b"\x00"
        elif num in packed:
            rows += b"\x02" + packed[num][0].to_bytes(3, "big") + bytes([packed[num][1]])
        else:
            rows += b"\x01" + xref_at.to_bytes(3, "big") + b"\x00"
    pdf += b"%d 0 obj\n" % xref_num + stream(rows, b"/Type /XRef /Size %d /W [1 3 1] /Root 1 0 R " % (xref_num + 1))
    pdf += b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(pdf)


def truncated() -> bytes:
    pdf = minimal()
    return pdf[: len(pdf) // 2]


def no_trailer() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer garbage"


def encrypted_stub() -> bytes:
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", 3: PAGE,
                  4: b"<< /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>"}, trailer_extra=b"/Encrypt 4 0 R ")


def many_revisions(count: int = 1001) -> bytes:
    """``count`` incremental updates (ISO 32000-1 7.5.6), each re-writing the catalog."""
    pdf = minimal()
    for _ in range(count):
        pdf = incremental(pdf, {1: b"<< /Type /Catalog /Pages 2 0 R >>"})
    return pdf


def prev_past_end() -> bytes:
    """An incremental update whose /Prev (the previous xref section) is past the end of the file."""
    pdf = incremental(minimal(), {1: b"<< /Type /Catalog /Pages 2 0 R >>"})
    return re.sub(rb"/Prev \d+", b"/Prev 99999999", pdf)


def corpus() -> dict[str, bytes]:
    """Name -> malformed PDF; none needs an input document."""
    return {
        "xref_stream_declares_4M_entries": huge_xref_stream_size(),
        "xref_table_declares_4M_entries": huge_xref_table_size(),
        "startxref_too_big_for_an_integer": huge_startxref(),
        "startxref_past_the_end": startxref_past_end(),
        "prev_past_the_end": prev_past_end(),
        "1001_revisions": many_revisions(),
        "object_refers_to_itself": self_reference(),
        "objects_refer_to_each_other": reference_loop(),
        "arrays_nested_100000_deep": deep_arrays(),
        "dicts_nested_100000_deep": deep_dicts(),
        "page_tree_5000_levels_deep": deep_page_tree(),
        "page_tree_cycle": page_tree_cycle(),
        "page_count_lies": page_count_lies(),
        "pages_is_a_number": pages_not_a_dictionary(),
        "field_name_is_a_byte_string": field_name_bytes(),
        "field_name_is_an_array": field_name_not_a_string(),
        "field_is_its_own_kid": field_kids_cycle(),
        "broken_zlib_object_stream": broken_zlib_object_stream(),
        "zlib_bomb_1GiB": zlib_bomb(),
        "object_stream_is_not_a_stream": object_stream_is_not_a_stream(),
        "truncated": truncated(),
        "no_trailer": no_trailer(),
        "encrypted": encrypted_stub(),
    }


def info_not_a_dictionary() -> bytes:
    """The document information dictionary (/Info, ISO 32000-1 14.3.3) is an array."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", 3: PAGE,
                  4: b"[1 2 3]"}, trailer_extra=b"/Info 4 0 R ")


def xmp_not_xml() -> bytes:
    """An XMP metadata stream (ISO 32000-1 14.3.2) that is no XML."""
    return build({1: b"<< /Type /Catalog /Pages 2 0 R /Metadata 4 0 R >>",
                  2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", 3: PAGE,
                  4: stream(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF <<<", b"/Type /Metadata /Subtype /XML ")})


def signing_corpus() -> dict[str, bytes]:
    """PDFs that can be verified (no signature to check) but not signed: what pyHanko's writer
    reads when it signs is broken. Entry points that sign must refuse them with a 4xx."""
    return {"info_is_not_a_dictionary": info_not_a_dictionary(), "xmp_is_not_xml": xmp_not_xml()}


# --- entries derived from a sealed document ---------------------------------------------------
def _trailer_info(pdf: bytes) -> tuple[int, int, bytes]:
    """(/Size, last startxref, /Root reference) of a PDF, read from its end."""
    startxref = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    sizes = re.findall(rb"/Size\s+(\d+)", pdf)
    roots = re.findall(rb"/Root\s+(\d+\s+\d+\s+R)", pdf)
    return int(sizes[-1]), startxref, roots[-1]


def incremental(pdf: bytes, objects: dict[int, bytes], root: bytes | None = None) -> bytes:
    """An incremental update (ISO 32000-1 7.5.6) adding or replacing ``objects``, classic table."""
    size, prev, old_root = _trailer_info(pdf)
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n"
    for num in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (num, offsets[num])
    new_size = max(size, max(objects) + 1)
    out += b"trailer\n<< /Size %d /Root %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        new_size, root or old_root, prev, xref_at)
    return bytes(out)


def many_signature_fields(sealed: bytes, count: int = 500) -> bytes:
    """The sealed document plus one incremental update adding ``count`` signature fields whose
    /V all point at the one existing signature dictionary (ISO 32000-1 12.7.4.5, 12.8)."""
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(sealed), strict=False)
    root_ref = reader.root_ref
    fields = reader.root["/AcroForm"]["/Fields"]
    sig_field = next(f for f in (fields[i] for i in range(len(fields))) if f["/FT"] == "/Sig" and "/V" in f)
    sig_ref = sig_field.raw_get("/V")
    first = int(reader.trailer["/Size"])
    objs: dict[int, bytes] = {}
    refs = []
    for i in range(count):
        num = first + i
        objs[num] = b"<< /FT /Sig /T (Extra%d) /V %d %d R /Ff 0 >>" % (i, sig_ref.idnum, sig_ref.generation)
        refs.append(b"%d 0 R" % num)
    acro_num = first + count
    old = b" ".join(b"%d %d R" % (r.idnum, r.generation) for r in (fields.raw_get(i) for i in range(len(fields))))
    objs[acro_num] = b"<< /Fields [" + old + b" " + b" ".join(refs) + b"] /SigFlags 3 >>"
    # The catalog as it was (/Perms, /DSS, /Metadata ...), its /AcroForm the new one.
    catalog_dict = generic.DictionaryObject({k: reader.root.raw_get(k) for k in reader.root})
    catalog_dict["/AcroForm"] = generic.IndirectObject(acro_num, 0, reader)
    buf = io.BytesIO()
    catalog_dict.write_to_stream(buf, None)
    catalog = buf.getvalue()
    objs[root_ref.idnum] = catalog
    return incremental(sealed, objs)


def sealed_field_name_bytes(sealed: bytes) -> bytes:
    """The sealed document, its signature field renamed (incremental update) to a byte string that
    is no text string (ISO 32000-1 12.7.3.1, Table 220: /T is a text string)."""
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
    fields = writer.root["/AcroForm"]["/Fields"]
    ref = fields.raw_get(0)
    field = ref.get_object()
    field["/T"] = generic.ByteStringObject(b"\xff\xfe\x00\xd8")
    writer.update_container(field)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sealed_corpus(sealed: bytes) -> dict[str, bytes]:
    """Malformed variants of an already-sealed PDF."""
    return {
        "sealed_plus_500_signature_fields": many_signature_fields(sealed, 500),
        "sealed_truncated": sealed[: len(sealed) * 2 // 3],
        "sealed_field_name_is_a_byte_string": sealed_field_name_bytes(sealed),
        "sealed_startxref_past_end": re.sub(rb"startxref\s+\d+\s+%%EOF\s*$", b"startxref\n999999999\n%%EOF\n", sealed),
    }


def all_entries(sealed: bytes | None = None) -> dict[str, bytes]:
    """Every entry: ``corpus()``, ``signing_corpus()`` and, given a sealed PDF, ``sealed_corpus``."""
    return {**corpus(), **signing_corpus(), **(sealed_corpus(sealed) if sealed is not None else {})}
