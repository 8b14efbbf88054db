"""Issue 12, acceptance 1 and 3: an issuing CA certified by an external parent (a stand-in for the
Thailand NRCA made with OpenSSL alone), the certificates it then issues, and the imports refused.

The stand-in root is `openssl req -x509` (P-384) and certifies govca's PKCS#10 request with
`openssl ca` and the issuing-CA extensions (tests/external_helpers.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from conftest import Cli, make_home, run, tool
from external_helpers import (ISSUING_SUBJECT, FileServer, StandInRoot, external_issuing, make_standin_root,
                              trust)

PERSON = "/C=TH/GN=สมหญิง/SN=รักชาติ/CN=สมหญิง รักชาติ/serialNumber=GOVCA-OFF-00042/O=Department of Lands"


@pytest.fixture
def parent(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = FileServer(tmp_path / "repository")
    (tmp_path / "repository").mkdir()
    root = make_standin_root(tmp_path / "standin", server.url("root.crl"))
    root.crl(tmp_path / "repository" / "root.crl")
    yield root
    server.stop()


def _state(cli: Cli) -> tuple[list, list]:
    return (json.loads(cli("ca", "list", "--json").stdout),
            sorted((k["token"], k["label"]) for k in json.loads(cli("hsm", "keys", "--json").stdout)))


# --- the request -------------------------------------------------------------------------------
def test_external_request_is_a_pkcs10_signed_in_the_ca_token_and_the_ca_is_pending(tmp_path: Path) -> None:
    cli = Cli(make_home(tmp_path))
    csr_file = tmp_path / "issuing.csr"
    out = json.loads(cli("ca", "create-issuing", "--name", "issuing", "--external", "--subject", ISSUING_SUBJECT,
                         "--key-type", "ec-p384", "--csr-out", str(csr_file), "--json").stdout)
    assert out["state"] == "pending"
    # RFC 2986 3: the request proves possession; openssl checks the self-signature.
    r = run(["openssl", "req", "-in", str(csr_file), "-noout", "-verify", "-text"])
    assert r.returncode == 0 and "verify OK" in (r.stdout + r.stderr), r.stderr
    csr = x509.load_pem_x509_csr(csr_file.read_bytes())
    # Built to the issuing-CA profile: RFC 5280 4.2.1.9 CA:TRUE pathLen 0, 4.2.1.3 keyCertSign + cRLSign.
    bc = csr.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = csr.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign and not ku.digital_signature
    assert csr.subject.rfc4514_string().endswith("C=TH")
    keys = json.loads(cli("hsm", "keys", "--json").stdout)
    assert [k["token"] for k in keys if k["label"] == "issuing-ca-issuing"] == ["govca-ca"] * 2  # private + public
    listed = {c["name"]: c for c in json.loads(cli("ca", "list", "--json").stdout)}
    assert listed["issuing"]["state"] == "pending"
    # A pending CA issues nothing, and its request can be exported again.
    r = cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256", "--subject",
            "/C=TH/O=X/CN=Y/organizationIdentifier=NTRTH-0994000159889", ok=False)
    assert r.exit_code == 1 and "unknown CA 'issuing'" in r.output
    again = tmp_path / "again.csr"
    cli("ca", "export", "issuing", "--out", str(again))
    assert again.read_bytes() == csr_file.read_bytes()
    # The request file is never overwritten, and the name is taken.
    r = cli("ca", "create-issuing", "--name", "issuing", "--external", "--subject", ISSUING_SUBJECT,
            "--csr-out", str(csr_file), ok=False)
    assert r.exit_code == 2 and "exists already" in r.output
    r = cli("ca", "create-issuing", "--name", "issuing", "--external", "--subject", ISSUING_SUBJECT,
            "--csr-out", str(tmp_path / "new.csr"), ok=False)
    assert r.exit_code == 1 and "already exists" in r.output and not (tmp_path / "new.csr").exists()


# --- acceptance 1 ------------------------------------------------------------------------------
def test_acceptance1_certificates_under_the_external_parent_verify_and_lint_clean(
        tmp_path: Path, database_url: str | None, parent: StandInRoot) -> None:
    cli = Cli(make_home(tmp_path, database_url))
    issuing = external_issuing(cli, parent, tmp_path / "out")
    listed = {c["name"]: c for c in json.loads(cli("ca", "list", "--json").stdout)}
    assert listed["issuing"]["state"] == "active" and listed["issuing"]["parent"] == "nrca"
    assert listed["nrca"]["state"] == "external" and listed["nrca"]["key_uri"] is None
    cli("agency", "add", "--code", "A", "--name-th", "กรมที่ดิน", "--name-en", "Department of Lands",
        "--juristic-id", "0994000159889")
    seal = json.loads(cli("agency", "seal", "issue", "--agency", "A", "--json").stdout)  # no --ca: the active one
    assert seal["ca"] == "issuing"
    eseal, person = tmp_path / "eseal.pem", tmp_path / "person.pem"
    eseal.write_text(cli("cert", "show", "--ca", "issuing", seal["serial"], "--pem").stdout)
    cli("cert", "issue", "--ca", "issuing", "--profile", "person", "--generate-key", "ec-p256", "--subject", PERSON,
        "--out", str(person))
    for cert, etsi_type in ((eseal, "NCP-LEGAL-PERSON-CERTIFICATE"), (person, "NCP-NATURAL-PERSON-CERTIFICATE")):
        r = run(["openssl", "verify", "-x509_strict", "-CAfile", str(parent.cert), "-untrusted", str(issuing),
                 str(cert)])
        assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout + r.stderr
        # The AIA caIssuers URL is where govca serves the issuing CA's certificate (RFC 5280 4.2.2.1).
        aia = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
            x509.AuthorityInformationAccess).value
        assert [a.access_location.value for a in aia if a.access_method._name == "caIssuers"] == [
            "http://pki.example.com/certs/issuing.crt"]
        r = run([tool("lint_pkix_cert"), "lint", "-s", "ERROR", str(cert)])
        assert r.returncode == 0 and "ERROR" not in r.stdout and "FATAL" not in r.stdout, r.stdout + r.stderr
        r = run([tool("lint_etsi_cert"), "lint", "-t", etsi_type, "-s", "ERROR", str(cert)])
        assert r.returncode == 0 and "ERROR" not in r.stdout and "FATAL" not in r.stdout, r.stdout + r.stderr
    # The chain govca embeds for the seal goes up to the external root.
    from ca.storage.db import Database
    from cli.config import load_config
    from cli.signer_wiring import signer_repository

    db = Database(load_config(cli.home).database_url)
    try:
        stored = signer_repository(db).seals_of("A")[0]
    finally:
        db.dispose()
    assert [x509.load_der_x509_certificate(c).subject for c in stored.chain_der] == [
        x509.load_pem_x509_certificate(issuing.read_bytes()).subject,
        x509.load_pem_x509_certificate(parent.cert.read_bytes()).subject]
    # The issuing CA published its first CRL at once; the external root signs nothing here.
    assert listed["issuing"]["crl_number"] == 1 and listed["nrca"]["crl_number"] == 0
    r = cli("crl", "generate", "--ca", "nrca", ok=False)
    assert r.exit_code == 1 and "external" in r.output and "crl import" in r.output


# --- acceptance 3 ------------------------------------------------------------------------------
def _pending(cli: Cli, tmp_path: Path, parent: StandInRoot) -> Path:
    csr = tmp_path / "issuing.csr"
    cli("ca", "create-issuing", "--name", "issuing", "--external", "--subject", ISSUING_SUBJECT,
        "--key-type", "ec-p384", "--csr-out", str(csr))
    trust(cli.home, parent.cert)
    return csr


def _other_csr(tmp_path: Path) -> Path:
    csr = tmp_path / "other.csr"
    r = run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
             "-keyout", str(tmp_path / "other.key"), "-out", str(csr), "-subj", "/C=TH/O=Someone Else/CN=Other CA"])
    assert r.returncode == 0, r.stderr
    return csr


REFUSALS = {
    "another key": "the certificate is for another key",
    "not a CA": "basicConstraints cA is not TRUE (RFC 5280 4.2.1.9)",
    "expired": "the certificate expired on 2021-01-01",
    "no anchor": "the chain does not reach a configured trust anchor",
    "garbage chain": "the chain file is not PEM or DER certificates",
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_acceptance3_import_refuses_and_records_nothing(tmp_path: Path, database_url: str | None,
                                                         parent: StandInRoot, case: str) -> None:
    cli = Cli(make_home(tmp_path, database_url))
    csr = _pending(cli, tmp_path, parent)
    cert, chain = tmp_path / "returned.pem", parent.cert
    if case == "another key":
        parent.certify(_other_csr(tmp_path), cert)
    elif case == "not a CA":
        parent.certify(csr, cert, extensions="leaf_ext")
    elif case == "expired":
        parent.certify(csr, cert, window=("20200101000000Z", "20210101000000Z"))
    elif case == "no anchor":
        stranger = make_standin_root(tmp_path / "stranger", "http://127.0.0.1:9/none.crl",
                                     subject="/C=TH/O=Not Trusted/CN=Stranger Root")
        stranger.certify(csr, cert)
        chain = stranger.cert
    elif case == "garbage chain":
        parent.certify(csr, cert)
        chain = tmp_path / "garbage.pem"
        chain.write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    before = _state(cli)
    r = cli("ca", "import-certificate", "--name", "issuing", "--certificate", str(cert), "--chain", str(chain),
            ok=False)
    assert r.exit_code == 1, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and REFUSALS[case] in lines[0], r.output
    assert "Traceback" not in r.output
    assert _state(cli) == before  # no CA recorded, still pending, no key made or removed
    refused = json.loads(cli("audit", "list", "--json", "--action", "ca.import-certificate").stdout)
    assert refused[0]["outcome"] == "refused" and REFUSALS[case] in refused[0]["details"]["error"]
    # Nothing stands in the way of the right certificate afterwards.
    good = tmp_path / "good.pem"
    parent.certify(csr, good)
    cli("ca", "import-certificate", "--name", "issuing", "--certificate", str(good), "--chain", str(parent.cert))
    assert {c["name"]: c["state"] for c in json.loads(cli("ca", "list", "--json").stdout)}["issuing"] == "active"


def test_import_needs_a_configured_anchor_and_a_pending_ca(tmp_path: Path, parent: StandInRoot) -> None:
    cli = Cli(make_home(tmp_path))
    csr = tmp_path / "issuing.csr"
    cli("ca", "create-issuing", "--name", "issuing", "--external", "--subject", ISSUING_SUBJECT,
        "--csr-out", str(csr))
    cert = parent.certify(csr, tmp_path / "issuing.pem")
    r = cli("ca", "import-certificate", "--name", "issuing", "--certificate", str(cert), "--chain",
            str(parent.cert), ok=False)
    assert r.exit_code == 1 and "no trust anchor is configured" in r.output and "signer.extra_roots" in r.output
    r = cli("ca", "import-certificate", "--name", "nosuch", "--certificate", str(cert), "--chain",
            str(parent.cert), ok=False)
    assert r.exit_code == 1 and "no pending CA named 'nosuch'" in r.output
    trust(cli.home, parent.cert)
    both = tmp_path / "both.pem"
    both.write_bytes(cert.read_bytes() + parent.cert.read_bytes())
    r = cli("ca", "import-certificate", "--name", "issuing", "--certificate", str(both), "--chain",
            str(parent.cert), ok=False)
    assert r.exit_code == 1 and "holds 2 certificates" in r.output
    flood = tmp_path / "flood.pem"
    flood.write_bytes(parent.cert.read_bytes() * 50)
    r = cli("ca", "import-certificate", "--name", "issuing", "--certificate", str(cert), "--chain", str(flood),
            ok=False)
    assert r.exit_code == 1 and "holds 50 certificates; at most 8" in r.output
    cli("ca", "import-certificate", "--name", "issuing", "--certificate", str(cert), "--chain", str(parent.cert))
    r = cli("ca", "import-certificate", "--name", "issuing", "--certificate", str(cert), "--chain",
            str(parent.cert), ok=False)
    assert r.exit_code == 1 and "is not pending" in r.output
