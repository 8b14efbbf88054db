"""Documents as data on the verification page (issue 14): the associated files of a sealed PDF
(ISO 32000-2 14.13, ISO 19005-3 6.8) listed with their data, Thai first; XML documents sealed
with XAdES (ETSI EN 319 132-1) verified on the same page; hostile input bounded.

The unit tests read documents made here; the page tests run `govca serve` under gunicorn and
headless Chromium, like tests/test_verify_page.py."""
from __future__ import annotations

import base64
import datetime as dt
import io
import json
import zlib
from pathlib import Path

import pytest
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from sealing_helpers import sample_pdf
from signer.docdata.schemas import LicenceData, ReceiptData, elicense_xml, ereceipt_xml
from signer.pdf_checks import read_pdf
from signer.verification import attachments as att
from signer.verification.data_view import MAX_DEPTH, MAX_ROWS, MAX_VALUE, view
from signer.verification.verify import TrustSettings, Verifier
from verify_helpers import foreign_signed

LICENCE = LicenceData("TEST-0001", "ใบอนุญาตประกอบกิจการ", "บริษัท ทดสอบ จำกัด", "Test Company Limited",
                      "0105569000001", "A", "กรมพัฒนาธุรกิจการค้า", "Department of Business Development",
                      dt.date(2026, 12, 6), dt.date(2027, 12, 5))


def licence_xml() -> bytes:
    return elicense_xml(LICENCE)


def receipt_xml() -> bytes:
    from decimal import Decimal

    return ereceipt_xml(ReceiptData("RC-2569-000123", dt.date(2026, 12, 6), "A", "กรมพัฒนาธุรกิจการค้า",
                                    "Department of Business Development", "นาย ทดสอบ ระบบ", "3100100000001",
                                    (("ค่าธรรมเนียมใบอนุญาต", Decimal("500.00")), ("ค่าคัดสำเนา", Decimal("20.00")))))


def with_files(pdf: bytes, files: list[tuple], af: bool = True) -> bytes:
    """``pdf`` with embedded files added in one incremental update: (name, data, mime,
    relationship or None); ``data`` as bytes, or ("flate", encoded) for a stream given encoded."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for name, data, mime, rel in files:
        if isinstance(data, tuple):
            ef = embed.EmbeddedFileObject(w, dict_data=generic.DictionaryObject(
                {generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")}), encoded_data=data[1],
                mime_type=mime)
        else:
            ef = embed.EmbeddedFileObject.from_file_data(w, data, mime_type=mime,
                                                         params=embed.EmbeddedFileParams(embed_size=True))
        embed.embed_file(w, embed.FileSpec(name, file_name=name, embedded_data=ef, description=f"about {name}",
                                           af_relationship=generic.pdf_name("/" + rel) if rel and af else None))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def listing(pdf: bytes) -> att.Listing:
    return att.associated_files(read_pdf(pdf, 50 << 20))


def offline_verifier() -> Verifier:
    return Verifier(lambda: TrustSettings(()), None, lambda: dt.datetime.now(dt.timezone.utc), 50 << 20)


# --- attachments: ISO 32000-2 14.13, 7.11.4 ---------------------------------------------------
def test_iso32000_2_14_13_af_and_embedded_files_listed_once_with_name_type_relationship_size() -> None:
    xml = licence_xml()
    files = listing(with_files(sample_pdf(), [("licence.xml", xml, "application/xml", "Data")])).files
    assert len(files) == 1, files  # in /AF and in /Names /EmbeddedFiles: one file
    f = files[0]
    assert (f.name, f.mime, f.relationship, f.declared_size, f.content) == ("licence.xml", "application/xml", "Data",
                                                                            len(xml), xml)
    assert f.in_af and f.in_names and f.description == "about licence.xml" and f.problem is None
    summary = f.summary()
    assert summary["sha256"] == __import__("hashlib").sha256(xml).hexdigest()
    assert "content" not in summary and xml.decode() not in json.dumps(summary)


def test_iso32000_2_table43_relationship_defaults_to_unspecified() -> None:
    """ISO 32000-2 7.11.3 Table 43: /AFRelationship absent means Unspecified."""
    files = listing(with_files(sample_pdf(), [("notes.json", b'{"a": 1}', "application/json", None)])).files
    assert [(f.name, f.relationship, f.in_af, f.in_names) for f in files] == [("notes.json", "Unspecified", False,
                                                                                True)]


def test_iso32000_2_12_8_1_covered_only_when_in_a_signed_revision() -> None:
    """A signature covers its revision and the earlier ones: a file embedded before signing is
    covered, one added in a later incremental update is not (test signatures with a throwaway
    key: foreign material)."""
    signed = foreign_signed(with_files(sample_pdf(), [("licence.xml", licence_xml(), "application/xml", "Data")]))
    later = with_files(signed, [("extra.xml", b"<x/>", "application/xml", "Supplement")])
    got = {f.name: f.covered for f in listing(later).files}
    assert got == {"licence.xml": True, "extra.xml": False}, got
    assert [f.covered for f in listing(with_files(sample_pdf(), [("a.xml", b"<a/>", "text/xml", "Data")])).files] == [
        False]  # no signature at all


def test_a_small_stream_that_inflates_is_listed_as_too_large_never_decoded_unbounded() -> None:
    """A 64 MB run of zeros deflates to ~64 KB: the file is listed, its bytes are not decoded
    past the per-file cap (pyHanko's decode limits, ISO 32000-1 7.4.4 FlateDecode)."""
    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    assert len(bomb) < 100_000
    files = listing(with_files(sample_pdf(), [("bomb.xml", ("flate", bomb), "application/xml", "Data"),
                                              ("ok.xml", b"<ok/>", "application/xml", "Data")])).files
    assert [(f.name, f.problem, f.content) for f in files] == [("bomb.xml", "too_large", None),
                                                               ("ok.xml", None, b"<ok/>")]


def test_a_file_just_over_the_cap_is_too_large_and_one_at_the_cap_is_shown() -> None:
    at_cap = b"<a>" + b"x" * (att.MAX_FILE_BYTES - 7) + b"</a>"
    over = at_cap + b" " * 5000  # past the cap and pyHanko's few KB of slack
    files = listing(with_files(sample_pdf(), [("at.xml", at_cap, "application/xml", "Data"),
                                              ("over.xml", over, "application/xml", "Data")])).files
    assert [(f.name, f.problem, len(f.content or b"")) for f in files] == [("at.xml", None, att.MAX_FILE_BYTES),
                                                                           ("over.xml", "too_large", 0)]


def test_only_the_first_files_are_decoded_the_rest_listed_without_content() -> None:
    n = att.MAX_SHOWN + 2
    files = listing(with_files(sample_pdf(), [(f"f{i}.xml", b"<f/>", "application/xml", "Data")
                                              for i in range(n)])).files
    assert len(files) == n
    assert [f.problem for f in files] == [None] * att.MAX_SHOWN + ["not_shown"] * 2
    assert all(f.content is None for f in files[att.MAX_SHOWN:])


def test_the_pdf_report_has_an_attachments_section_with_data_rows_and_no_bytes() -> None:
    xml = licence_xml()
    pdf = with_files(sample_pdf(), [("licence.xml", xml, "application/xml", "Data")])
    report, contents = offline_verifier().verify_with_files(pdf)
    assert contents == [xml]
    [f] = report["attachments"]["files"]
    assert f["mime"] == "application/xml" and f["size"] == {"declared": len(xml), "decoded": len(xml)}
    rows = {r["path"]: r for r in f["data"]["rows"]}
    assert rows["LicenceNumber"]["value"] == "TEST-0001"
    text = json.dumps(report, ensure_ascii=False)
    assert base64.b64encode(xml).decode()[:40] not in text and "<eLicense" not in text
    assert offline_verifier().verify(sample_pdf())["attachments"] == {"files": [], "left_out": 0}


# --- the data: known schemas, Buddhist era, generic trees, bounds --------------------------------
def test_known_schema_rows_are_labelled_thai_and_english_with_buddhist_era_dates() -> None:
    """e-License 1 (docs/document-data.md): labelled rows; xs:date (XML Schema 1.1 Part 2
    3.3.9) also in the Buddhist era (พ.ศ. = ค.ศ. + 543)."""
    v = view(licence_xml(), "application/xml", "licence.xml")
    assert v["schema"]["title"] == {"th": "ใบอนุญาตอิเล็กทรอนิกส์", "en": "Electronic licence"} and v["schema"]["valid"]
    rows = {r["path"]: r for r in v["rows"]}
    assert rows["LicenceNumber"]["label"] == {"th": "เลขที่ใบอนุญาต", "en": "Licence number"}
    assert rows["Holder/NameTH"]["value"] == "บริษัท ทดสอบ จำกัด" and rows["Holder/NameTH"]["depth"] == 1
    assert rows["Validity/ValidUntil"]["date"] == {"th": "5 ธันวาคม พ.ศ. 2570", "en": "5 December 2027"}
    assert rows["LicenceNumber"]["date"] is None and "@version" not in rows


def test_erecipt_schema_rows_and_the_enveloped_signature_is_not_data() -> None:
    """An enveloped XMLDSig signature (XMLDSig 1.1 4.1) in the receipt is left out of its rows."""
    xml = receipt_xml().replace(b"</eReceipt>", b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
                                b"<ds:SignedInfo/></ds:Signature></eReceipt>")
    v = view(xml, None, "receipt.xml")
    paths = [r["path"] for r in v["rows"]]
    assert paths.count("Item") == 2 and not any("Signature" in p for p in paths), paths
    rows = {r["path"]: r for r in v["rows"]}
    assert rows["IssuedOn"]["date"]["th"] == "6 ธันวาคม พ.ศ. 2569" and rows["Total"]["value"] == "520.00"
    assert v["schema"]["valid"], v["schema"]


def test_schema_invalid_data_is_shown_and_said_to_be_invalid() -> None:
    v = view(licence_xml().replace(b"<LicenceNumber>TEST-0001</LicenceNumber>", b""), "application/xml", "l.xml")
    assert v["schema"]["valid"] is False and "LicenceType" in v["schema"]["error"], v["schema"]


def test_unknown_xml_is_a_generic_tree_with_attributes_and_text() -> None:
    v = view(b'<?xml version="1.0"?><order id="7"><line qty="2">Pens</line><when>2026-12-06</when></order>',
             "text/xml", "order.xml")
    assert v["schema"] is None and v["root"] == "order"
    got = [(r["path"], r["value"], r["depth"]) for r in v["rows"]]
    assert got == [("@id", "7", 0), ("line", "Pens", 0), ("line/@qty", "2", 1), ("when", "2026-12-06", 0)], got
    assert v["rows"][-1]["date"]["th"] == "6 ธันวาคม พ.ศ. 2569"


def test_json_is_a_generic_tree() -> None:
    """RFC 8259 values: objects and arrays as branches, scalars as values."""
    v = view(json.dumps({"licence": {"number": "X-1", "fees": [500, True, None]}}).encode(), "application/json", "a")
    got = [(r["path"], r["value"]) for r in v["rows"]]
    assert got == [("licence", None), ("licence/number", "X-1"), ("licence/fees", None), ("licence/fees[0]", "500"),
                   ("licence/fees[1]", "true"), ("licence/fees[2]", "null")], got


def test_generic_trees_are_bounded_in_rows_depth_and_value_length() -> None:
    wide = b"<r>" + b"<i>x</i>" * (MAX_ROWS + 50) + b"</r>"
    v = view(wide, "application/xml", "wide.xml")
    assert len(v["rows"]) == MAX_ROWS and v["truncated"]
    deep = b"<a>" * 40 + b"x" + b"</a>" * 40
    v = view(deep, "application/xml", "deep.xml")
    assert max(r["depth"] for r in v["rows"]) < MAX_DEPTH and v["truncated"]
    long = b"<a>" + b"y" * (MAX_VALUE * 3) + b"</a>"
    assert len(view(long, "application/xml", "long.xml")["rows"][0]["value"]) == MAX_VALUE + 1
    v = view(b"[" * 5000 + b"]" * 5000, "application/json", "deep.json")
    assert v["kind"] in ("json", "error") and len(json.dumps(v)) < 100_000


@pytest.mark.parametrize("data, needle", [
    (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', "DOCTYPE"),
    (b'<!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><a>&b;</a>', "DOCTYPE"),
    (b"<a><b></a>", "not well-formed")])
def test_hostile_or_broken_xml_data_is_listed_with_the_reason_not_a_traceback(data: bytes, needle: str) -> None:
    v = view(data, "application/xml", "evil.xml")
    assert v["kind"] == "error" and needle in v["detail"] and "root:" not in v["detail"], v


def test_files_that_are_neither_xml_nor_json_have_no_data_view() -> None:
    assert view(b"%PDF-1.7 ...", "application/pdf", "a.pdf") is None
    assert view(b"\x89PNG....", None, "pic.png") is None
