"""Documents as data (issue 14), the PDF side: data parts embedded by /api/v1/sign as PDF/A-3
associated files under the seal (ISO 19005-3 6.8; ISO 32000-2 14.13, 7.11.4), PDF/A kept through
sealing (ISO 19005-3 6.2.4.3, 6.6.2.3.1, 6.6.4), the demo's PDF/A-3 e-License, and every refusal
(4xx, audited, nothing registered). In-process through the WSGI app, on SQLite and PostgreSQL.
No PDF/A validator (veraPDF) is installable here: the rules are checked one by one (docs/pdfa.md).
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as ax509
from pyhanko.pdf_utils.reader import PdfFileReader

import conftest
from cli.web import create_app
from conftest import Cli, make_home, run, tool
from pdfa_helpers import (elicense_pdfa3, embedded_files, flip_in_stream, info_xmp_mismatches, licence_xml,
                          variant, xmp_tree, xmp_value)
from sealing_helpers import bearer, registered_documents, setup_sealing

RECEIPT_JSON = json.dumps({"receipt": "R-1", "total": "120.00", "items": [{"th": "ค่าธรรมเนียม", "amount": "120.00"}]},
                          ensure_ascii=False).encode()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    database_url, name = None, None
    if request.param == "postgresql":
        if not conftest.pg_available():
            pytest.skip("PostgreSQL run skipped: no server answers")
        name, database_url = conftest._pg_database()
        conftest._used_databases.add("PostgreSQL")
    tmp = tmp_path_factory.mktemp(f"pdfa-{request.param}")
    cli = Cli(make_home(tmp, database_url))
    info = setup_sealing(cli, tmp)
    info.update(cli=cli, client=create_app(cli.home).test_client(), tmp=tmp)
    yield info
    if name is not None:
        conftest._drop_pg_database(name)


def seal(env: dict, pdf: bytes, options: dict | None = None, data: list[tuple[str, str, bytes]] = ()):  # type: ignore[no-untyped-def, assignment]
    form: dict = {"file": (io.BytesIO(pdf), "doc.pdf", "application/pdf")}
    if options is not None:
        form["options"] = json.dumps(options)
    if data:
        form["data"] = [(io.BytesIO(body), name, mime) for name, mime, body in data]
    return env["client"].post("/api/v1/sign", data=form, headers=bearer(env["tokens"]["A"]),
                              content_type="multipart/form-data")


def documents(env: dict) -> int:
    return registered_documents(env["cli"].home)


def last_audit(env: dict) -> dict:
    return json.loads(env["cli"]("audit", "list", "--limit", "1", "--json").stdout)[0]


def offline_validation(env: dict, pdf: bytes) -> tuple:  # type: ignore[type-arg]
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    root = ax509.Certificate.load(pem.unarmor(env["files"]["root"].read_bytes())[2])
    reader = PdfFileReader(io.BytesIO(pdf))
    dss = DocumentSecurityStore.read_dss(reader)

    def offline():  # type: ignore[no-untyped-def]
        return dss.as_validation_context({"trust_roots": [root], "allow_fetching": False,
                                          "revocation_mode": "hard-fail"})

    signature, *timestamps = reader.embedded_signatures
    status = validate_pdf_signature(signature, signer_validation_context=offline(), ts_validation_context=offline())
    return status, [validate_pdf_timestamp(ts, validation_context=offline()) for ts in timestamps]


# --- acceptance: the demo's PDF/A-3 e-License, sealed at B-LTA with its XML and a JSON part ----------

@pytest.fixture(scope="module")
def sealed_elicense(env: dict) -> dict:
    xml = licence_xml()
    r = seal(env, elicense_pdfa3(xml), {"level": "B-LTA", "data_relationship": {"receipt.json": "Source"}},
             [("receipt.json", "application/json", RECEIPT_JSON)])
    assert r.status_code == 200, r.data[:500]
    path = env["tmp"] / "elicense-sealed.pdf"
    path.write_bytes(r.data)
    return {"pdf": r.data, "path": path, "xml": xml}


def test_iso_19005_3_elicense_b_lta_with_associated_files_validates_offline_and_with_pdfsig(
        env: dict, sealed_elicense: dict) -> None:
    """EN 319 142-1 B-LTA of the PDF/A-3 e-License with its XML (ISO 19005-3 6.8): pyHanko offline
    against the test root only, and poppler's pdfsig (integrity; trust is pyHanko's check)."""
    status, timestamps = offline_validation(env, sealed_elicense["pdf"])
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.docmdp_ok and status.coverage.name == "ENTIRE_REVISION"
    assert len(timestamps) == 1 and timestamps[0].intact and timestamps[0].valid and timestamps[0].trusted
    r = run([tool("pdfsig"), "-nocert", str(sealed_elicense["path"])])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split("Signature #2")[0].count("Signature Validation: Signature is Valid.") == 1, r.stdout


def test_iso_19005_3_6_8_pdfdetach_lists_and_extracts_the_data_byte_for_byte(sealed_elicense: dict,
                                                                             tmp_path: Path) -> None:
    listing = run([tool("pdfdetach"), "-list", str(sealed_elicense["path"])])
    assert listing.returncode == 0 and "e-license.xml" in listing.stdout and "receipt.json" in listing.stdout
    for name, expected in (("e-license.xml", sealed_elicense["xml"]), ("receipt.json", RECEIPT_JSON)):
        out = tmp_path / name
        number = [line.split(":")[0] for line in listing.stdout.splitlines() if line.endswith(name)][0]
        r = run([tool("pdfdetach"), "-save", number.strip(), "-o", str(out), str(sealed_elicense["path"])])
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == expected


def test_iso_19005_3_6_2_11_4_every_font_embedded_after_sealing(sealed_elicense: dict) -> None:
    """pdffonts: the page's Laksaman subsets and the stamp's (ISO 19005-3 6.2.11.4.1), each with a
    ToUnicode map (6.2.11.7.2, conformance U)."""
    r = run([tool("pdffonts"), str(sealed_elicense["path"])])
    rows = r.stdout.splitlines()[2:]
    assert r.returncode == 0 and len(rows) >= 2, r.stdout
    for row in rows:
        emb, sub, uni = row.split()[-5:-2]
        assert (emb, uni) == ("yes", "yes"), row


def test_iso_19005_3_pdfa_claim_af_output_intent_and_info_xmp_kept_after_sealing(sealed_elicense: dict) -> None:
    """6.6.4 pdfaid part 3 kept; 6.8 / ISO 32000-2 14.13 catalog /AF with /AFRelationship; 6.2.3 the
    output intent kept; 6.6.2.3.1 Info and XMP equivalent in the last revision (after pyHanko
    rewrote /ModDate, /Producer and the XMP in each of its revisions)."""
    pdf = sealed_elicense["pdf"]
    reader = PdfFileReader(io.BytesIO(pdf))
    tree = xmp_tree(reader)
    assert xmp_value(tree, "pdfaid", "part") == "3" and xmp_value(tree, "pdfaid", "conformance") == "U"
    intents = reader.root["/OutputIntents"]
    assert intents[0]["/S"] == "/GTS_PDFA1" and intents[0]["/DestOutputProfile"]["/N"] == 3
    af = {str(spec.get_object()["/UF"]): spec.get_object() for spec in reader.root["/AF"]}
    assert set(af) == {"e-license.xml", "receipt.json"}
    assert af["e-license.xml"]["/AFRelationship"] == "/Data" and af["receipt.json"]["/AFRelationship"] == "/Source"
    assert info_xmp_mismatches(pdf) == []
    assert len(reader.embedded_signatures) == 2  # the seal and the B-LTA document time-stamp


def test_iso_32000_2_7_11_4_embedded_streams_carry_mime_params_and_checksum(sealed_elicense: dict) -> None:
    import hashlib as h

    reader = PdfFileReader(io.BytesIO(sealed_elicense["pdf"]))
    files = embedded_files(reader)
    assert list(files) == sorted(files)  # name tree keys in order (ISO 32000-2 7.9.6)
    for name, mime, body in (("e-license.xml", "/application/xml", sealed_elicense["xml"]),
                             ("receipt.json", "/application/json", RECEIPT_JSON)):
        stream = files[name]["/EF"]["/F"]
        assert stream["/Type"] == "/EmbeddedFile" and stream["/Subtype"] == mime and stream.data == body
        params = stream["/Params"]
        checksum = params["/CheckSum"]  # a byte string; the reader may take it for PDFDocEncoded text
        checksum = checksum.original_bytes if hasattr(checksum, "original_bytes") else bytes(checksum)
        assert params["/Size"] == len(body) and checksum == h.md5(body).digest()
        assert "/ModDate" in params
    assert b"/application#2Fxml" in sealed_elicense["pdf"]  # the "/" of the MIME type escaped (7.3.5)


def test_iso_32000_1_12_8_1_changing_an_embedded_byte_breaks_the_seal(env: dict, sealed_elicense: dict) -> None:
    """The data parts are in the signed revision: one flipped byte of an embedded stream and the
    seal's digest over its byte range no longer matches."""
    reader = PdfFileReader(io.BytesIO(sealed_elicense["pdf"]))
    ref = embedded_files(reader)["receipt.json"].raw_get("/EF").raw_get("/F")
    tampered = flip_in_stream(sealed_elicense["pdf"], ref.idnum)
    assert tampered != sealed_elicense["pdf"]
    status, _ = offline_validation(env, tampered)
    assert not status.intact and not status.bottom_line


def test_registry_holds_the_sealed_bytes_and_the_audit_names_the_parts(env: dict) -> None:
    got = seal(env, elicense_pdfa3(), {"level": "B-B"}, [("a.xml", "application/xml", b"<a/>")])
    assert got.status_code == 200
    record = env["client"].get(f"/api/v1/documents/{got.headers['X-Document-Id']}", headers=bearer(env["tokens"]["A"]))
    assert record.json["sha256"] == hashlib.sha256(got.data).hexdigest()
    audit = last_audit(env)
    assert audit["outcome"] == "success" and audit["details"]["data_parts"] == ["a.xml"]


# --- refusals ------------------------------------------------------------------------------

BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>')
XXE = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'
OK_XML = ("ok.xml", "application/xml", b"<ok/>")
REFUSALS = {
    "xxe": ([("x.xml", "application/xml", XXE)], {}, 400, "'x.xml' has a DOCTYPE"),
    "billion-laughs": ([("lol.xml", "text/xml", BILLION_LAUGHS)], {}, 400, "'lol.xml' has a DOCTYPE"),
    "malformed-xml": ([("bad.xml", "application/xml", b"<a><b></a>")], {}, 400, "'bad.xml' is not well-formed XML"),
    "malformed-json": ([("bad.json", "application/json", b'{"a": [1, 2')], {}, 400,
                       "'bad.json' is not well-formed JSON"),
    "deep-json": ([("deep.json", "application/json", b"[" * 100 + b"]" * 100)], {}, 400, "nested more than 64"),
    "path-name": ([("../etc/x.xml", "application/xml", b"<a/>")], {}, 400, "has a path in its file name"),
    "control-name": ([("a\x07.xml", "application/xml", b"<a/>")], {}, 400, "control character"),
    "long-name": ([("a" * 252 + ".xml", "application/xml", b"<a/>")], {}, 400, "over 255 bytes"),
    "duplicate-name": ([OK_XML, ("OK.xml", "application/xml", b"<b/>")], {}, 400, "two data parts are named"),
    "mime": ([("x.txt", "text/plain", b"hello")], {}, 415, "'x.txt' has the type 'text/plain'"),
    "mime-pdf": ([("x.pdf", "application/pdf", b"%PDF-1.7")], {}, 415, "a data part is XML"),
    "too-many": ([(f"p{i}.xml", "application/xml", b"<a/>") for i in range(12)], {}, 400, "12 data parts: at most 8"),
    "relationship-name": ([OK_XML], {"data_relationship": {"other.xml": "Source"}}, 400, "'other.xml'"),
    "relationship-value": ([OK_XML], {"data_relationship": "Alternative"}, 400, "data_relationship"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_data_part_refusals_are_precise_4xx_audited_and_register_nothing(env: dict, case: str) -> None:
    """Each refusal names the part; XML through signer/docdata/safe_xml.py (no DOCTYPE: OWASP XXE
    prevention), JSON UTF-8 (RFC 8259 8.1) and bounded, names one path segment (ISO 32000-2
    7.11.2), MIME types XML or JSON (ISO 19005-3 6.8 /Subtype)."""
    data, options, status, words = REFUSALS[case]
    before = documents(env)
    r = seal(env, elicense_pdfa3(), {"level": "B-B", **options}, data)
    assert r.status_code == status and words in r.json["detail"], r.json
    assert r.content_type == "application/problem+json"
    assert documents(env) == before
    audit = last_audit(env)
    assert audit["action"] == "seal.sign" and audit["outcome"] == "refused" and audit["details"]["status"] == status


def test_iso_19005_2_6_8_data_parts_on_pdfa2_refused_422(env: dict) -> None:
    before = documents(env)
    r = seal(env, variant(elicense_pdfa3(), part=2), {"level": "B-B"}, [OK_XML])
    assert r.status_code == 422 and "ISO 19005-2 6.8" in r.json["detail"] and "PDF/A-2b" in r.json["detail"]
    assert documents(env) == before and last_audit(env)["details"]["status"] == 422
    assert seal(env, variant(elicense_pdfa3(), part=2), {"level": "B-B"}).status_code == 200  # without data: fine


def test_iso_19005_1_6_1_11_data_parts_on_pdfa1_refused_422(env: dict) -> None:
    r = seal(env, variant(elicense_pdfa3(), part=1), {"level": "B-B"}, [OK_XML])
    assert r.status_code == 422 and "ISO 19005-1 6.1.11" in r.json["detail"]


def test_iso_19005_3_6_2_4_3_no_output_intent_refused_or_sealed_without_stamp(env: dict) -> None:
    """DeviceRGB in the stamp needs an RGB PDF/A output intent: 422 by default; with
    {"pdfa": "without-stamp"} the seal goes into an invisible field (no widget appearance)."""
    pdf = variant(elicense_pdfa3(), output_intent=False)
    before = documents(env)
    r = seal(env, pdf, {"level": "B-B"})
    assert r.status_code == 422 and "6.2.4.3" in r.json["detail"] and "without-stamp" in r.json["detail"]
    assert documents(env) == before and last_audit(env)["outcome"] == "refused"
    r = seal(env, pdf, {"level": "B-B", "pdfa": "without-stamp"})
    assert r.status_code == 200, r.data[:300]
    reader = PdfFileReader(io.BytesIO(r.data))
    field = reader.root["/AcroForm"]["/Fields"][0]
    widget = field if "/Rect" in field else field["/Kids"][0]
    assert [float(v) for v in widget["/Rect"]] == [0, 0, 0, 0] and "/AP" not in widget
    assert int(widget["/F"]) & 4 and not int(widget["/F"]) & 2  # printable, not hidden (ISO 19005-3 6.3.2)
    assert documents(env) == before + 1


def test_iso_32000_1_12_8_2_2_data_parts_on_a_signed_document_refused_409(env: dict) -> None:
    signed = seal(env, elicense_pdfa3(), {"level": "B-B"})
    assert signed.status_code == 200
    before = documents(env)
    r = seal(env, signed.data, {"level": "B-B", "certify": False}, [OK_XML])
    assert r.status_code == 409 and "already signed" in r.json["detail"] and "12.8.2.2" in r.json["detail"]
    assert documents(env) == before and last_audit(env)["details"]["status"] == 409


def test_plain_pdf_without_pdfa_claim_takes_data_parts_too(env: dict) -> None:
    """A PDF without a PDF/A claim gets the same associated files (ISO 32000-2 14.13)."""
    from pyhanko.pdf_utils.generic import StreamObject
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    w = PdfFileWriter()
    w.insert_page(PageObject(contents=w.add_object(StreamObject(stream_data=b"")), media_box=(0, 0, 595, 842)))
    out = io.BytesIO()
    w.write(out)
    r = seal(env, out.getvalue(), {"level": "B-B"}, [OK_XML])
    assert r.status_code == 200, r.data[:300]
    files = embedded_files(PdfFileReader(io.BytesIO(r.data)))
    assert files["ok.xml"]["/EF"]["/F"].data == b"<ok/>"


@pytest.mark.parametrize("name", ["a\\x.xml", "a/x.xml", "..", "x..xml", "a\x00.xml", "a\u0085.xml", " ", "",
                                  "ก" * 86])
def test_iso_32000_2_7_11_2_a_data_part_name_is_one_plain_path_segment(name: str) -> None:
    """What an HTTP client cannot easily send (a backslash is an escape in a quoted filename,
    RFC 7578 4.2) is refused by the check itself: separators, "..", control characters (C0 and
    C1), blank names, over 255 UTF-8 bytes (86 Thai letters are 258)."""
    from signer.errors import BadInputError
    from signer.sealing.attachments import check_name

    with pytest.raises(BadInputError):
        check_name(name)
    check_name("ใบอนุญาต-2569.xml")  # a Thai name is fine


def test_iso_32000_2_7_9_6_a_data_part_named_like_an_embedded_file_is_refused_409(env: dict) -> None:
    """Name-tree keys are unique: the e-License already embeds e-license.xml."""
    before = documents(env)
    r = seal(env, elicense_pdfa3(licence_xml()), {"level": "B-B"}, [("e-license.xml", "application/xml", b"<a/>")])
    assert r.status_code == 409 and "already embeds a file named 'e-license.xml'" in r.json["detail"]
    assert documents(env) == before


def test_iso_19005_3_the_demo_elicense_itself_is_pdfa3u() -> None:
    """Before sealing: header %PDF-1.7 with a binary comment (6.1.2), trailer /ID (6.1.3), sRGB
    output intent (6.2.3), pdfaid part 3 / U (6.6.4), Info = XMP (6.6.2.3.1), the XML as an
    associated file with /AFRelationship /Data and MIME application/xml (6.8), fonts embedded with
    ToUnicode (6.2.11.4, 6.2.11.7.2), no /Encrypt, no JavaScript."""
    xml = licence_xml()
    pdf = elicense_pdfa3(xml)
    assert pdf.startswith(b"%PDF-1.7\n%") and all(b > 127 for b in pdf[10:14])
    reader = PdfFileReader(io.BytesIO(pdf))
    assert len(reader.trailer["/ID"]) == 2 and "/Encrypt" not in reader.trailer
    tree = xmp_tree(reader)
    assert (xmp_value(tree, "pdfaid", "part"), xmp_value(tree, "pdfaid", "conformance")) == ("3", "U")
    assert info_xmp_mismatches(pdf) == []
    intent = reader.root["/OutputIntents"][0]
    assert intent["/S"] == "/GTS_PDFA1" and intent["/DestOutputProfile"]["/N"] == 3
    assert intent["/DestOutputProfile"].data[36:40] == b"acsp" and intent["/DestOutputProfile"].data[16:20] == b"RGB "
    spec = reader.root["/AF"][0].get_object()
    assert spec["/AFRelationship"] == "/Data" and spec["/EF"]["/F"]["/Subtype"] == "/application/xml"
    assert spec["/EF"]["/F"].data == xml
    assert b"/JavaScript" not in pdf and b"/JS " not in pdf
    for font in reader.root["/Pages"]["/Kids"][0]["/Resources"]["/Font"].values():
        font = font.get_object()
        descendant = font["/DescendantFonts"][0].get_object()
        assert "/ToUnicode" in font and "/FontFile3" in descendant["/FontDescriptor"]


def test_iso_19005_3_6_6_2_3_1_another_tools_producer_stays_equal_in_info_and_xmp(env: dict) -> None:
    """pyHanko appends its name to Info /Producer but writes only its own name into pdf:Producer,
    in each revision (signature, DSS, document time-stamp): govca writes the Info value into the XMP."""
    pdf = variant(elicense_pdfa3(), producer="LibreOffice 7.5")
    assert info_xmp_mismatches(pdf) == []
    r = seal(env, pdf, {"level": "B-LTA"})
    assert r.status_code == 200, r.data[:300]
    assert info_xmp_mismatches(r.data) == []
    info = PdfFileReader(io.BytesIO(r.data)).trailer["/Info"]
    assert str(info["/Producer"]).startswith("LibreOffice 7.5; pyHanko")


def test_a_data_part_without_a_filename_is_refused_400(env: dict) -> None:
    """A 'data' form field without filename and Content-Type (RFC 7578 4.2, 4.4) is no data part."""
    before = documents(env)
    r = env["client"].post("/api/v1/sign", headers=bearer(env["tokens"]["A"]), content_type="multipart/form-data",
                           data={"file": (io.BytesIO(elicense_pdfa3()), "doc.pdf", "application/pdf"),
                                 "data": "<a/>"})
    assert r.status_code == 400 and "needs a filename" in r.json["detail"]
    assert documents(env) == before and last_audit(env)["outcome"] == "refused"


def test_data_parts_count_against_the_size_limit_413(tmp_path: Path) -> None:
    """The PDF and its data parts together stay under the PDF limit ([signer] max_pdf_mb)."""
    cli = Cli(make_home(tmp_path))
    config = cli.home / "govca.toml"
    config.write_text(config.read_text().replace("max_pdf_mb = 50", "max_pdf_mb = 1"))
    env = setup_sealing(cli, tmp_path)
    env.update(cli=cli, client=create_app(cli.home).test_client())
    pdf = elicense_pdfa3()
    body = b"[" + b'"x",' * ((1024 * 1024 - len(pdf)) // 4) + b'"x"]'  # alone under 1 MiB; with the PDF over it
    r = seal(env, pdf, {"level": "B-B"}, [("big.json", "application/json", body)])
    assert r.status_code == 413 and "what the size limit leaves after the PDF" in r.json["detail"] and "'big.json'" in r.json["detail"]
    assert documents(env) == 0 and last_audit(env)["details"]["status"] == 413


def _revisions_added_by_the_seal(pdf: bytes):  # type: ignore[no-untyped-def]
    """Every object the seal's revisions (signature, DSS, document time-stamp) wrote or rewrote."""
    reader = PdfFileReader(io.BytesIO(pdf))
    first_sealed = reader.embedded_signatures[0].signed_revision
    for revision in range(first_sealed, reader.xrefs.total_revisions):
        for ref in reader.xrefs.explicit_refs_in_revision(revision):
            yield ref, reader.get_object(ref)


def test_iso_19005_3_6_2_10_6_1_5_6_4_the_seal_adds_no_transparency_javascript_or_encryption(
        sealed_elicense: dict) -> None:
    """What the seal's revisions add to a PDF/A-3 document: no transparency group, soft mask or
    constant alpha below 1 (ISO 19005-2/-3 6.2.10 are PDF/A-2/3's transparency rules; the stamp
    needs none), no JavaScript or other actions (6.6.1), no encryption (6.1.3); every font they
    bring (the stamp's) embedded (6.2.11.4.1)."""
    from pyhanko.pdf_utils import generic as g

    pdf = sealed_elicense["pdf"]
    assert "/Encrypt" not in PdfFileReader(io.BytesIO(pdf)).trailer
    seen, fonts = 0, 0

    def walk(obj, path: str, depth: int = 0) -> None:  # type: ignore[no-untyped-def]
        nonlocal fonts
        if depth > 12:
            return
        if isinstance(obj, g.DictionaryObject):
            group = obj.get("/Group")
            assert not (isinstance(group, g.DictionaryObject) and group.get("/S") == "/Transparency"), path
            assert obj.get("/SMask", "/None") == "/None", path
            for alpha in ("/CA", "/ca"):
                assert float(obj.get(alpha, 1)) == 1.0, path
            assert not {"/JavaScript", "/JS", "/AA", "/OpenAction"} & set(obj.keys()), path
            if obj.get("/Type") == "/FontDescriptor":
                fonts += 1
                assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(obj.keys()), path
            for key, value in obj.items():
                if not isinstance(value, g.IndirectObject):  # referenced objects are walked on their own
                    walk(value, f"{path}{key}", depth + 1)
        elif isinstance(obj, g.ArrayObject):
            for item in obj:
                if not isinstance(item, g.IndirectObject):
                    walk(item, path + "[]", depth + 1)

    for ref, obj in _revisions_added_by_the_seal(pdf):
        seen += 1
        walk(obj, f"{ref.idnum} 0 obj ")
    assert seen > 10 and fonts >= 1  # the seal's revisions were read, the stamp's font among them


def test_a_broken_output_intent_or_xmp_object_is_a_400_in_plain_words_never_a_500(env: dict) -> None:
    """The PDF/A checks read objects the input checks did not (the XMP packet, the output intent's
    ICC profile): a stream whose /Length is wrong there is a 400 naming what was read, as for the
    signing itself (found by tests/test_fuzz_pdf.py: a 500 before)."""
    import re

    from fuzz_helpers import plain_bases

    base = plain_bases()["plain-xref-table"]
    for marker in (rb"/N 3\s*/Filter /FlateDecode\s*/Length (\d+)", rb"/Subtype /XML\s*/Length (\d+)"):
        found = re.search(marker, base) or re.search(marker.replace(rb"/N 3\s*", rb""), base)
        assert found, marker
        length = int(found.group(1))
        broken = base[:found.start(1)] + b"%d" % (length - 5) + base[found.end(1):]
        before = documents(env)
        r = seal(env, broken, {"level": "B-B"})
        assert 400 <= r.status_code < 500, (marker, r.status_code, r.data[:300])
        assert b"Traceback" not in r.data and documents(env) == before
