"""Issue 11, acceptance 5: two `govca serve` instances on different ports, sharing one PostgreSQL
database and the service token (as a network HSM is shared), behave as one service. Node B has
its own data directory naming node A's service token and no CA PIN at all (the CA partition is
never reachable from a web node). Real PostgreSQL (skipped, saying so, where none answers)."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from cli.config import load_config
from conftest import Cli
from ocsp_helpers import LiveServer, free_port
from test_web_role import (PG_ONLY, Demo, assert_signs, demo_home, http, multipart, ocsp_get, ocsp_post_nonce,
                           official_credential, post_json, sign_hash_v1)


CERT_ID_HASHES = (hashes.SHA1(), hashes.SHA256(), hashes.SHA384())  # RFC 6960 4.1.1 CertID hashAlgorithm


def second_node(home_a: Path, home_b: Path) -> Path:
    """Node B's data directory: node A's configuration, with the service token's conf and PIN file
    named by absolute path (shared) and the CA token's PIN source pointing at a file B has not."""
    text = (home_a / "govca.toml").read_text()
    text = re.sub(r'softhsm_conf = "hsm/', f'softhsm_conf = "{home_a}/hsm/', text)
    text = text.replace('pin_source = "file:hsm/service.pin"', f'pin_source = "file:{home_a}/hsm/service.pin"')
    home_b.mkdir(mode=0o700)
    (home_b / "govca.toml").write_text(text)
    if (home_a / "secrets").exists():  # TOTP seeds sealed under a server key (until the HSM holds them)
        (home_b / "secrets").symlink_to(home_a / "secrets")
    cfg_a, cfg_b = load_config(home_a), load_config(home_b)
    assert cfg_b.database_url == cfg_a.database_url and not (home_b / "hsm").exists()
    assert Path(cfg_b.home / cfg_b.hsm_service.softhsm_conf) == Path(cfg_a.home / cfg_a.hsm_service.softhsm_conf)
    return home_b


@pytest.fixture
def nodes(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    port_a, port_b = free_port(), free_port()
    home_a = demo_home(tmp_path, database_url, port_a)
    home_b = second_node(home_a, tmp_path / "node-b")
    a = LiveServer(home_a, port_a)
    try:
        b = LiveServer(home_b, port_b)
    except BaseException:
        a.stop()
        raise
    try:
        yield {"a": a.url, "b": b.url, "home": home_a, "demo": Demo(home_a)}
    finally:
        b.stop()
        a.stop()


def authorize_v1(base: str, demo: Demo, cred: str, digests: list[bytes], otp: str) -> tuple[int, dict]:
    return post_json(f"{base}/csc/v1/credentials/authorize", {
        "credentialID": cred, "numSignatures": len(digests), "hash": [base64.b64encode(d).decode() for d in digests],
        "PIN": demo.pin, "OTP": otp}, demo.token)


@PG_ONLY
def test_acceptance5_rfc6238_5_2_a_totp_code_accepted_by_one_node_is_refused_by_the_other(nodes: dict) -> None:
    demo = nodes["demo"]
    cred, cert = official_credential(nodes["a"], demo)
    code = demo.otp(0)
    digests = [hashlib.sha256(b"A" + secrets.token_bytes(8)).digest() for _ in range(2)]
    status, first = authorize_v1(nodes["a"], demo, cred, digests, code)
    assert status == 200, first
    status, again = authorize_v1(nodes["b"], demo, cred, [hashlib.sha256(b"B").digest()], code)
    assert status == 400 and "SAD" not in again, again
    # The SAD node A issued is good on node B, once per hash (SCAL2: bound to its hashes).
    status, signed = sign_hash_v1(nodes["b"], demo, cred, first["SAD"], digests[:1])
    assert status == 200, signed
    assert_signs(cert, digests[0], signed["signatures"][0])
    status, spent = sign_hash_v1(nodes["a"], demo, cred, first["SAD"], digests[:1])
    assert status == 400, spent  # that hash's signature was spent on node B
    status, signed = sign_hash_v1(nodes["a"], demo, cred, first["SAD"], digests[1:])
    assert status == 200, signed


@PG_ONLY
def test_acceptance5_a_sads_signature_budget_is_shared_by_the_nodes(nodes: dict) -> None:
    demo = nodes["demo"]
    status, listed = post_json(f"{nodes['a']}/csc/v1/credentials/list", {}, demo.token)
    seal = next(c for c in listed["credentialIDs"] if c.startswith("seal-"))  # SCAL1: a budget, no hash binding
    status, auth = post_json(f"{nodes['a']}/csc/v1/credentials/authorize", {"credentialID": seal, "numSignatures": 3},
                             demo.token)
    assert status == 200, auth
    digests = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    assert sign_hash_v1(nodes["a"], demo, seal, auth["SAD"], digests[0:2])[0] == 200
    assert sign_hash_v1(nodes["b"], demo, seal, auth["SAD"], digests[2:3])[0] == 200
    for node, digest in (("b", digests[3]), ("a", digests[4])):
        status, over = sign_hash_v1(nodes[node], demo, seal, auth["SAD"], [digest])
        assert status == 400 and over["error_description"] == "Numbers of signatures is too high", (node, over)


@PG_ONLY
def test_acceptance5_rfc6960_a_cli_revocation_is_answered_revoked_by_the_next_request_to_either_node(
        nodes: dict) -> None:
    demo = nodes["demo"]
    seal = demo.cert(demo.valid_seal)
    # A pre-signed "good" served (and its lookups warm) on both nodes first: SHA-1 and SHA-256
    # CertIDs pre-signed by the CLI, a SHA-384 one signed by a worker on first request and stored.
    for node in ("a", "b"):
        for algorithm in CERT_ID_HASHES:
            resp, _ = ocsp_get(nodes[node], seal, demo.issuing, algorithm)
            assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD, (node, algorithm.name)
        assert ocsp_post_nonce(nodes[node], seal, demo.issuing).certificate_status == ocsp.OCSPCertStatus.GOOD
    Cli(nodes["home"])("cert", "revoke", "--ca", "govca-issuing", demo.valid_seal, "--reason", "keyCompromise")
    for node in ("b", "a"):
        for algorithm in CERT_ID_HASHES:
            resp, _ = ocsp_get(nodes[node], seal, demo.issuing, algorithm)
            assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED, (node, algorithm.name)
            assert resp.revocation_reason is not None and resp.revocation_reason.name == "key_compromise"
        assert ocsp_post_nonce(nodes[node], seal, demo.issuing).certificate_status == ocsp.OCSPCertStatus.REVOKED
    # And sealing with the revoked seal is refused on both (the status is read, not remembered).
    for node in ("a", "b"):
        form, headers = multipart(demo.pdf, options=json.dumps({"level": "B-B"}))
        status, _, body = http(f"{nodes[node]}/api/v1/sign", form, {**headers, "Authorization": f"Bearer {demo.token}"})
        assert status >= 400, (node, status, body[:200])


@PG_ONLY
def test_acceptance5_the_audit_chain_stays_one_chain_under_requests_interleaved_on_both_nodes(nodes: dict) -> None:
    demo = nodes["demo"]
    before = json.loads(Cli(nodes["home"])("audit", "verify", "--json").stdout)["records"]

    def seal(i: int) -> int:
        form, headers = multipart(demo.pdf, options=json.dumps({"level": "B-B"}))
        node = nodes["a" if i % 2 else "b"]
        return http(f"{node}/api/v1/sign", form, {**headers, "Authorization": f"Bearer {demo.token}"})[0]

    def refused(i: int) -> int:  # a wrong token: audited as a refusal
        node = nodes["b" if i % 2 else "a"]
        return http(f"{node}/api/v1/sign", b"%PDF-1.7", {"Authorization": f"Bearer gvc_{i}_{'x' * 43}",
                                                         "Content-Type": "application/pdf"})[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        sealed = list(pool.map(seal, range(8)))
        refusals = list(pool.map(refused, range(8)))
    assert sealed == [200] * 8 and set(refusals) == {401}, (sealed, refusals)
    after = json.loads(Cli(nodes["home"])("audit", "verify", "--json").stdout)
    assert after["ok"] is True and after["records"] >= before + 8 + 1, (before, after)
