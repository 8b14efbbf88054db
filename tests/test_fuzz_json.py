"""Issue 9: JSON fuzzing of the sealing options (the `options` part of /api/v1/sign) and of every
CSC v1 and v2 body: random JSON of any shape, the methods' own fields with wrong types, huge
numbers, non-UTF-8 bytes, non-object top levels, and arrays/objects nested 100,000 deep.

Through Flask's test client for speed, and a handful through `govca serve`. Every answer must be
below 500 with a JSON error body (CSC: {"error", "error_description"}; sealing API: a problem),
and nothing may be logged with a traceback."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.web import create_app
from conftest import Cli, make_home
from fuzz_helpers import log_problems, multipart, post
from ocsp_helpers import LiveServer, free_port
from sealing_helpers import sample_pdf, setup_sealing
from test_csc import enrol

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
METHODS = ["info", "auth/login", "credentials/list", "credentials/info", "credentials/authorize",
           "signatures/signHash", "signatures/signDoc"]
ENDPOINTS = [f"/csc/v1/{m}" for m in METHODS if m != "signatures/signDoc"] + [f"/csc/v2/{m}" for m in METHODS]
FIELDS = ["credentialID", "SAD", "hash", "hashes", "hashAlgo", "hashAlgorithmOID", "signAlgo", "numSignatures", "PIN",
          "OTP", "authData", "documents", "documentDigests", "certificates", "certInfo", "credentialInfo", "onlyValid",
          "userID", "maxResults", "clientData", "document", "signature_format", "conformance_level",
          "signed_envelope_property", "id", "value"]
DEEP = 100_000

numbers = st.integers() | st.integers(min_value=10**300, max_value=10**4000) | st.floats(allow_nan=True)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=40)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=4), max_leaves=12)


class _Env(dict):
    def __repr__(self) -> str:  # Hypothesis prints the fixture of a failing example: not the PDF's bytes
        return "<test_fuzz_json env>"


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(f"{record.name}: {record.getMessage()} {record.exc_info and record.exc_info[1]!r}")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("fuzz-json")
    cli = Cli(make_home(tmp))
    info = setup_sealing(cli, tmp)
    oid, _, _ = enrol(cli, tmp)
    client = create_app(cli.home).test_client()
    user, _, secret = info["tokens"]["A"][len("gvc_"):].partition("_")
    basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
    login = client.post("/csc/v2/auth/login", headers={"Authorization": f"Basic {basic}"})
    assert login.status_code == 200, login.json
    seal = f"seal-{info['seals']['A']}"
    handler = _Tracebacks()
    logging.getLogger().addHandler(handler)
    try:
        yield _Env({"cli": cli, "client": client, "token": info["tokens"]["A"], "basic": basic, "tmp": tmp,
                    "bearer": {"Authorization": f"Bearer {login.json['access_token']}"}, "pdf": sample_pdf(),
                    "credentials": [f"official-{oid}", seal], "logged": handler.records})
    finally:
        logging.getLogger().removeHandler(handler)


def _headers(env: dict, path: str) -> dict[str, str]:
    if path.endswith("/auth/login"):
        return {"Authorization": f"Basic {env['basic']}"}
    return env["bearer"]


def _check(env: dict, status: int, body: bytes, csc: bool, what: str) -> None:
    assert status < 500, (what, status, body[:300])
    assert b"Traceback" not in body, what
    if status >= 400:
        parsed = json.loads(body)
        assert isinstance(parsed, dict) and ("error" in parsed if csc else "detail" in parsed), (what, parsed)
    assert not env["logged"], (what, env["logged"][:3])


def _csc(env: dict, path: str, body: bytes) -> None:
    env["logged"].clear()  # what this request logs, not an earlier example's
    r = env["client"].post(path, data=body, headers={**_headers(env, path), "Content-Type": "application/json"})
    _check(env, r.status_code, r.data, True, f"{path} {body[:120]!r}")


@FUZZ
@given(path=st.sampled_from(ENDPOINTS), value=values)
def test_fuzz_csc_bodies_of_any_json_shape(env: dict, path: str, value: object) -> None:
    _csc(env, path, json.dumps(value).encode())


@FUZZ
@given(path=st.sampled_from(ENDPOINTS), data=st.data())
def test_fuzz_csc_fields_with_wrong_types(env: dict, path: str, data: st.DataObject) -> None:
    """The methods' fields, each either a plausible value (the agency's real credentials, real
    base64 hashes, a real PDF) or any JSON, so the handlers get past their first checks."""
    digest = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    plausible = {
        "credentialID": st.sampled_from(env["credentials"]), "numSignatures": st.integers(-2, 200),
        "hash": st.lists(st.just(digest), max_size=3), "hashes": st.lists(st.just(digest), max_size=3),
        "hashAlgo": st.just("2.16.840.1.101.3.4.2.1"), "hashAlgorithmOID": st.just("2.16.840.1.101.3.4.2.1"),
        "signAlgo": st.sampled_from(["1.2.840.10045.4.3.2", "1.2.840.113549.1.1.1"]),
        "documents": st.lists(st.fixed_dictionaries({"document": st.just(base64.b64encode(env["pdf"]).decode()) | values,
                                                     "signature_format": st.sampled_from(["P", "P", "C", 1])},
                                                    optional={"conformance_level": values,
                                                              "signed_envelope_property": values}), max_size=2),
        "authData": st.lists(st.fixed_dictionaries({"id": st.sampled_from(["PIN", "OTP", 7]), "value": values}),
                             max_size=3),
        "certificates": st.sampled_from(["none", "single", "chain", "all"]), "SAD": st.text(max_size=50)}
    body = {}
    for name in data.draw(st.lists(st.sampled_from(FIELDS), max_size=8, unique=True)):
        body[name] = data.draw(plausible[name] | values if name in plausible else values)
    _csc(env, path, json.dumps(body).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_sign_doc_document_objects(env: dict, data: st.DataObject) -> None:
    """signDoc's documents[]: each member's fields of any type, next to a real PDF (no SAD: nothing is signed)."""
    pdf = base64.b64encode(env["pdf"]).decode()
    documents = []
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["pdf", "cut", "any"]))
        item = {"document": pdf if kind == "pdf" else pdf[:-3] if kind == "cut" else data.draw(values),
                "signature_format": data.draw(st.sampled_from(["P", "P", "P", None]) | values)}
        for name in data.draw(st.lists(st.sampled_from(["conformance_level", "signed_envelope_property", "signAlgo"]),
                                       unique=True)):
            item[name] = data.draw(st.sampled_from(["Ades-B-B", "AdES-T", "Certification", "Revision"]) | values)
        documents.append(item)
    body = {"credentialID": data.draw(st.sampled_from(env["credentials"])), "SAD": data.draw(st.text(max_size=20)),
            "documents": documents if data.draw(st.booleans()) else data.draw(values)}
    _csc(env, "/csc/v2/signatures/signDoc", json.dumps(body).encode())


@FUZZ
@given(path=st.sampled_from(ENDPOINTS), raw=st.binary(max_size=200) | st.sampled_from(
    [b"\xff\xfe{", b'{"credentialID": "\xc3\x28"}', b"[]", b"null", b"1", b'"x"', b"1" * 5000, b'{"a": 1e999}',
     b'{"numSignatures": ' + b"9" * 4301 + b"}", b"{" * 50, b"\xef\xbb\xbf{}"]))
def test_fuzz_csc_raw_bytes_non_utf8_and_huge_numbers(env: dict, path: str, raw: bytes) -> None:
    _csc(env, path, raw)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_csc_bodies_nested_100000_deep_are_400_invalid_request(env: dict, path: str) -> None:
    for body in (b"[" * DEEP + b"]" * DEEP, b'{"credentialID": ' + b"[" * DEEP + b"]" * DEEP + b"}",
                 b'{"a":' * DEEP + b"1" + b"}" * DEEP, b'{"documents": [' + b"[" * 40 + b"]" * 40 + b"]}"):
        r = env["client"].post(path, data=body, headers={**_headers(env, path), "Content-Type": "application/json"})
        _check(env, r.status_code, r.data, True, path)
        if not path.endswith(("/info", "/auth/login")):  # those two read no body
            assert r.status_code == 400 and r.json["error"] == "invalid_request", (path, r.json)


def test_csc_bodies_over_a_mebibyte_are_refused_except_sign_doc(env: dict) -> None:
    big = json.dumps({"credentialID": env["credentials"][1], "hashes": ["A" * 1024] * 1100}).encode()
    r = env["client"].post("/csc/v2/signatures/signHash", data=big, headers=env["bearer"])
    assert r.status_code == 413 and r.json["error"] == "invalid_request"
    doc = base64.b64encode(env["pdf"] + b"%" * 1_200_000).decode()
    r = env["client"].post("/csc/v2/signatures/signDoc", headers=env["bearer"], json={
        "credentialID": env["credentials"][1], "SAD": "x", "documents": [{"document": doc, "signature_format": "P"}]})
    assert r.status_code < 500 and r.status_code != 413 and "byte limit" not in r.json["error_description"], r.json


option_values = st.fixed_dictionaries({}, optional={
    "level": st.sampled_from(["B-B", "B-T", "B-LT", "B-LTA", "b-b", ""]) | values,
    "certify": st.booleans() | values, "stamp": st.booleans() | values,
    "page": st.integers(-3, 3) | st.integers() | st.floats() | values,
    "box": st.lists(st.integers(-1, 21000) | st.floats(0, 600), min_size=3, max_size=5) | values,
    "reason": st.text(max_size=600) | values, "location": st.text(max_size=50) | values,
    "field_name": st.from_regex(r"\A[A-Za-z][A-Za-z0-9_.-]{0,70}\Z") | values,
    "subfilter": st.sampled_from(["ETSI.CAdES.detached", "adbe.pkcs7.detached", "x"]) | values,
    "seal": st.from_regex(r"\A[0-9A-Fa-f]{1,42}\Z") | values, "extra": values}) | values


def _sign(env: dict, options: bytes, as_file: bool = False) -> None:
    body, ctype = multipart({"options": ("o.json" if as_file else None, options), "file": ("in.pdf", env["pdf"])})
    env["logged"].clear()
    r = env["client"].post("/api/v1/sign", data=body, headers={"Authorization": f"Bearer {env['token']}",
                                                                "Content-Type": ctype})
    _check(env, r.status_code, r.data, False, f"options {options[:160]!r}")


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(options=option_values)
def test_fuzz_sealing_options(env: dict, options: object) -> None:
    if isinstance(options, dict) and options.get("level") in ("B-LT", "B-LTA"):
        options["level"] = "B-T"  # the same options path; a full LT/LTA seal per example is too slow here
    _sign(env, json.dumps(options).encode())


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=100) | st.sampled_from([b"\xff\xfe{}", b"[]", b"1" * 5000, b'{"page": 1e999}',
                                                       b'{"page": ' + b"9" * 4400 + b"}", b'{"box": [1e400, 0, 1, 2]}',
                                                       b"{" * 5000]), as_file=st.booleans())
def test_fuzz_sealing_options_raw_bytes(env: dict, raw: bytes, as_file: bool) -> None:
    _sign(env, raw, as_file)


def test_sealing_options_nested_100000_deep_are_400(env: dict) -> None:
    for raw in (b"[" * DEEP + b"]" * DEEP, b'{"box": ' + b"[" * DEEP + b"]" * DEEP + b"}", b'{"a":' * 20000 + b"1" +
                b"}" * 20000, b'{"box": [[[[[1]]]], 1, 2, 3]}'):
        for as_file in (False, True):
            body, ctype = multipart({"options": ("o.json" if as_file else None, raw), "file": ("in.pdf", env["pdf"])})
            r = env["client"].post("/api/v1/sign", data=body, headers={"Authorization": f"Bearer {env['token']}",
                                                                        "Content-Type": ctype})
            assert r.status_code == 400 and "options" in r.json["detail"], (raw[:40], r.status_code, r.data[:200])
            assert len(r.json["detail"]) < 3000


def test_sealing_options_over_64_kib_are_400_with_a_short_detail(env: dict) -> None:
    for as_file in (False, True):
        raw = json.dumps({"reason": "ก" * 22_000}, ensure_ascii=False).encode()  # 66,000 bytes, 22,013 characters
        body, ctype = multipart({"options": ("o.json" if as_file else None, raw), "file": ("in.pdf", env["pdf"])})
        r = env["client"].post("/api/v1/sign", data=body, headers={"Authorization": f"Bearer {env['token']}",
                                                                    "Content-Type": ctype})
        assert r.status_code == 400 and "over 65,536 bytes" in r.json["detail"], (as_file, r.status_code, r.data[:200])
    r = env["client"].post("/api/v1/sign", headers={"Authorization": f"Bearer {env['token']}"}, data={
        "file": (io.BytesIO(env["pdf"]), "in.pdf"), "options": json.dumps({"reason": "x" * 5000})},
        content_type="multipart/form-data")
    assert r.status_code == 400 and len(r.json["detail"]) < 400, r.json  # jsonschema quotes the whole value


def test_sealing_options_integral_floats_reach_the_signer_as_ints(env: dict) -> None:
    from signer.sealing.http import parse_options

    opts, _ = parse_options({"page": 0.0, "box": [10.0, 20, 310, 140.0]})
    assert type(opts.page) is int and opts.box == (10, 20, 310, 140) and all(type(v) is int for v in opts.box)


def test_a_handful_through_govca_serve(env: dict) -> None:
    """The same hostile bodies through nginx and gunicorn: 4xx, JSON, and a clean serve log."""
    server = LiveServer(env["cli"].home, free_port())
    port, failed = int(server.url.rsplit(":", 1)[1]), []

    def check(status: int, raw: bytes, csc: bool, what: str) -> None:
        try:
            _check(env, status, raw, csc, what)
        except (AssertionError, ValueError) as exc:
            failed.append(f"{what}: {exc}"[:400])

    try:
        deep = b"[" * DEEP + b"]" * DEEP
        for path in ENDPOINTS:
            for body in (deep, b'{"a":' * DEEP + b"1" + b"}" * DEEP, b"\xff\xfe\x00{", b"9" * 5000, b"[1, 2]"):
                status, raw = post(port, path, body, {**_headers(env, path), "Content-Type": "application/json"})
                check(status, raw, True, f"{path} {body[:12]!r}")
        for raw_opts in (deep, b"\xff{", b'{"page": 1e999}'):
            body, ctype = multipart({"options": (None, raw_opts), "file": ("in.pdf", env["pdf"])})
            status, raw = post(port, "/api/v1/sign", body, {"Authorization": f"Bearer {env['token']}",
                                                            "Content-Type": ctype})
            check(status, raw, False, f"options {raw_opts[:12]!r}")
            if status != 400:
                failed.append(f"options {raw_opts[:12]!r}: HTTP {status}, not 400")
        logged = log_problems(server.log.read_text(encoding="utf-8", errors="replace"))
    finally:
        server.stop()
    assert not failed and not logged, "\n".join(failed[:20] + logged[:5])
