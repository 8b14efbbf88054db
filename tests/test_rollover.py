"""Issue 12, rollover (acceptance 5): `govca ca rollover`, the CA states, and the guards of retiring
and external CAs. Every test runs on SQLite and on PostgreSQL (any_home)."""
from __future__ import annotations

import datetime as dt
import json
import os
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from cli.web import create_app
from conftest import Cli, create_hierarchy, run
from ocsp_helpers import SEAL, load, request_der

JURISTIC = "0994000159889"


def _json(cli: Cli, *args: str):  # type: ignore[no-untyped-def]
    return json.loads(cli(*args, "--json").stdout)


def _states(cli: Cli) -> dict[str, str]:
    return {c["name"]: c["state"] for c in _json(cli, "ca", "list")}


def _export(cli: Cli, name: str, out: Path) -> Path:
    cli("ca", "export", name, "--out", str(out))
    return out


def _cert_pem(cli: Cli, ca: str, serial: str, out: Path) -> Path:
    out.write_text(cli("cert", "show", "--ca", ca, serial, "--pem").stdout)
    return out


def _ski(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def _aki(cert: x509.Certificate) -> bytes | None:
    return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier


def _ocsp(client, cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPResponse:  # type: ignore[no-untyped-def]
    r = client.post("/ocsp", data=request_der(cert, issuer, os.urandom(16)), content_type="application/ocsp-request")
    assert r.status_code == 200
    resp = ocsp.load_der_ocsp_response(r.data)
    assert resp.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    # RFC 6960 4.2.2.2: signed by a delegated responder the certificate's own CA issued.
    [responder] = resp.certificates
    responder.verify_directly_issued_by(issuer)
    assert _aki(responder) == _ski(issuer)
    responder.public_key().verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
    return resp


def _strict_verify(root: Path, ca: Path, leaf: Path) -> None:
    r = run(["openssl", "verify", "-x509_strict", "-CAfile", str(root), "-untrusted", str(ca), str(leaf)])
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr


def _add_agency(cli: Cli) -> None:
    cli("agency", "add", "--code", "A", "--name-th", "กรมที่ดิน", "--name-en", "Department of Lands",
        "--juristic-id", JURISTIC)


def test_acceptance5_rollover_new_ca_issues_old_ca_keeps_ocsp_and_crl(any_home: Path, tmp_path: Path) -> None:
    cli = create_hierarchy(Cli(any_home))
    _add_agency(cli)
    old_seal = _json(cli, "agency", "seal", "issue", "--agency", "A")
    assert old_seal["ca"] == "issuing"
    victim = _json(cli, "cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
                   "--subject", SEAL)["serial"]
    cli("ocsp", "setup", "--ca", "issuing")

    done = _json(cli, "ca", "rollover", "--name", "issuing", "--new-name", "issuing-2")
    assert done["old"]["state"] == "retiring" and done["new"]["state"] == "active"
    assert done["new"]["parent"] == "root" and done["new"]["key_type"] == "ec-p384"  # OLD's key type by default
    assert done["responder"] is not None  # OLD had a responder: NEW gets its own (RFC 6960 4.2.2.2)
    # `ca list` shows the states.
    assert _states(cli) == {"root": "active", "issuing": "retiring", "issuing-2": "active"}
    root_pem, old_pem, new_pem = (_export(cli, n, tmp_path / f"{n}.pem") for n in ("root", "issuing", "issuing-2"))
    old_ca, new_ca = load(old_pem), load(new_pem)
    assert new_ca.subject == old_ca.subject and _ski(new_ca) != _ski(old_ca)  # same DN, new key

    # New certificates come from NEW when no CA is named: seal, TSA, responder, official.
    seal = _json(cli, "agency", "seal", "issue", "--agency", "A")
    assert seal["ca"] == "issuing-2"
    assert _aki(load(_cert_pem(cli, "issuing-2", seal["serial"], tmp_path / "seal.pem"))) == _ski(new_ca)
    assert _json(cli, "tsa", "setup")["ca"] == "issuing-2"
    assert _json(cli, "ocsp", "setup")["ca"] == "issuing-2"
    official = _json(cli, "official", "add", "--agency", "A", "--given-name-th", "สมศรี", "--surname-th", "ใจงาม",
                     "--given-name-en", "Somsri", "--surname-en", "Jaingam", "--title", "Registrar")["id"]
    pin = tmp_path / "pin"
    pin.write_text("246810\n")
    pin.chmod(0o600)
    cli("official", "enrol", str(official), "--pin-file", str(pin), "--no-qr")
    assert {c["profile"] for c in _json(cli, "cert", "list", "--ca", "issuing-2")} >= {"eseal", "tsa", "ocsp", "person"}
    assert {c["profile"] for c in _json(cli, "cert", "list", "--ca", "issuing")} == {"eseal", "ocsp"}
    # A retiring CA issues nothing but its own responders: a clear refusal.
    refused = cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
                  "--subject", SEAL, ok=False)
    assert refused.exit_code == 1 and "issuing is retiring" in refused.output and "successor" in refused.output

    # OLD's certificates still get signed OCSP answers, from OLD's responder; NEW's from NEW's.
    client = create_app(any_home).test_client()
    old_seal_cert = load(_cert_pem(cli, "issuing", old_seal["serial"], tmp_path / "old-seal.pem"))
    victim_cert = load(_cert_pem(cli, "issuing", victim, tmp_path / "victim.pem"))
    assert _ocsp(client, old_seal_cert, old_ca).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert _ocsp(client, load(tmp_path / "seal.pem"), new_ca).certificate_status is ocsp.OCSPCertStatus.GOOD
    # ... and appear on OLD's CRL when revoked (and as revoked over OCSP).
    cli("cert", "revoke", "--ca", "issuing", victim, "--reason", "keyCompromise")
    answer = _ocsp(client, victim_cert, old_ca)
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
    # The CRL the victim's CRL DP names (its partition, issue 13) is the one republished at once.
    cdp = victim_cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    path = urllib.parse.urlparse(cdp).path
    assert path.startswith("/crl/issuing/")
    crl = client.get(path)
    assert crl.status_code == 200
    (tmp_path / "old.crl").write_bytes(crl.data)
    text = run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "old.crl"), "-CAfile", str(old_pem),
                "-noout", "-text"])
    assert text.returncode == 0 and "verify OK" in text.stderr, text.stderr
    assert f"Serial Number: {victim}" in text.stdout and "Key Compromise" in text.stdout
    assert client.get("/certs/issuing.crt").data == old_ca.public_bytes(x509_encoding())
    # A retiring CA keeps publishing CRLs (`crl generate`) and renewing its responder (`ocsp renew`).
    before = _json(cli, "ca", "list")
    crl_number = next(c["crl_number"] for c in before if c["name"] == "issuing")
    assert _json(cli, "crl", "generate", "--ca", "issuing")["crl_number"] == crl_number + 1
    assert "issuing" in {c["ca"] for c in _json(cli, "crl", "refresh", "--max-age-hours", "0")}
    assert "issuing" in {r["ca"] for r in _json(cli, "ocsp", "renew", "--force")}

    # `openssl verify -x509_strict` accepts a certificate of each CA against the root, also with
    # both same-named CAs offered as intermediates (AKI/SKI pick the right one).
    _strict_verify(root_pem, old_pem, tmp_path / "old-seal.pem")
    _strict_verify(root_pem, new_pem, tmp_path / "seal.pem")
    both = tmp_path / "both.pem"
    both.write_bytes(old_pem.read_bytes() + new_pem.read_bytes())
    _strict_verify(root_pem, both, tmp_path / "old-seal.pem")
    _strict_verify(root_pem, both, tmp_path / "seal.pem")

    # One audited rollover, in an intact chain.
    [event] = [r for r in _json(cli, "audit", "list", "--action", "ca.rollover")]
    assert event["outcome"] == "success" and event["subject"] == "issuing"
    assert event["details"]["successor"] == "issuing-2" and event["details"]["state"] == "retiring"
    cli("audit", "verify")


def x509_encoding():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def _expire(home: Path, name: str) -> None:
    """Move one CA's notAfter into the past, in this test's own database (no clock to turn)."""
    from sqlalchemy import update

    from ca import Database
    from ca.storage.models import CaRow
    from cli.config import load_config

    db = Database(load_config(home).database_url)
    try:
        with db.unit_of_work() as s:
            s.execute(update(CaRow).where(CaRow.name == name)
                      .values(not_after=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)))
    finally:
        db.dispose()


def test_ca_list_shows_an_expired_ca_as_expired_and_an_expired_ca_is_not_rolled_over(any_home: Path) -> None:
    cli = create_hierarchy(Cli(any_home))
    cli("ca", "rollover", "--name", "issuing", "--new-name", "issuing-2")
    _expire(any_home, "issuing")       # a retiring CA whose last day has passed
    assert _states(cli) == {"root": "active", "issuing": "expired", "issuing-2": "active"}
    _expire(any_home, "issuing-2")     # an active one too
    assert _states(cli)["issuing-2"] == "expired"
    refused = cli("ca", "rollover", "--name", "issuing-2", "--new-name", "issuing-3", ok=False)
    assert refused.exit_code == 1 and "has expired" in refused.output
    assert "issuing-3" not in _states(cli)


def _snapshot(cli: Cli) -> dict:
    return {"cas": _json(cli, "ca", "list"), "certs": _json(cli, "cert", "list"), "keys": _json(cli, "hsm", "keys")}


@pytest.mark.parametrize("args, says", [
    (["--name", "nosuch", "--new-name", "x"], "unknown CA 'nosuch'"),
    (["--name", "root", "--new-name", "x"], "root is a root"),
    (["--name", "issuing", "--new-name", "x"], "retiring already"),
    (["--name", "issuing-2", "--new-name", "root"], "a CA named 'root' already exists"),
    (["--name", "issuing-2", "--new-name", "Bad Name"], "lower-case letters"),
    (["--name", "issuing-2", "--new-name", "x", "--subject", "CN=no slash"], "slash form"),
    (["--name", "issuing-2", "--new-name", "x", "--csr-out", "{tmp}/x.csr"], "no request (--csr-out) to write"),
], ids=["unknown", "root", "retiring", "taken-name", "bad-name", "bad-subject", "csr-out-with-parent-here"])
def test_rollover_refusals_change_nothing_and_are_audited(any_home: Path, tmp_path: Path, args: list[str],
                                                           says: str) -> None:
    cli = create_hierarchy(Cli(any_home))
    cli("ca", "rollover", "--name", "issuing", "--new-name", "issuing-2")  # issuing is now retiring
    before = _snapshot(cli)
    result = cli("ca", "rollover", *[a.format(tmp=tmp_path) for a in args], ok=False)
    assert result.exit_code == 1 and says in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _snapshot(cli) == before and not (tmp_path / "x.csr").exists()
    refusal = _json(cli, "audit", "list", "--action", "ca.rollover", "--limit", "1")[0]
    assert refusal["outcome"] == "refused" and says in refusal["details"]["error"]


def test_rollover_under_an_external_parent_requests_the_successor_and_its_import_retires_old(
        any_home: Path, tmp_path: Path) -> None:
    from external_helpers import external_issuing, make_standin_root

    cli = Cli(any_home)
    root = make_standin_root(tmp_path / "nrca", "http://nrca.example.com/root.crl")
    old_pem = external_issuing(cli, root, tmp_path / "out")      # `issuing`, under the external `nrca`
    assert _states(cli) == {"nrca": "external", "issuing": "active"}

    # Without a request file there is no way to the parent: refused, nothing changed.
    before = _snapshot(cli)
    refused = cli("ca", "rollover", "--name", "issuing", "--new-name", "issuing-2", ok=False)
    assert refused.exit_code == 1 and "nrca, is external" in refused.output and "--csr-out" in refused.output
    assert _snapshot(cli) == before

    csr = tmp_path / "issuing-2.csr"
    done = _json(cli, "ca", "rollover", "--name", "issuing", "--new-name", "issuing-2", "--csr-out", str(csr))
    assert done["new"]["state"] == "pending" and done["new"]["successor_of"] == "issuing"
    assert done["old"]["state"] == "active"                      # until the successor's certificate is imported
    request = x509.load_pem_x509_csr(csr.read_bytes())
    old_ca = load(old_pem)
    assert request.is_signature_valid and request.subject == old_ca.subject
    assert request.public_key() != old_ca.public_key()
    assert _states(cli) == {"nrca": "external", "issuing": "active", "issuing-2": "pending"}
    assert _json(cli, "tsa", "setup")["ca"] == "issuing"          # OLD still issues meanwhile
    again = cli("ca", "rollover", "--name", "issuing", "--new-name", "issuing-3", "--csr-out",
                str(tmp_path / "x.csr"), ok=False)
    assert again.exit_code == 1 and "successor waiting" in again.output and not (tmp_path / "x.csr").exists()

    new_pem = root.certify(csr, tmp_path / "issuing-2.pem")
    cli("ca", "import-certificate", "--name", "issuing-2", "--certificate", str(new_pem), "--chain", str(root.cert))
    assert _states(cli) == {"nrca": "external", "issuing": "retiring", "issuing-2": "active"}
    assert next(c for c in _json(cli, "ca", "list") if c["name"] == "issuing-2")["parent"] == "nrca"
    tsa = _json(cli, "tsa", "setup")
    assert tsa["ca"] == "issuing-2"
    leaf = _cert_pem(cli, "issuing-2", tsa["serial"], tmp_path / "tsa.pem")
    _strict_verify(root.cert, new_pem, leaf)
    refused = cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
                  "--subject", SEAL, ok=False)
    assert refused.exit_code == 1 and "retiring" in refused.output


def test_an_external_ca_issues_nothing_and_signs_no_crl(any_home: Path, tmp_path: Path) -> None:
    """The guards of ca/issuance.py and ca/revocation.py: an external CA's key is not here."""
    from external_helpers import external_issuing, make_standin_root

    cli = Cli(any_home)
    external_issuing(cli, make_standin_root(tmp_path / "nrca", "http://nrca.example.com/root.crl"), tmp_path / "out")
    before = _snapshot(cli)
    issued = cli("cert", "issue", "--ca", "nrca", "--profile", "eseal", "--generate-key", "ec-p256", "--subject",
                 SEAL, ok=False)
    assert issued.exit_code == 1 and "nrca is external" in issued.output
    crl = cli("crl", "generate", "--ca", "nrca", ok=False)
    assert crl.exit_code == 1 and "nrca is external" in crl.output
    rolled = cli("ca", "rollover", "--name", "nrca", "--new-name", "x", "--csr-out", str(tmp_path / "x.csr"), ok=False)
    assert rolled.exit_code == 1 and "nrca is a root" in rolled.output
    assert _snapshot(cli) == before
    assert [c["ca"] for c in _json(cli, "crl", "refresh", "--max-age-hours", "0")] == ["issuing"]


def test_when_the_successor_cannot_be_created_the_old_ca_stays_active(any_home: Path) -> None:
    """The issuing-CA profile refuses a P-256 key (docs/profile.md: CAs RSA 4096 or P-384): that
    refusal comes from creating NEW, after the rollover's own checks passed; OLD is untouched."""
    cli = create_hierarchy(Cli(any_home))
    cli("ocsp", "setup", "--ca", "issuing")
    before = _snapshot(cli)
    result = cli("ca", "rollover", "--name", "issuing", "--new-name", "issuing-2", "--key-type", "ec-p256", ok=False)
    assert result.exit_code == 1 and "ec-p256 key not allowed" in result.output, result.output
    assert _snapshot(cli) == before
    assert _states(cli) == {"root": "active", "issuing": "active"}
    failed = _json(cli, "audit", "list", "--action", "ca.rollover", "--limit", "1")[0]
    assert failed["outcome"] == "failed" and failed["details"]["successor"] == "issuing-2"
    assert _json(cli, "tsa", "setup")["ca"] == "issuing"


def test_after_rollover_a_b_lta_seal_by_new_with_old_tsa_validates_offline_and_on_the_verify_page(
        any_home: Path, tmp_path: Path) -> None:
    """The document's DSS then holds two issuing CAs with one DN (OLD for the TSA unit and its
    responder, NEW for the seal): path building must follow AKI/SKI (RFC 5280 4.2.1.1), not names."""
    import io

    from asn1crypto import pem
    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    from sealing_helpers import bearer, sample_pdf, setup_sealing

    cli = Cli(any_home)
    info = setup_sealing(cli, tmp_path)                      # TSA, seals and responders under `issuing`
    cli("ca", "rollover", "--name", "issuing", "--new-name", "issuing-2")
    seal = _json(cli, "agency", "seal", "issue", "--agency", "A")
    assert seal["ca"] == "issuing-2"
    client = create_app(any_home).test_client()
    r = client.post("/api/v1/sign", data={"file": (io.BytesIO(sample_pdf()), "doc.pdf", "application/pdf")},
                    headers=bearer(info["tokens"]["A"]), content_type="multipart/form-data")
    assert r.status_code == 200, r.data[:300]
    reader = PdfFileReader(io.BytesIO(r.data))
    signature, doc_ts = reader.embedded_signatures
    assert f"{signature.signer_cert.serial_number:X}".zfill(len(seal["serial"])) == seal["serial"]
    dss = DocumentSecurityStore.read_dss(reader)
    issuers = [c for c in dss.load_certs() if c.subject.native["common_name"] == "govca Test Issuing CA"]
    assert len({c.key_identifier for c in issuers}) == 2      # OLD and NEW, same DN
    root = ax509.Certificate.load(pem.unarmor(info["files"]["root"].read_bytes())[2])

    def offline():  # type: ignore[no-untyped-def]
        return dss.as_validation_context({"trust_roots": [root], "allow_fetching": False,
                                          "revocation_mode": "hard-fail"})

    status = validate_pdf_signature(signature, signer_validation_context=offline(), ts_validation_context=offline())
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert validate_pdf_timestamp(doc_ts, validation_context=offline()).trusted
    report = client.post("/api/v1/verify", data=r.data, content_type="application/pdf").json
    first = report["signatures"][0]
    assert first["verdict"] == "valid", first
    assert first["certificate"]["at_signing"] == "good" and first["certificate"]["today"] == "good", first
