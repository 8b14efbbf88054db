"""Documents as data on the verification page (issue 14): the associated files of a sealed PDF
(ISO 32000-2 14.13, ISO 19005-3 6.8) listed with their data, Thai first; XML documents sealed
with XAdES (ETSI EN 319 132-1) verified on the same page; hostile input bounded.

The unit tests read documents made here; the page tests run `govca serve` under gunicorn and
headless Chromium, like tests/test_verify_page.py."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import time
import zlib
from pathlib import Path

import jsonschema
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from conftest import OUTPUT, Cli, make_home
from ocsp_helpers import LiveServer, free_port
from sealing_helpers import bearer, sample_pdf, setup_sealing
from signer.docdata.schemas import LicenceData, ReceiptData, elicense_xml, ereceipt_xml
from signer.openapi import REPORT
from signer.pdf_checks import read_pdf
from signer.verification import attachments as att
from signer.verification.data_view import MAX_DEPTH, MAX_ROWS, MAX_VALUE, view
from signer.verification.verify import TrustSettings, Verifier
from verify_helpers import api_seal, api_verify, foreign_signed, http, multipart, shown, toggle, upload

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
    assert summary["sha256"] == hashlib.sha256(xml).hexdigest()
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


@pytest.mark.parametrize("data, kind", [
    (b"%PDF-1.7\n...", "pdf"), (b"\n  %PDF-2.0", "pdf"), (b"junk" * 10 + b"%PDF-1.7", "pdf"),
    (b"<?xml version='1.0'?><a/>", "xml"), (b"\r\n <a/>", "xml"), (b"\xef\xbb\xbf<a/>", "xml"),
    ("<a/>".encode("utf-16"), "xml")])
def test_uploads_are_sniffed_pdf_header_within_1024_bytes_else_xml_prolog_with_optional_bom(data: bytes,
                                                                                          kind: str) -> None:
    """ISO 32000-2 7.5.2 (%PDF- header, looked for in the first 1024 bytes); XML 1.0 2.8 (the
    prolog; white space before the root) and 4.3.3 (byte order mark)."""
    from signer.verification.upload import sniff

    assert sniff(data) == kind


def test_neither_pdf_nor_xml_is_415_naming_both_and_empty_is_400() -> None:
    from signer.errors import BadInputError, UnsupportedMediaError
    from signer.verification.upload import sniff

    with pytest.raises(UnsupportedMediaError, match="not a PDF .* or an XML document"):
        sniff(b"GIF89a....")
    with pytest.raises(BadInputError, match="empty"):
        sniff(b"")


# --- the page, in Chromium, against `govca serve` --------------------------------------------------
SHOTS = OUTPUT / "verify-data"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def api_seal_xml(url: str, token: str, xml: bytes, level: str = "B-LTA") -> tuple[bytes, str, str]:
    """Seals an XML document through POST /api/v1/sign-xml (XAdES, enveloped)."""
    body, headers = multipart(xml, options=json.dumps({"level": level}))
    body = body.replace(b'filename="doc.pdf"\r\nContent-Type: application/pdf', b'filename="receipt.xml"\r\n'
                        b"Content-Type: application/xml")
    status, head, out = http(url + "/api/v1/sign-xml", body, {**headers, **bearer(token)})
    assert status == 200, (status, out[:300])
    return out, head["X-Document-Id"], head["Location"]


def api_seal_with_data(url: str, token: str, pdf: bytes, name: str, data: bytes) -> tuple[bytes, str]:
    """Seals through POST /api/v1/sign with one data part (ISO 19005-3 6.8: embedded by govca
    as an associated file, /AFRelationship /Data); returns (sealed PDF, document id)."""
    body, headers = multipart(pdf, options=json.dumps({"level": "B-LTA"}))
    boundary = headers["Content-Type"].rsplit("=", 1)[1].encode()
    part = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="data"; filename="' + name.encode()
            + b'"\r\nContent-Type: application/xml\r\n\r\n' + data + b"\r\n")
    body = body.replace(b"--" + boundary + b"--", part + b"--" + boundary + b"--")
    status, head, out = http(url + "/api/v1/sign", body, {**headers, **bearer(token)})
    assert status == 200, (status, out[:300])
    return out, head["X-Document-Id"]


XXE = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]><lolz>&lol9;</lolz>")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One CA and server: an e-License PDF with its XML embedded as an associated file (/Data),
    sealed through /api/v1/sign; an e-Receipt sealed with XAdES through /api/v1/sign-xml; and
    hostile uploads."""
    tmp = tmp_path_factory.mktemp("verify-data")
    port = free_port()
    cli = Cli(make_home(tmp, base_url=f"http://127.0.0.1:{port}"))
    info = setup_sealing(cli, tmp)
    server = LiveServer(cli.home, port)
    try:
        url, token = server.url, info["tokens"]["A"]
        xml = licence_xml()
        licence, doc_id = api_seal_with_data(url, token, sample_pdf(), "e-license.xml", xml)
        embedded_here = api_seal(url, token, with_files(sample_pdf(), [("e-license.xml", xml, "application/xml",
                                                                        "Data")]))[0]
        receipt, xml_id, _ = api_seal_xml(url, token, receipt_xml())
        other = api_seal_xml(url, token, receipt_xml())[0]
        docs = {"licence.pdf": licence, "embedded-here.pdf": embedded_here, "receipt.xml": receipt,
                "bomb.pdf": with_files(sample_pdf(), [("bomb.xml", ("flate", zlib.compress(b"\0" * (64 << 20), 9)),
                                                       "application/xml", "Data")]),
                "xxe-inside.pdf": with_files(sample_pdf(), [("evil.xml", XXE, "application/xml", "Data")]),
                "xxe.xml": XXE, "laughs.xml": LAUGHS, "broken.xml": b"<eReceipt><a></eReceipt>",
                "garbage.bin": b"GIF89a not a document " * 20,
                "other-receipt.xml": other}
        files = {name: tmp / name for name in docs}
        for name, path in files.items():
            path.write_bytes(docs[name])
        yield {"url": url, "docs": docs, "files": files, "doc_id": doc_id, "xml_id": xml_id, "xml": xml,
               "server": server}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(env: dict):  # type: ignore[no-untyped-def]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, env: dict):  # type: ignore[no-untyped-def]
    """A fresh page that records Content-Security-Policy violations and every request it makes;
    nothing may go elsewhere than the server under test, nothing may break the policy."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.requested, pg.violations = [], []  # type: ignore[attr-defined]
    pg.on("request", lambda r: pg.requested.append(r.url))  # type: ignore[attr-defined]
    pg.on("console", lambda m: pg.violations.append(m.text)  # type: ignore[attr-defined]
          if "Content Security Policy" in m.text else None)
    yield pg
    context.close()
    elsewhere = [u for u in pg.requested if not u.startswith(env["url"] + "/")  # type: ignore[attr-defined]
                 and not u.startswith("data:")]
    assert not elsewhere, f"the page made requests outside 127.0.0.1: {elsewhere}"
    assert not pg.violations, pg.violations  # type: ignore[attr-defined]


def no_traceback_since(env: dict, start: int) -> None:
    time.sleep(0.3)
    tail = env["server"].log.read_bytes()[start:].decode("utf-8", "replace")
    assert "Traceback" not in tail and "[ERROR]" not in tail, tail[-2000:]


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_first_views_of_the_form_and_of_pdf_and_xml_records_in_both_languages(page: Page, env: dict) -> None:
    """GET /verify and GET /verify/<id> of a sealed PDF and of a sealed XML document, in Thai
    and with ?lang=en: the form accepts XML, a record names its signature form (PAdES, XAdES)."""
    for lang in ("th", "en"):
        q = "?lang=en" if lang == "en" else ""
        page.goto(env["url"] + "/verify" + q)
        expect(page.locator("html")).to_have_attribute("lang", lang)
        accept = page.get_attribute("#file", "accept") or ""
        assert {".pdf", ".xml", "application/xml", "text/xml"} <= set(accept.split(",")), accept
        assert ("เลือกไฟล์ PDF หรือ XML" if lang == "th" else "Choose a PDF or XML file") in shown(page, "#upload-h")
        shot(page, f"form-first-view-{lang}")
        for kind, doc_id in (("pdf", env["doc_id"]), ("xml", env["xml_id"])):
            page.goto(env["url"] + f"/verify/{doc_id}" + q)
            record = shown(page, ".record")
            assert doc_id in record and ("กรมพัฒนาธุรกิจการค้า" if lang == "th" else "Department of Business "
                                         "Development") in record, record
            page.click(".record summary")
            assert ("XAdES" if kind == "xml" else "PAdES") in shown(page, ".record details"), kind
            assert page.locator(".headline, .result, .error, .files, .data").count() == 0
            shot(page, f"record-{kind}-first-view-{lang}")


def test_sealed_elicense_shows_its_embedded_xml_data_thai_first_then_english(page: Page, env: dict) -> None:
    """ISO 19005-3 6.8 / ISO 32000-2 14.13: the e-License's XML is listed (name, type,
    relationship, size), covered by the seal, its fields labelled (e-License 1) with the
    Buddhist-era date; then the same in English after the toggle, and the download is the XML."""
    xml = env["xml"]
    assert upload(page, env, "licence.pdf") == 200
    assert shown(page, ".result > h2 .verdict") == "ถูกต้อง"
    row = shown(page, ".files tr.file")
    for text in ("e-license.xml", "application/xml", "ข้อมูลของเอกสาร", f"{len(xml):,} ไบต์", "ใช่"):
        assert text in row, (text, row)
    data = shown(page, ".data")
    for text in ("ใบอนุญาตอิเล็กทรอนิกส์", "เลขที่ใบอนุญาต", "TEST-0001", "ชื่อผู้ได้รับอนุญาต (ไทย)",
                 "บริษัท ทดสอบ จำกัด", "สิ้นอายุวันที่", "5 ธันวาคม พ.ศ. 2570"):
        assert text in data, (text, data)
    assert "Licence number" not in data
    shot(page, "licence-data-th")
    toggle(page, "en")
    row = shown(page, ".files tr.file")
    for text in ("e-license.xml", "application/xml", "the document's data", f"{len(xml):,} bytes", "yes"):
        assert text in row, (text, row)
    data = shown(page, ".data")
    for text in ("Electronic licence", "Licence number", "TEST-0001", "Valid until", "5 December 2027"):
        assert text in data, (text, data)
    assert "เลขที่ใบอนุญาต" not in data and "พ.ศ." not in data
    shot(page, "licence-data-en")
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the file list or the data table scrolls sideways on a phone ({width}px)"
    shot(page, "licence-data-en-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    with page.expect_download() as download:
        page.click(".files a[download]")
    assert download.value.suggested_filename == "e-license.xml"
    assert Path(download.value.path()).read_bytes() == xml


@pytest.mark.parametrize("name", ["licence.pdf", "embedded-here.pdf"])
def test_the_json_report_lists_the_attachment_and_its_fields_without_its_bytes(env: dict, name: str) -> None:
    """The data part govca embedded (/api/v1/sign), and an XML the agency embedded itself
    before sealing (pyHanko's embed_file): the same listing, covered by the seal."""
    status, _, rep = api_verify(env["url"], env["docs"][name], env["doc_id"])
    assert status == 200 and rep["verdict"] == "valid" and rep["registry"]["match"] is (name == "licence.pdf")
    [f] = rep["attachments"]["files"]
    xml = env["xml"]
    assert (f["name"], f["mime"], f["relationship"], f["size"]["decoded"], f["covered"]) == (
        "e-license.xml", "application/xml", "Data", len(xml), True)
    assert f["sha256"] == hashlib.sha256(xml).hexdigest()
    fields = {r["path"]: r["value"] for r in f["data"]["rows"]}
    assert fields["LicenceNumber"] == "TEST-0001" and fields["Validity/ValidUntil"] == "2027-12-05"
    text = json.dumps(rep, ensure_ascii=False)
    assert "<eLicense" not in text and base64.b64encode(xml).decode()[:40] not in text
    jsonschema.Draft202012Validator(REPORT).validate(rep)  # the OpenAPI VerificationReport


def test_qr_link_of_the_pdf_compares_and_shows_the_data_of_the_registered_document(page: Page, env: dict) -> None:
    assert upload(page, env, "licence.pdf", f"/verify/{env['doc_id']}") == 200
    expect(page.locator(".match.ok")).to_contain_text("ไฟล์นี้คือเอกสารที่หน่วยงานประทับตราไว้")
    assert "TEST-0001" in shown(page, ".data")


def test_sealed_xml_document_is_verified_and_its_data_shown_thai_first_then_english(page: Page, env: dict) -> None:
    """ETSI EN 319 132-1: the e-Receipt sealed with XAdES B-LTA is valid; its own data (e-Receipt
    1) is labelled, the Buddhist-era date first; English after the toggle."""
    status, _, rep = api_verify(env["url"], env["docs"]["receipt.xml"])
    assert status == 200 and rep["verdict"] == "valid", rep
    assert rep["document"]["format"] == "xml" and rep["signatures"][0]["xades_level"] == "B-LTA"
    assert {r["path"]: r["value"] for r in rep["data"]["rows"]}["ReceiptNumber"] == "RC-2569-000123"
    jsonschema.Draft202012Validator(REPORT).validate(rep)
    assert upload(page, env, "receipt.xml") == 200
    assert shown(page, ".result > h2 .verdict") == "ถูกต้อง"
    data = shown(page, ".data")
    for text in ("ใบเสร็จรับเงินอิเล็กทรอนิกส์", "เลขที่ใบเสร็จ", "RC-2569-000123", "6 ธันวาคม พ.ศ. 2569",
                 "รวมเป็นเงิน (บาท)", "520.00"):
        assert text in data, (text, data)
    assert page.locator(".files").count() == 0
    shot(page, "receipt-data-th")
    toggle(page, "en")
    data = shown(page, ".data")
    for text in ("Electronic receipt", "Receipt number", "RC-2569-000123", "6 December 2026", "Total (baht)"):
        assert text in data, (text, data)
    shot(page, "receipt-data-en")


def test_qr_link_of_the_xml_document_matches_by_sha256_or_not(page: Page, env: dict) -> None:
    path = f"/verify/{env['xml_id']}"
    assert upload(page, env, "receipt.xml", path) == 200
    expect(page.locator(".match.ok")).to_contain_text("ไฟล์นี้คือเอกสารที่หน่วยงานประทับตราไว้")
    shot(page, "receipt-match-th")
    assert upload(page, env, "other-receipt.xml", path) == 200
    expect(page.locator(".match.bad")).to_contain_text("ไฟล์นี้ไม่ใช่เอกสารที่หน่วยงานประทับตราไว้")
    for name, match in (("receipt.xml", True), ("other-receipt.xml", False)):
        status, _, body = api_verify(env["url"], env["docs"][name], env["xml_id"])
        assert status == 200 and body["registry"]["match"] is match, name


def test_a_pdf_whose_embedded_file_is_a_decompression_bomb_lists_it_as_too_large(page: Page, env: dict) -> None:
    """ISO 32000-1 7.4.4: 64 MB of zeros in a ~64 KB Flate stream is listed, never inflated whole."""
    start = env["server"].log.stat().st_size
    status, _, rep = api_verify(env["url"], env["docs"]["bomb.pdf"])
    assert status == 200, rep
    [f] = rep["attachments"]["files"]
    assert (f["name"], f["problem"], f["sha256"], f["data"]) == ("bomb.xml", "too_large", None, None)
    assert upload(page, env, "bomb.pdf") == 200
    assert "ไฟล์ใหญ่เกินกว่าที่จะแสดงได้" in shown(page, ".files tr.file")
    assert page.locator(".files a[download]").count() == 0
    toggle(page, "en")
    assert "too large to show" in shown(page, ".files tr.file")
    no_traceback_since(env, start)


def test_an_embedded_xml_with_a_doctype_is_listed_with_the_reason_instead_of_a_table(page: Page, env: dict) -> None:
    """OWASP XXE Prevention: the data file is not parsed past its DOCTYPE; the PDF is still
    verified and the file listed, its data replaced by the reason."""
    start = env["server"].log.stat().st_size
    assert upload(page, env, "xxe-inside.pdf") == 200
    assert "evil.xml" in shown(page, ".files tr.file")
    error = shown(page, ".data .data-error")
    assert "อ่านข้อมูลในไฟล์นี้ไม่ได้" in error and "DOCTYPE" in error, error
    assert page.locator(".data table").count() == 0 and "root:" not in page.inner_text("main")
    toggle(page, "en")
    assert "The data in this file cannot be read." in shown(page, ".data .data-error")
    no_traceback_since(env, start)


@pytest.mark.parametrize("name, status, th, en", [
    ("xxe.xml", 400, "มีการประกาศ DOCTYPE", "has a DOCTYPE declaration"),
    ("laughs.xml", 400, "มีการประกาศ DOCTYPE", "has a DOCTYPE declaration"),
    ("broken.xml", 400, "เอกสาร XML นี้เสียหายหรืออ่านไม่ได้", "This XML document is damaged or cannot be read."),
    ("garbage.bin", 415, "ไฟล์นี้ไม่ใช่ PDF และไม่ใช่เอกสาร XML", "It is not an XML document either.")])
def test_hostile_or_unknown_uploads_get_a_clear_4xx_on_the_page_and_the_api_without_traceback(
        page: Page, env: dict, name: str, status: int, th: str, en: str) -> None:
    """OWASP XXE Prevention: a DOCTYPE (external entity, entity expansion) is refused before
    anything reads it; the page and the API say why, with a 4xx."""
    start = env["server"].log.stat().st_size
    assert upload(page, env, name) == status
    expect(page.locator(".error[role=alert]")).to_contain_text(th)
    toggle(page, "en")
    expect(page.locator(".error[role=alert]")).to_contain_text(en)
    shot(page, f"refused-{name.replace('.', '-')}-en")
    got, _, problem = api_verify(env["url"], env["docs"][name])
    assert got == status and problem["status"] == status and problem["detail"], problem
    assert "root:" not in problem["detail"] and "Traceback" not in problem["detail"]
    no_traceback_since(env, start)
