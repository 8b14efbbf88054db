"""Acceptance 4: fuzzing the OCSP endpoints yields only well-formed OCSP responses or 4xx.

Thousands of cases with hypothesis: random bodies, valid requests with bytes flipped, inserted
or cut, structurally valid requests with odd fields, and random GET paths. A live-server run
sends a share of them through gunicorn too and then checks the workers still answer."""
from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import ocsp as aocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.web import create_app
from conftest import Cli, make_home
from ocsp_helpers import LiveServer, free_port, load, request_der, setup_ca

FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("fuzz")
    cli = Cli(make_home(tmp))
    info = setup_ca(cli, tmp)
    f = info["files"]
    seed = request_der(load(f["good"]), load(f["issuing"]), os.urandom(16))
    return {"client": create_app(cli.home).test_client(), "seed": seed, "home": cli.home}


def _check(status: int, body: bytes) -> None:
    assert status < 500, status
    if status == 200:
        parsed = aocsp.OCSPResponse.load(body)
        assert parsed["response_status"].native in {"successful", "malformed_request", "unauthorized"}
        parsed.native  # noqa: B018 - the whole response must decode
    else:
        assert 400 <= status < 500


@FUZZ
@given(body=st.binary(max_size=600))
def test_fuzz_random_post_bodies(target: dict, body: bytes) -> None:
    r = target["client"].post("/ocsp", data=body, content_type="application/ocsp-request")
    _check(r.status_code, r.data)


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_valid_requests(target: dict, data: st.DataObject) -> None:
    body = bytearray(target["seed"])
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, len(body) - 1)) if body else 0
        if op == "flip" and body:
            body[pos] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            body[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and body:
            del body[pos:pos + data.draw(st.integers(1, 8))]
        else:
            del body[pos:]
    r = target["client"].post("/ocsp", data=bytes(body), content_type="application/ocsp-request")
    _check(r.status_code, r.data)


@FUZZ
@given(serial=st.integers(0, 2**160), name_hash=st.binary(max_size=64), key_hash=st.binary(max_size=64),
       alg=st.sampled_from(["sha1", "sha256", "sha384", "sha512", "md5"]), nonce=st.none() | st.binary(max_size=40),
       count=st.integers(1, 20))
def test_fuzz_structurally_valid_requests_with_odd_fields(target: dict, serial: int, name_hash: bytes,
                                                          key_hash: bytes, alg: str, nonce: bytes | None,
                                                          count: int) -> None:
    cid = {"hash_algorithm": {"algorithm": alg}, "issuer_name_hash": name_hash, "issuer_key_hash": key_hash,
           "serial_number": serial}
    tbs: dict = {"request_list": [{"req_cert": cid}] * count}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    body = aocsp.OCSPRequest({"tbs_request": tbs}).dump()
    r = target["client"].post("/ocsp", data=body, content_type="application/ocsp-request")
    _check(r.status_code, r.data)


@FUZZ
@given(path=st.text(max_size=300))
def test_fuzz_random_get_paths(target: dict, path: str) -> None:
    r = target["client"].get("/ocsp/" + urllib.parse.quote(path, safe="/+="))
    _check(r.status_code, r.data)


def test_fuzz_through_gunicorn_leaves_the_workers_answering(target: dict, tmp_path: Path) -> None:
    server = LiveServer(target["home"], free_port())
    try:
        rnd = __import__("random").Random(1)
        for i in range(400):
            body = bytearray(target["seed"])
            if i % 2:
                body = bytearray(rnd.randbytes(rnd.randint(0, 300)))
            else:
                body[rnd.randrange(len(body))] ^= rnd.randint(1, 255)
            req = urllib.request.Request(server.url + "/ocsp", data=bytes(body), method="POST",
                                         headers={"Content-Type": "application/ocsp-request"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    _check(r.status, r.read())
            except urllib.error.HTTPError as e:
                _check(e.code, e.read())
            path = base64.b64encode(rnd.randbytes(rnd.randint(0, 120))).decode()
            try:
                with urllib.request.urlopen(server.url + "/ocsp/" + urllib.parse.quote(path, safe=""), timeout=10) as r:
                    _check(r.status, r.read())
            except urllib.error.HTTPError as e:
                _check(e.code, e.read())
        with urllib.request.urlopen(server.url + "/healthz", timeout=10) as r:
            assert r.status == 200
        log = server.log.read_text()
        assert "Traceback" not in log and "WORKER TIMEOUT" not in log and "exited with code" not in log, log[-2000:]
    finally:
        server.stop()


@FUZZ
@given(serial=st.integers(0, 2**159), alg=st.sampled_from(["sha1", "sha256", "sha384", "sha512"]),
       nonce=st.none() | st.binary(min_size=1, max_size=32), count=st.integers(1, 16), data=st.data())
def test_fast_request_parser_agrees_with_asn1crypto(serial: int, alg: str, nonce: bytes | None, count: int,
                                                    data: st.DataObject) -> None:
    """The hand-written fast path (ocsp/request.py) must read exactly what asn1crypto reads, or defer."""
    from ocsp.request import parse_request, parse_request_fast

    size = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}[alg]
    cids = [{"hash_algorithm": {"algorithm": alg}, "issuer_name_hash": data.draw(st.binary(min_size=size,
             max_size=size)), "issuer_key_hash": bytes(size), "serial_number": serial + i} for i in range(count)]
    tbs: dict = {"request_list": [{"req_cert": c} for c in cids]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False,
                                      "extn_value": nonce}]
    body = aocsp.OCSPRequest({"tbs_request": tbs}).dump()
    fast = parse_request_fast(body, 16)
    assert fast is not None
    assert fast == parse_request(body, 16)
