"""Issue 14: hostile XML at every entry point that reads XML: POST /api/v1/sign-xml (raw and
multipart), the data parts of POST /api/v1/sign, POST /api/v1/verify and the verification page.

Random trees, mutations of a real e-Receipt and of a sealed one, and hand-made hostile shapes
(every DOCTYPE form, nesting 100,000 deep, a million attributes' worth of bytes, namespace
floods, external references in a signature). Every answer must be below 500 with a problem
document (the page: an HTML error), nothing is logged with a traceback, nothing is fetched, and
no refused request registers a document. Through Flask's test client for speed."""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.web import create_app
from conftest import Cli, make_home
from fuzz_helpers import multipart
from sealing_helpers import registered_documents, sample_pdf, setup_sealing
from signer.docdata.schemas import ReceiptData, ereceipt_xml

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
RECEIPT = ereceipt_xml(ReceiptData("R-2569-000001", dt.date(2026, 12, 6), "A", "กรมพัฒนาธุรกิจการค้า",
                                   "Department of Business Development", "นาย สมชาย ใจดี", "3100100123456",
                                   (("ค่าธรรมเนียม", Decimal("500")),)))


class _Env(dict):
    def __repr__(self) -> str:
        return "<test_fuzz_xml env>"


class _Logged(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(f"{record.name}: {record.getMessage()}")


class _Sink(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Sink.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<x/>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("fuzz-xml")
    cli = Cli(make_home(tmp))
    info = setup_sealing(cli, tmp)
    client = create_app(cli.home).test_client()
    auth = {"Authorization": f"Bearer {info['tokens']['A']}"}
    sealed = client.post("/api/v1/sign-xml", data=RECEIPT, headers={**auth, "Content-Type": "application/xml"},
                         query_string={"level": "B-B"})
    if sealed.status_code != 200:  # the options may only be accepted as JSON in a multipart body
        body, ctype = multipart({"file": ("r.xml", RECEIPT), "options": (None, b'{"level": "B-B"}')})
        sealed = client.post("/api/v1/sign-xml", data=body, headers={**auth, "Content-Type": ctype})
    assert sealed.status_code == 200, sealed.data[:400]
    sink = HTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    handler = _Logged()
    logging.getLogger().addHandler(handler)
    try:
        yield _Env({"cli": cli, "client": client, "auth": auth, "sealed": sealed.data, "pdf": sample_pdf(),
                    "logged": handler.records, "sink": f"http://127.0.0.1:{sink.server_port}/x"})
    finally:
        logging.getLogger().removeHandler(handler)
        sink.shutdown()


def _documents(env: dict) -> int:
    return registered_documents(env["cli"].home)


def _check(env: dict, r, what: str, html: bool = False) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code < 500, (what, r.status_code, r.data[:300])
    assert b"Traceback" not in r.data, what
    if r.status_code >= 400 and not html:
        assert "detail" in json.loads(r.data), (what, r.data[:300])
    assert not env["logged"], (what, env["logged"][:3])


def _all_entry_points(env: dict, data: bytes, what: str) -> list:
    c, auth = env["client"], env["auth"]
    env["logged"].clear()
    answers = []
    r = c.post("/api/v1/sign-xml", data=data, headers={**auth, "Content-Type": "application/xml"})
    _check(env, r, f"sign-xml raw {what}")
    answers.append(r)
    body, ctype = multipart({"file": ("d.xml", data), "options": (None, b'{"level": "B-B"}')})
    r = c.post("/api/v1/sign-xml", data=body, headers={**auth, "Content-Type": ctype})
    _check(env, r, f"sign-xml multipart {what}")
    answers.append(r)
    r = c.post("/api/v1/verify", data=data, headers={"Content-Type": "application/xml"})
    _check(env, r, f"api verify {what}")
    body, ctype = multipart({"file": ("d.xml", data)})
    r = c.post("/verify", data=body, headers={"Content-Type": ctype})
    _check(env, r, f"page {what}", html=True)
    return answers


names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,8}\Z")
texts = st.text(max_size=30)


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(names)
    attrs = "".join(f' {draw(names)}="{draw(texts)}"' for _ in range(draw(st.integers(0, 2))))
    children = "".join(draw(trees(depth + 1)) for _ in range(draw(st.integers(0, 3 if depth < 3 else 0))))
    text = draw(texts)
    return f"<{name}{attrs}>{text}{children}</{name}>"


@FUZZ
@given(tree=trees(), prefix=st.sampled_from(["", '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-8"?>',
                                              "\ufeff", '<?xml-stylesheet href="http://127.0.0.1:9/x.xsl"?>']))
def test_fuzz_random_xml_trees_get_an_answer_below_500(env: dict, tree: str, prefix: str) -> None:
    _all_entry_points(env, (prefix + tree).encode("utf-8", "surrogatepass"), tree[:80])


@FUZZ
@given(base=st.sampled_from(["receipt", "sealed"]), data=st.data())
def test_fuzz_mutated_receipts_and_sealed_receipts(env: dict, base: str, data: st.DataObject) -> None:
    doc = bytearray(RECEIPT if base == "receipt" else env["sealed"])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(doc) - 1))
        op = data.draw(st.sampled_from(["flip", "delete", "insert", "dup"]))
        if op == "flip":
            doc[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "delete":
            del doc[at:at + data.draw(st.integers(1, 64))]
        elif op == "insert":
            doc[at:at] = data.draw(st.sampled_from([b"<", b">", b"&", b"<!DOCTYPE a>", b"]]>", b"\x00", b"\xff",
                                                    b"<a>", b"</a>", b'xmlns:x="urn:x"', b"&#0;", b"&#x110000;"]))
        else:
            doc[at:at] = doc[at:at + 200]
    _all_entry_points(env, bytes(doc), f"{base} mutant")


HOSTILE = {
    "deep-100k": b"<a>" * 100_000 + b"</a>" * 100_000,
    "wide-300k": b"<a>" + b"<b/>" * 300_000 + b"</a>",
    "long-attribute": b'<a x="' + b"y" * 5_000_000 + b'"/>',
    "long-name": b"<" + b"a" * 1_000_000 + b"/>",
    "namespace-flood": b"<a " + b" ".join(b'xmlns:n%d="urn:%d"' % (i, i) for i in range(50_000)) + b"/>",
    "utf32": '<?xml version="1.0" encoding="UTF-32"?><a/>'.encode("utf-32"),
    "wrong-encoding": '<?xml version="1.0" encoding="ISO-8859-11"?><a>ไทย</a>'.encode("utf-8"),
    "unknown-encoding": b'<?xml version="1.0" encoding="x-nope"?><a/>',
    "xinclude": b'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd" parse="text"/></a>',
    "cdata-doctype": b"<a><![CDATA[<!DOCTYPE a>]]></a>",
    "pi-only": b"<?xml version='1.0'?>",
    "empty": b"",
    "not-xml": b"%PDF-1.7 not really",
}
WELL_FORMED = {"long-attribute", "namespace-flood", "xinclude", "wrong-encoding", "utf32"}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_shapes_are_answered_below_500_and_register_nothing(env: dict, name: str) -> None:
    before = _documents(env)
    answers = _all_entry_points(env, HOSTILE[name], name)
    if name in WELL_FORMED:  # large or odd but well-formed: sealed as they are (XInclude is never processed)
        return
    assert all(400 <= r.status_code < 500 for r in answers), [(r.status_code, r.data[:200]) for r in answers]
    assert _documents(env) == before


def test_a_signature_whose_reference_points_at_a_url_fetches_nothing(env: dict) -> None:
    """XMLDSig 1.1 4.4.3.1: a verifier may dereference a URI; govca's does not (no network), so a
    reference to http://... is not confirmed, and the URL is never requested."""
    sealed = env["sealed"].replace(b'URI=""', b'URI="' + env["sink"].encode() + b'"', 1)
    _Sink.hits.clear()
    r = env["client"].post("/api/v1/verify", data=sealed, headers={"Content-Type": "application/xml"})
    _check(env, r, "external reference")
    assert r.status_code >= 400 or r.json["verdict"] != "valid"
    assert _Sink.hits == []


def test_data_parts_of_api_sign_get_hostile_xml_and_answer_below_500(env: dict) -> None:
    for name in ("deep-100k", "long-attribute", "namespace-flood", "cdata-doctype", "empty", "not-xml"):
        body, ctype = multipart({"file": ("in.pdf", env["pdf"]), "data": ("d.xml", HOSTILE[name])})
        r = env["client"].post("/api/v1/sign", data=body, headers={**env["auth"], "Content-Type": ctype})
        _check(env, r, f"data part {name}")
        assert 400 <= r.status_code < 500, (name, r.status_code, r.data[:200])


def test_refused_verification_uploads_are_audited_aggregated_per_address(env: dict) -> None:
    """Every refusal at a public endpoint is audited; the refusals of one address in one window
    are one record now and one aggregated record later (signer/throttle.py), so a flood of bad
    uploads writes a bounded number of records."""
    def records() -> list[str]:
        out = env["cli"]("audit", "list", "--action", "verify.upload", "--limit", "1000").stdout
        return [line for line in out.splitlines() if "verify.upload" in line]

    before = records()
    for _ in range(5):  # from an address of its own (RFC 5737 TEST-NET-1): its window starts here
        r = env["client"].post("/api/v1/verify", data=HOSTILE["cdata-doctype"],
                               headers={"Content-Type": "application/xml"}, environ_base={"REMOTE_ADDR": "192.0.2.77"})
        assert r.status_code == 400
    new = records()[len(before):]
    assert len(new) == 1, new
    assert "refused" in new[0] and "/api/v1/verify" in new[0]
