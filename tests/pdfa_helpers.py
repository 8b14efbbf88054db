"""PDF/A inputs and checks for tests/test_pdfa_data.py (docs/pdfa.md)."""
from __future__ import annotations

import datetime as dt
import io
import re

from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata import model, xmp_xml
from pyhanko.pdf_utils.reader import PdfFileReader

from signer.docdata.schemas import LicenceData, elicense_xml
from signer.sealing.pdfa import PDFAID_NS, RDF_NS

NS = {"rdf": RDF_NS, "pdfaid": PDFAID_NS, "dc": "http://purl.org/dc/elements/1.1/",
      "xmp": "http://ns.adobe.com/xap/1.0/", "pdf": "http://ns.adobe.com/pdf/1.3/"}


def licence_xml() -> bytes:
    return elicense_xml(LicenceData(
        number="TEST-0001", licence_type_th="ใบอนุญาตประกอบกิจการ", holder_th="บริษัท ทดสอบ จำกัด",
        holder_en="Test Company Limited", holder_id="0105569000001", agency_code="A",
        agency_th="กรมพัฒนาธุรกิจการค้า", agency_en="Department of Business Development",
        issued_on=dt.date(2026, 11, 26), valid_until=dt.date(2027, 11, 25)))


def elicense_pdfa3(data_xml: bytes | None = None) -> bytes:
    from signer.sealing.sample_pdf import sample_elicense_pdf

    return sample_elicense_pdf(agency_th="กรมพัฒนาธุรกิจการค้า", agency_en="Department of Business Development",
                               licensee_th="บริษัท ทดสอบ จำกัด", licence_no="TEST-0001",
                               issued_on=dt.date(2026, 11, 26), data_xml=data_xml)


def variant(pdf: bytes, *, part: int | None = None, output_intent: bool = True, producer: str | None = None) -> bytes:
    """``pdf`` with its claim changed to PDF/A-``part``, its output intent removed and/or another
    producer in Info and XMP alike (as another tool would have written it), in an unsigned
    incremental update."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    fields = {k: v for root in w.root["/Metadata"].xmp for k, v in root}
    if part is not None:
        fields[model.ExpandedName(ns=PDFAID_NS, local_name="part")] = model.XmpValue(str(part))
        fields[model.ExpandedName(ns=PDFAID_NS, local_name="conformance")] = model.XmpValue("B")
    if producer is not None:
        fields[model.PDF_PRODUCER] = model.XmpValue(producer)
        w._info.get_object()["/Producer"] = generic.TextStringObject(producer)
        w.mark_update(w._info)
    w.root["/Metadata"] = w.add_object(xmp_xml.MetadataStream.from_xmp([model.XmpStructure(fields)]))
    if not output_intent:
        del w.root["/OutputIntents"]
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def xmp_tree(reader: PdfFileReader) -> etree._Element:
    return etree.fromstring(reader.root["/Metadata"].data)


def xmp_value(tree: etree._Element, prefix: str, name: str) -> str | None:
    """A simple XMP property, as attribute or element; for dc:title / dc:creator the first rdf:li."""
    for desc in tree.iter(f"{{{RDF_NS}}}Description"):
        attr = desc.get(f"{{{NS[prefix]}}}{name}")
        if attr is not None:
            return attr
        child = desc.find(f"{prefix}:{name}", NS)
        if child is not None:
            li = child.find(".//rdf:li", NS)
            return (li if li is not None else child).text
    return None


def pdf_date(text: str) -> dt.datetime:
    """A PDF date string (ISO 32000-1 7.9.4), as pyHanko writes it."""
    m = re.match(r"D:(\d{14})(Z|[+-]\d\d'\d\d'?)?", text)
    assert m, text
    when = dt.datetime.strptime(m.group(1), "%Y%m%d%H%M%S")
    tz = m.group(2) or "Z"
    if tz == "Z":
        return when.replace(tzinfo=dt.timezone.utc)
    sign = 1 if tz[0] == "+" else -1
    return when.replace(tzinfo=dt.timezone(sign * dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))))


def info_xmp_mismatches(pdf: bytes) -> list[str]:
    """Where the Info dictionary and the XMP packet of the last revision disagree (ISO 19005-3
    6.6.2.3.1 Table 3; ISO 19005-1 6.7.3): Title, Author, Creator, Producer, CreationDate, ModDate."""
    reader = PdfFileReader(io.BytesIO(pdf))
    info = reader.trailer["/Info"]
    tree = xmp_tree(reader)
    wrong = []
    for key, (prefix, name) in {"/Title": ("dc", "title"), "/Author": ("dc", "creator"),
                                "/Creator": ("xmp", "CreatorTool"), "/Producer": ("pdf", "Producer")}.items():
        if key in info and str(info[key]) != xmp_value(tree, prefix, name):
            wrong.append(f"{key} {str(info[key])!r} != {prefix}:{name} {xmp_value(tree, prefix, name)!r}")
    for key, name in {"/CreationDate": "CreateDate", "/ModDate": "ModifyDate"}.items():
        if key in info:
            xmp = xmp_value(tree, "xmp", name)
            if xmp is None or pdf_date(str(info[key])) != dt.datetime.fromisoformat(xmp):
                wrong.append(f"{key} {info[key]} != xmp:{name} {xmp}")
    return wrong


def embedded_files(reader: PdfFileReader) -> dict[str, generic.DictionaryObject]:
    """File name -> file specification, from the /EmbeddedFiles name tree (flat, as govca writes it)."""
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    return {str(names[i]): names[i + 1] for i in range(0, len(names), 2)}


def flip_in_stream(pdf: bytes, idnum: int) -> bytes:
    """``pdf`` with one byte of object ``idnum``'s stream data changed (its last definition)."""
    start = pdf.rindex(b"\n%d 0 obj" % idnum)
    data = pdf.index(b"stream", pdf.index(b">>", start)) + len(b"stream\n")
    end = pdf.index(b"endstream", data)
    middle = (data + end) // 2
    return pdf[:middle] + bytes([pdf[middle] ^ 0x01]) + pdf[middle + 1:]
