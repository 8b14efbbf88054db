"""Acceptance 1, 3 and 5 against `govca serve` as in production (gunicorn, 2 workers), with
clients nobody here wrote: openssl ocsp, curl-style GET, and pyHanko's certificate validator."""
from __future__ import annotations

import asyncio
import base64
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509

from conftest import Cli, make_home, run
from ocsp_helpers import LiveServer, free_port, setup_ca


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("live")
    port = free_port()
    # The base URL written into the certificates is the address the server listens on.
    cli = Cli(make_home(tmp, base_url=f"http://127.0.0.1:{port}"))
    info = setup_ca(cli, tmp)
    server = LiveServer(cli.home, port)
    info.update(cli=cli, server=server, tmp=tmp)
    yield info
    server.stop()


def _openssl_ocsp(live: dict, which: str, *extra: str) -> str:
    f = live["files"]
    r = run(["openssl", "ocsp", "-issuer", str(f["issuing"]), "-cert", str(f[which]), "-url",
             live["server"].url + "/ocsp", "-CAfile", str(f["root"]), *extra])
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_acceptance1_openssl_post_good_with_nonce_and_response_verify_ok(live: dict) -> None:
    out = _openssl_ocsp(live, "good", "-resp_text")
    assert "Response verify OK" in out and ": good" in out
    # openssl sends a nonce by default and fails the exchange unless it is echoed.
    assert "WARNING: no nonce in response" not in out and "Nonce Verify error" not in out
    assert "OCSP Nonce" in out


def test_acceptance1_and_3_revoked_through_the_cli_at_once_with_reason_time_and_on_the_crl(live: dict) -> None:
    cli, serial = live["cli"], live["serials"]["victim"]
    assert ": good" in _openssl_ocsp(live, "victim", "-no_nonce")  # the pre-signed answer first
    cli("cert", "revoke", "--ca", "issuing", serial, "--reason", "keyCompromise")
    for extra in ((), ("-no_nonce",)):
        out = _openssl_ocsp(live, "victim", *extra)
        assert "Response verify OK" in out and ": revoked" in out, out
        assert "Reason: keyCompromise" in out and "Revocation Time:" in out
    # ... and on the CRL its distribution point names: its partition (RFC 5280 5.2.5), fetched live.
    cert = x509.load_pem_x509_certificate(live["files"]["victim"].read_bytes())
    url = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    assert "/crl/issuing/" in url
    with urllib.request.urlopen(live["server"].url + url[url.index("/crl/"):]) as r:
        crl = live["tmp"] / "served.crl"
        crl.write_bytes(r.read())
    text = run(["openssl", "crl", "-inform", "DER", "-in", str(crl), "-noout", "-text"]).stdout
    assert serial in text.replace(":", "").upper() and "Key Compromise" in text


def test_acceptance1_the_same_through_get(live: dict) -> None:
    f = live["files"]
    req = live["tmp"] / "req.der"
    r = run(["openssl", "ocsp", "-issuer", str(f["issuing"]), "-cert", str(f["good"]), "-no_nonce", "-reqout", str(req)])
    assert r.returncode == 0, r.stderr
    url = live["server"].url + "/ocsp/" + urllib.parse.quote(base64.b64encode(req.read_bytes()).decode(), safe="")
    with urllib.request.urlopen(url) as resp:
        assert resp.headers["Content-Type"] == "application/ocsp-response"
        assert "max-age=" in resp.headers["Cache-Control"]
        body = resp.read()
    (live["tmp"] / "resp.der").write_bytes(body)
    r = run(["openssl", "ocsp", "-respin", str(live["tmp"] / "resp.der"), "-issuer", str(f["issuing"]), "-cert",
             str(f["good"]), "-CAfile", str(f["root"]), "-no_nonce"])
    assert "Response verify OK" in r.stdout + r.stderr and ": good" in r.stdout, r.stdout + r.stderr


def test_acceptance5_pyhanko_validator_with_the_root_only_fetches_ocsp_and_crl(live: dict) -> None:
    from asn1crypto import pem
    from asn1crypto import x509 as ax509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.policy_decl import (CertRevTrustPolicy, RevocationCheckingPolicy,
                                                   RevocationCheckingRule)

    def load(path: Path) -> ax509.Certificate:
        return ax509.Certificate.load(pem.unarmor(path.read_bytes())[2])

    f = live["files"]
    rules = {"ocsp": RevocationCheckingRule.OCSP_REQUIRED, "crl": RevocationCheckingRule.CRL_REQUIRED}
    for mode, rule in rules.items():
        policy = CertRevTrustPolicy(RevocationCheckingPolicy(rule, rule))
        vc = ValidationContext(trust_roots=[load(f["root"])], allow_fetching=True, revinfo_policy=policy)
        # Only the root is given: the issuing CA comes from the AIA caIssuers URL.
        validator = CertificateValidator(load(f["good"]), validation_context=vc)
        path = asyncio.run(validator.async_validate_usage({"digital_signature"}))
        assert len(path) == 3
        if mode == "ocsp":
            assert vc.ocsps, "no OCSP response was fetched"
        else:
            assert vc.crls, "no CRL was fetched"
