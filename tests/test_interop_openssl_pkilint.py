"""Acceptance 1-3 of the PKI core, checked with tools nobody here wrote: openssl and pkilint."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Cli, run, tool

ROOT_SUBJECT = "/C=TH/O=Government CA of Thailand (Test)/CN=govca Test Root CA"
ISSUING_SUBJECT = "/C=TH/O=Government CA of Thailand (Test)/CN=govca Test Issuing CA"


def _openssl_csr(tmp: Path, subject: str, key_args: list[str]) -> Path:
    key, csr = tmp / "subject.key", tmp / "subject.csr"
    r = run(["openssl", "req", "-new", "-newkey", *key_args, "-nodes", "-keyout", str(key), "-out", str(csr),
             "-utf8", "-subj", subject, "-batch"])
    assert r.returncode == 0, r.stderr
    return csr


@pytest.fixture
def pki(cli: Cli, tmp_path: Path) -> dict[str, Path]:
    """RSA 4096 root, P-384 issuing CA, an e-seal from an OpenSSL-made CSR, and an HSM-key person cert."""
    cli("ca", "create-root", "--name", "root", "--subject", ROOT_SUBJECT, "--key-type", "rsa4096")
    cli("ca", "create-issuing", "--name", "issuing", "--parent", "root", "--subject", ISSUING_SUBJECT,
        "--key-type", "ec-p384")
    out = {"root": tmp_path / "root.pem", "issuing": tmp_path / "issuing.pem",
           "eseal": tmp_path / "eseal.pem", "person": tmp_path / "person.pem"}
    cli("ca", "export", "root", "--out", str(out["root"]))
    cli("ca", "export", "issuing", "--out", str(out["issuing"]))
    csr = _openssl_csr(tmp_path, "/C=TH/O=Department of Lands/CN=กรมที่ดิน/organizationIdentifier=NTRTH-0994000159889",
                       ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
    res = cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--csr", str(csr), "--out", str(out["eseal"]),
              "--json")
    out["eseal_serial"] = json.loads(res.stdout)["serial"]
    res = cli("cert", "issue", "--ca", "issuing", "--profile", "person", "--generate-key", "ec-p256", "--subject",
              "/C=TH/GN=สมหญิง/SN=รักชาติ/CN=สมหญิง รักชาติ/serialNumber=GOVCA-OFF-00042/O=Department of Lands",
              "--out", str(out["person"]), "--json")
    out["person_serial"] = json.loads(res.stdout)["serial"]
    return out


def _verify(pki: dict, cert: Path, *extra: str) -> "run":  # type: ignore[valid-type]
    return run(["openssl", "verify", "-x509_strict", *extra, "-CAfile", str(pki["root"]),
                "-untrusted", str(pki["issuing"]), str(cert)])


def test_acceptance1_chain_verifies_with_openssl_x509_strict(pki: dict) -> None:
    r = run(["openssl", "verify", "-x509_strict", "-CAfile", str(pki["root"]), str(pki["issuing"])])
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    for which in ("eseal", "person"):
        r = _verify(pki, pki[which])
        assert r.returncode == 0 and ": OK" in r.stdout, (which, r.stdout + r.stderr)


def test_rfc5280_4_1_2_6_thai_names_are_utf8string_and_country_printable(pki: dict) -> None:
    r = run(["openssl", "asn1parse", "-in", str(pki["eseal"])])
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    country = next(i for i, line in enumerate(lines) if "countryName" in line and i > 20)
    assert "PRINTABLESTRING" in lines[country + 1]
    cn = [i for i, line in enumerate(lines) if "commonName" in line][-1]
    assert "UTF8STRING" in lines[cn + 1]
    text = run(["openssl", "x509", "-in", str(pki["eseal"]), "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus"])
    assert "CN=กรมที่ดิน" in text.stdout and "organizationIdentifier=NTRTH-0994000159889" in text.stdout


def test_acceptance2_every_certificate_passes_pkilint_pkix(pki: dict) -> None:
    for which in ("root", "issuing", "eseal", "person"):
        r = run([tool("lint_pkix_cert"), "lint", "-s", "ERROR", str(pki[which])])
        assert r.returncode == 0, f"{which}: {r.stdout}{r.stderr}"
        assert "ERROR" not in r.stdout and "FATAL" not in r.stdout


@pytest.mark.parametrize("which,etsi_type", [("eseal", "NCP-LEGAL-PERSON-CERTIFICATE"),
                                             ("person", "NCP-NATURAL-PERSON-CERTIFICATE")])
def test_acceptance2_en_319_412_person_and_eseal_pass_pkilint_etsi(pki: dict, which: str, etsi_type: str) -> None:
    r = run([tool("lint_etsi_cert"), "lint", "-t", etsi_type, "-s", "ERROR", str(pki[which])])
    assert r.returncode == 0, f"{which}: {r.stdout}{r.stderr}"


def test_acceptance3_revoked_certificate_is_on_a_verifying_crl(pki: dict, cli: Cli, tmp_path: Path) -> None:
    cli("cert", "revoke", "--ca", "issuing", pki["eseal_serial"], "--reason", "keyCompromise")
    crl = tmp_path / "issuing.crl"
    cli("crl", "generate", "--ca", "issuing", "--out", str(crl))
    r = run(["openssl", "crl", "-inform", "DER", "-in", str(crl), "-CAfile", str(pki["issuing"]), "-noout", "-verify"])
    assert r.returncode == 0 and "verify OK" in (r.stdout + r.stderr), r.stdout + r.stderr
    text = run(["openssl", "crl", "-inform", "DER", "-in", str(crl), "-noout", "-text"]).stdout
    assert pki["eseal_serial"] in text.replace(":", "").upper()
    assert "Key Compromise" in text
    crl_pem = tmp_path / "issuing-crl.pem"
    assert run(["openssl", "crl", "-inform", "DER", "-in", str(crl), "-out", str(crl_pem)]).returncode == 0
    r = _verify(pki, pki["eseal"], "-crl_check", "-CRLfile", str(crl_pem))
    assert r.returncode != 0 and "certificate revoked" in (r.stdout + r.stderr), r.stdout + r.stderr
    # The person certificate, not revoked, still verifies against the same CRL.
    r = _verify(pki, pki["person"], "-crl_check", "-CRLfile", str(crl_pem))
    assert r.returncode == 0, r.stdout + r.stderr
    r = run([tool("lint_crl"), "lint", "-t", "CRL", "-p", "PKIX", "-s", "ERROR", str(crl)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_rfc5280_5_2_3_crl_numbers_increase_monotonically(hierarchy: Cli) -> None:
    numbers = [json.loads(hierarchy("crl", "generate", "--ca", "issuing", "--json").stdout)["crl_number"]
               for _ in range(3)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
