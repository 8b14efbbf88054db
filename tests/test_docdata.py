"""signer/docdata: XML from outside is parsed with no DOCTYPE, entity or network access, within
depth and size bounds (OWASP XXE Prevention; docs/document-data.md), and govca's own schemas
produce documents valid against their XSDs."""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from signer.docdata import safe_xml
from signer.docdata.schemas import (ELICENSE, ERECEIPT, LicenceData, ReceiptData, elicense_xml, ereceipt_xml,
                                    known_schema)
from signer.errors import BadInputError, TooLargeError

LICENCE = LicenceData("DEMO-2569-0001", "ใบอนุญาตประกอบกิจการ", "บริษัท ตัวอย่าง จำกัด", "Example Company Limited",
                      "0105569000001", "DEMO", "กรมสาธิตการออกใบอนุญาต", "Department of Demonstration Licensing",
                      dt.date(2026, 12, 6), dt.date(2027, 12, 5))


def test_elicense_1_document_is_valid_against_its_xsd_and_known_by_namespace() -> None:
    tree = safe_xml.parse(elicense_xml(LICENCE))
    assert ELICENSE.validator().validate(tree)
    assert known_schema(tree.getroot()) is ELICENSE
    ns = {"l": "urn:govca:schema:e-license:1"}
    assert tree.findtext("l:Holder/l:NameTH", namespaces=ns) == "บริษัท ตัวอย่าง จำกัด"
    assert tree.findtext("l:Validity/l:ValidUntil", namespaces=ns) == "2027-12-05"
    assert ELICENSE.label("Holder/NameTH") == ("ชื่อผู้ได้รับอนุญาต (ไทย)", "Holder's name (Thai)")


def test_ereceipt_1_total_is_the_sum_and_the_document_is_valid_against_its_xsd() -> None:
    data = ReceiptData("R-2569-000123", dt.date(2026, 12, 6), "DEMO", "กรมสาธิต", "Demo", "นาย สมชาย ใจดี",
                       "3100100123456", (("ค่าธรรมเนียมใบอนุญาต", Decimal("500")), ("ค่าคัดสำเนา", Decimal("20.5"))))
    tree = safe_xml.parse(ereceipt_xml(data))
    assert ERECEIPT.validator().validate(tree)
    assert tree.findtext("{urn:govca:schema:e-receipt:1}Total") == "520.50"
    assert known_schema(tree.getroot()) is ERECEIPT


def test_a_document_of_another_schema_or_root_is_not_known() -> None:
    assert known_schema(safe_xml.parse(b'<eLicense xmlns="urn:other"/>').getroot()) is None
    assert known_schema(safe_xml.parse(b'<Other xmlns="urn:govca:schema:e-license:1"/>').getroot()) is None


XXE_FILE = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b']><lolz>&lol9;</lolz>')


@pytest.mark.parametrize("data", [XXE_FILE, BILLION_LAUGHS,
                                  b'<!DOCTYPE a SYSTEM "http://127.0.0.1:9/x.dtd"><a/>',
                                  '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
                                  .encode("utf-16")],
                         ids=["xxe-file", "billion-laughs", "external-dtd", "utf16-doctype"])
def test_owasp_xxe_prevention_any_doctype_is_refused(data: bytes) -> None:
    with pytest.raises(BadInputError, match="DOCTYPE"):
        safe_xml.parse(data)


def test_owasp_xxe_prevention_nothing_is_fetched_for_an_external_dtd_or_entity() -> None:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY x "fetched">')

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/e.dtd".encode()
        for doc in (b'<!DOCTYPE a SYSTEM "' + url + b'"><a>&x;</a>',
                    b'<!DOCTYPE a [<!ENTITY % p SYSTEM "' + url + b'"> %p;]><a>&x;</a>',
                    b'<!DOCTYPE a [<!ENTITY x SYSTEM "' + url + b'">]><a>&x;</a>'):
            with pytest.raises(BadInputError):
                safe_xml.parse(doc)
    finally:
        server.shutdown()
    assert hits == []


@pytest.mark.parametrize("data,message", [
    (b"<a><b></a>", "not well-formed"),
    (b"<a>&undefined;</a>", "not well-formed"),
    (b"   ", "empty"),
    (b"<a>" * 80 + b"</a>" * 80, "nested more than 64"),
    (b"<a>" * 400 + b"</a>" * 400, "not well-formed"),
    (b"<a>" + b"<b/>" * (safe_xml.MAX_ELEMENTS + 1) + b"</a>", "more than 200,000 elements"),
], ids=["mismatched", "undefined-entity", "empty", "deep", "deeper-than-libxml2", "wide"])
def test_malformed_or_unbounded_xml_is_refused_with_the_fault_named(data: bytes, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        safe_xml.parse(data, what="the data part 'x.xml'")


def test_size_limit_is_a_413_before_parsing() -> None:
    with pytest.raises(TooLargeError, match="over the 10-byte limit"):
        safe_xml.parse(b"<a>0123456789</a>", max_bytes=10)
