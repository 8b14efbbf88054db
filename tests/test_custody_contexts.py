"""Issue 11, custody by context: a CA token (root and issuing CA keys, opened only by administrator
commands that need a CA signature) and a service token (every key `govca serve` uses). ETSI EN 319
411-1 and ขมธอ. 36-2566 expect the CA's signing keys to be usable by the CA function only."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path

import pyotp
from asn1crypto import tsp
from cryptography import x509
from cryptography.x509 import ocsp
from sqlalchemy import create_engine, text

from cli.config import load_config
from conftest import Cli, create_hierarchy, make_home, make_legacy_home
from ocsp_helpers import SEAL, LiveServer, free_port, load, request_der
from sealing_helpers import sample_pdf, setup_sealing
from test_csc import enrol

CA_LABELS = ("root-ca-", "issuing-ca-")


def _keys(cli: Cli) -> list[dict]:
    return json.loads(cli("hsm", "keys", "--json").stdout)


def _http(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _multipart(fields: dict[str, tuple[str | None, bytes, str]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    out = io.BytesIO()
    for name, (filename, data, ctype) in fields.items():
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"".encode())
        if filename:
            out.write(f"; filename=\"{filename}\"".encode())
        out.write(f"\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _json_post(url: str, body: dict, token: str) -> tuple[int, dict]:
    status, _, data = _http(url, json.dumps(body).encode(), {"Content-Type": "application/json",
                                                             "Authorization": f"Bearer {token}"})
    return status, json.loads(data)


def _counts(home: Path) -> dict[str, int]:
    engine = create_engine(load_config(home).database_url)
    try:
        with engine.connect() as c:
            return {t: c.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                    for t in ("certificates", "serials", "crls", "audit_log", "cas", "ocsp_responders")}
    finally:
        engine.dispose()


def test_acceptance1_after_demo_ca_keys_are_only_in_the_ca_token_and_every_other_key_only_in_the_service_token(
        tmp_path: Path) -> None:
    cli = Cli(tmp_path / "govca-data")
    cli("demo")
    keys = _keys(cli)
    assert {k["token"] for k in keys} == {"govca-ca", "govca-service"}
    in_ca = [k for k in keys if k["token"] == "govca-ca"]
    in_service = [k for k in keys if k["token"] == "govca-service"]
    # Root and issuing CA keys and the CA's audit checkpoint key (docs/audit.md; a private and a
    # public object each), and nothing else, in the CA token.
    assert sorted((k["label"].split("-ca-")[0], k["object_class"]) for k in in_ca) == [
        ("govca-audit-checkpoint-v1", "private"), ("govca-audit-checkpoint-v1", "public"),
        ("issuing", "private"), ("issuing", "public"), ("root", "private"), ("root", "public")]
    assert all(k["label"].startswith(CA_LABELS) for k in in_ca if k["label"] != "govca-audit-checkpoint-v1")
    assert not [k for k in in_service if k["label"].startswith(CA_LABELS)]
    # Every CA record names a key in the CA token.
    cas = json.loads(cli("ca", "list", "--json").stdout)
    assert cas and all(c["key_uri"].startswith("pkcs11:token=govca-ca;") for c in cas)
    # The service token holds the responders', the TSA's, the seal's, the official's and the secret keys.
    prefixes = {k["label"].split("-")[0] for k in in_service if k["object_class"] == "private"}
    assert {"ocsp", "tsa", "eseal", "person"} <= prefixes, prefixes
    assert any(k["object_class"] == "secret" for k in in_service)
    for k in keys:
        if k["object_class"] in ("private", "secret"):
            assert k["sensitive"] is True and k["extractable"] is False, k


def test_acceptance2_serve_works_without_the_ca_pin_and_ca_signing_commands_fail_naming_it(
        tmp_path: Path, database_url: str | None) -> None:
    home = make_home(tmp_path, database_url)
    cli = Cli(home)
    info = setup_sealing(cli, tmp_path)
    oid, seed, pin = enrol(cli, tmp_path)
    second = json.loads(cli("official", "add", "--agency", "A", "--given-name-th", "สมศรี", "--surname-th", "ใจดี",
                            "--given-name-en", "Somsri", "--surname-en", "Jaidee", "--title", "Officer",
                            "--json").stdout)["id"]
    keys_before, counts_before = _keys(cli), _counts(home)
    ca_pin = home / "hsm" / "ca.pin"
    ca_pin_text = ca_pin.read_text()
    ca_pin.unlink()

    server = LiveServer(home, free_port())
    try:
        url, token = server.url, info["tokens"]["A"]
        status, _, body = _http(url + "/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok" and health["custody"] == "separate-tokens"
        # OCSP: the pre-signed response (the same bytes twice) and a fresh one echoing a nonce (RFC 6960 4.4.1).
        good, issuing = load(info["files"]["good"]), load(info["files"]["issuing"])
        plain = [_http(url + "/ocsp", request_der(good, issuing), {"Content-Type": "application/ocsp-request"})[2]
                 for _ in range(2)]
        assert plain[0] == plain[1]
        assert ocsp.load_der_ocsp_response(plain[0]).certificate_status == ocsp.OCSPCertStatus.GOOD
        nonce = os.urandom(16)
        fresh = ocsp.load_der_ocsp_response(_http(url + "/ocsp", request_der(good, issuing, nonce),
                                                  {"Content-Type": "application/ocsp-request"})[2])
        assert fresh.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert fresh.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        status, _, crl = _http(url + "/crl/issuing.crl")
        assert status == 200 and x509.load_der_x509_crl(crl).is_signature_valid(issuing.public_key())
        status, _, cert = _http(url + "/certs/issuing.crt")
        assert status == 200 and x509.load_der_x509_certificate(cert) == issuing
        # Sealing at B-B and B-LTA, then both verification surfaces on the B-LTA seal.
        sealed = {}
        for level in ("B-B", "B-LTA"):
            body, ctype = _multipart({"file": ("doc.pdf", sample_pdf(), "application/pdf"),
                                      "options": (None, json.dumps({"level": level}).encode(), "application/json")})
            status, headers, sealed[level] = _http(url + "/api/v1/sign", body, {
                "Content-Type": ctype, "Authorization": f"Bearer {token}"})
            assert status == 200 and sealed[level].startswith(b"%PDF"), sealed[level][:300]
        body, ctype = _multipart({"file": ("sealed.pdf", sealed["B-LTA"], "application/pdf")})
        status, _, page = _http(url + "/verify", body, {"Content-Type": ctype})
        assert status == 200 and b"<html" in page.lower()
        status, _, report = _http(url + "/api/v1/verify", sealed["B-LTA"], {"Content-Type": "application/pdf"})
        assert status == 200 and json.loads(report)["signatures"], report[:300]
        # The TSA (RFC 3161 2.4.2: status granted).
        query = tsp.TimeStampReq({"version": "v1", "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"x").digest()},
            "cert_req": True}).dump()
        status, _, reply = _http(url + "/tsa", query, {"Content-Type": "application/timestamp-query"})
        assert status == 200 and tsp.TimeStampResp.load(reply)["status"]["status"].native == "granted"
        # CSC v1 and v2: authorise with PIN and OTP, then sign a hash with the official's key.
        totp, cred, digest = pyotp.TOTP(seed), f"official-{oid}", hashlib.sha256(b"doc").digest()
        b64 = base64.b64encode(digest).decode()
        status, auth = _json_post(url + "/csc/v1/credentials/authorize", {
            "credentialID": cred, "numSignatures": 1, "hash": [b64], "PIN": pin, "OTP": totp.now()}, token)
        assert status == 200, auth
        status, signed = _json_post(url + "/csc/v1/signatures/signHash", {
            "credentialID": cred, "SAD": auth["SAD"], "hashAlgo": "2.16.840.1.101.3.4.2.1",
            "signAlgo": "1.2.840.10045.4.3.2", "hash": [b64]}, token)
        assert status == 200 and len(signed["signatures"]) == 1, signed
        import datetime as dt

        next_code = totp.at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30))
        status, auth = _json_post(url + "/csc/v2/credentials/authorize", {
            "credentialID": cred, "numSignatures": 1, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "hashes": [b64],
            "authData": [{"id": "PIN", "value": pin}, {"id": "OTP", "value": next_code}]}, token)
        assert status == 200, auth
        status, signed = _json_post(url + "/csc/v2/signatures/signHash", {
            "credentialID": cred, "SAD": auth["SAD"], "signAlgo": "1.2.840.10045.4.3.2",
            "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "hashes": [b64]}, token)
        assert status == 200 and len(signed["signatures"]) == 1, signed
        status, _, body = _http(url + "/healthz")
        assert status == 200
    finally:
        server.stop()

    # Administrator commands that need a CA signature: one line naming the CA token's PIN source.
    expected = f"CA token govca-ca: token user PIN file {ca_pin} does not exist"
    pin_file = tmp_path / "second.pin"
    pin_file.write_text("246810\n")
    pin_file.chmod(0o600)
    counts_after_serve = _counts(home)
    for args in (["cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
                  "--subject", SEAL],
                 ["cert", "revoke", "--ca", "issuing", info["serials"]["victim"], "--reason", "keyCompromise"],
                 ["crl", "generate", "--ca", "issuing"],
                 ["crl", "refresh", "--max-age-hours", "1"],
                 ["ca", "create-issuing", "--name", "issuing2", "--parent", "root", "--subject",
                  "/C=TH/O=govca Test/CN=govca Test Issuing CA 2", "--key-type", "ec-p384"],
                 ["official", "enrol", str(second), "--pin-file", str(pin_file), "--no-qr"]):
        result = cli(*args, ok=False)
        assert result.exit_code != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "internal error" not in lines[0], (args, result.stderr)
    assert _counts(home) == counts_after_serve
    # Serving wrote audit records (seals, authorisations); nothing else changed in the CA's tables.
    assert {k: v for k, v in counts_before.items() if k != "audit_log"} == \
        {k: v for k, v in counts_after_serve.items() if k != "audit_log"}
    cert = json.loads(cli("cert", "show", "--ca", "issuing", info["serials"]["victim"], "--json").stdout)
    assert cert["status"] == "valid"
    official = next(o for o in json.loads(cli("official", "list", "--json").stdout) if o["id"] == second)
    assert official["key_uri"] is None
    ca_pin.write_text(ca_pin_text)
    ca_pin.chmod(0o600)
    assert _keys(cli) == keys_before  # no key generated in either token


def test_a_legacy_data_directory_with_one_token_keeps_working_and_serve_says_the_ca_keys_share_it(
        tmp_path: Path) -> None:
    home = make_legacy_home(tmp_path)
    cli = Cli(home)
    create_hierarchy(cli)
    issued = json.loads(cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
                            "--subject", SEAL, "--json").stdout)
    assert issued["key_uri"].startswith("pkcs11:token=govca;")
    cli("ocsp", "setup", "--ca", "issuing")
    keys = _keys(cli)
    # One token, listed once: every object appears one time, all in token "govca".
    assert {k["token"] for k in keys} == {"govca"} and {k["context"] for k in keys} == {"shared"}
    assert len({(k["label"], k["object_class"]) for k in keys}) == len(keys)
    assert sum(k["label"].startswith(CA_LABELS) for k in keys) == 4
    out = tmp_path / "issuing.pem"
    cli("ca", "export", "issuing", "--out", str(out))
    server = LiveServer(home, free_port())
    try:
        status, _, body = _http(server.url + "/healthz")
        assert status == 200 and json.loads(body)["custody"] == "shared-token"
        status, _, crl = _http(server.url + "/crl/issuing.crl")
        assert status == 200 and x509.load_der_x509_crl(crl).is_signature_valid(load(out).public_key())
    finally:
        server.stop()
    log = server.log.read_text()
    assert ("govca serve: warning: CA keys share token 'govca' with the service; see README "
            "'Separate the CA token'") in log.splitlines()
    cli("cert", "revoke", "--ca", "issuing", issued["serial"], "--reason", "superseded")


def test_init_refuses_one_label_for_both_contexts_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "same"
    result = Cli(home)("init", "--ca-token-label", "govca", "--service-token-label", "govca", ok=False)
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "--ca-token-label and --service-token-label must differ" in result.stderr
    assert not home.exists()


def test_init_writes_one_table_per_context_with_its_own_pin_source(tmp_path: Path) -> None:
    home = tmp_path / "two"
    Cli(home)("init", "--ca-token-label", "agency-ca", "--service-token-label", "agency-svc")
    cfg = load_config(home)
    assert not cfg.tokens_shared
    assert (cfg.hsm_ca.token_label, cfg.hsm_ca.pin_source) == ("agency-ca", "file:hsm/ca.pin")
    assert (cfg.hsm_service.token_label, cfg.hsm_service.pin_source) == ("agency-svc", "file:hsm/service.pin")
    assert cfg.hsm_ca.softhsm_conf == cfg.hsm_service.softhsm_conf == str(home / "hsm" / "softhsm2.conf")
    assert (home / "hsm" / "ca.pin").read_text() != (home / "hsm" / "service.pin").read_text()
    assert not (home / "secrets" / "server.key").exists()
    assert Cli(home)("hsm", "keys").stdout.strip() == "no keys"
