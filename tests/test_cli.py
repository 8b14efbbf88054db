"""The `govca` command as an administrator uses it: init, demo (twice), listings and --json."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from conftest import Cli


def test_demo_creates_the_hierarchy_and_reuses_it_when_run_again(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "demo")
    first = cli("demo").stdout
    assert "govca-root" in first and "govca-issuing" in first
    cas = json.loads(cli("ca", "list", "--json").stdout)
    assert [(c["name"], c["key_type"]) for c in cas] == [("govca-root", "rsa4096"), ("govca-issuing", "ec-p384")]
    certs = json.loads(cli("cert", "list", "--json").stdout)
    # One agency: its seal, its superseded (revoked) seal, the TSA, its official; all listed on the
    # first run, and the printed openssl commands check revocation (RFC 5280 6.3).
    assert sorted((c["profile"], c["status"]) for c in certs) == [
        ("eseal", "revoked"), ("eseal", "valid"), ("issuing-ca", "valid"), ("ocsp", "valid"), ("ocsp", "valid"),
        ("person", "valid"), ("tsa", "valid")]
    for c in certs:
        assert c["serial"] in first, c
    assert "Department of Demonstration Licensing" in first and "สมหญิง" in first and "สมชาย" not in first
    import shlex
    import subprocess
    checks = [line.strip() for line in first.splitlines() if line.strip().startswith("openssl verify")]
    assert len(checks) == 2, checks
    for line in checks:
        command, expected = line.split("    # ")
        out = subprocess.run(shlex.split(command), capture_output=True, text=True)
        if expected == "valid":
            assert out.returncode == 0 and ": OK" in out.stdout, out
        else:
            assert out.returncode != 0 and "certificate revoked" in out.stdout + out.stderr, out
    sealed = tmp_path / "demo" / "demo" / "e-license-sealed.pdf"
    assert sealed.read_bytes().startswith(b"%PDF-") and "curl" in first
    token = tmp_path / "demo" / "demo" / "apiclient.token"
    assert token.stat().st_mode & 0o777 == 0o600 and token.read_text().strip() not in first
    assert sorted(r["ca"] for r in json.loads(cli("ocsp", "list", "--json").stdout)) == ["govca-issuing", "govca-root"]
    demo_official_signs_through_csc(tmp_path / "demo", first)
    second = cli("demo").stdout
    assert "reusing data directory" in second
    assert json.loads(cli("cert", "list", "--json").stdout) == certs
    assert (tmp_path / "demo" / "demo" / "govca-issuing.crl").exists()
    assert "audit chain intact" in cli("audit", "verify").stdout


def demo_official_signs_through_csc(home: Path, printed: str) -> None:
    """The demo's official, with the PIN and TOTP from its 0600 files, authorises and signs a
    hash through /csc/v1 (ขมธอ. 36-2566 SCAL2); neither secret is printed."""
    import base64
    import hashlib

    import pyotp
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from cli.web import create_app

    pin_file, totp_file = home / "demo" / "official.pin", home / "demo" / "official.totp"
    assert pin_file.stat().st_mode & 0o777 == 0o600 and totp_file.stat().st_mode & 0o777 == 0o600
    pin, uri = pin_file.read_text().strip(), totp_file.read_text().strip()
    assert pin not in printed and uri not in printed and "credential official-1" in printed
    client = create_app(home).test_client()
    bearer = {"Authorization": f"Bearer {(home / 'demo' / 'apiclient.token').read_text().strip()}"}
    digest = hashlib.sha256(b"demo").digest()
    b64 = [base64.b64encode(digest).decode()]
    auth = client.post("/csc/v1/credentials/authorize", headers=bearer, json={
        "credentialID": "official-1", "numSignatures": 1, "hash": b64, "PIN": pin, "OTP": pyotp.parse_uri(uri).now()})
    assert auth.status_code == 200, auth.json
    signed = client.post("/csc/v1/signatures/signHash", headers=bearer, json={
        "credentialID": "official-1", "SAD": auth.json["SAD"], "hash": b64, "hashAlgo": "2.16.840.1.101.3.4.2.1",
        "signAlgo": "1.2.840.10045.4.3.2"})
    assert signed.status_code == 200, signed.json
    info = client.post("/csc/v1/credentials/info", headers=bearer, json={"credentialID": "official-1"}).json
    cert = x509.load_der_x509_certificate(base64.b64decode(info["cert"]["certificates"][0]))
    cert.public_key().verify(base64.b64decode(signed.json["signatures"][0]), digest,  # type: ignore[call-arg]
                             ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_init_refuses_an_existing_data_directory_and_writes_no_pin_into_config(home: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(home), "init"])
    assert result.exit_code != 0 and "already a govca data directory" in result.output
    config = (home / "govca.toml").read_text()
    for pin_file in ("ca.pin", "ca.so.pin", "service.pin", "service.so.pin"):
        pin = (home / "hsm" / pin_file).read_text().strip()
        assert pin not in config and (home / "hsm" / pin_file).stat().st_mode & 0o777 == 0o600
    assert "pin_source = \"file:hsm/ca.pin\"" in config and "pin_source = \"file:hsm/service.pin\"" in config
    assert "PLACEHOLDER" in config


def test_commands_without_a_data_directory_fail_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "none"), "ca", "list"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"govca: error: {tmp_path / 'none'} is not a govca data directory "
                                     "(no govca.toml); run `govca init` first")


def test_listings_show_serials_in_hex_and_json_fields(hierarchy: Cli, tmp_path: Path) -> None:
    issued = json.loads(hierarchy("cert", "issue", "--ca", "issuing", "--profile", "person", "--generate-key",
                                  "ec-p256", "--subject", "/C=TH/GN=ก/SN=ข/CN=ก ข/serialNumber=PNOTH-1234567890123",
                                  "--json").stdout)
    serial = issued["serial"]
    assert int(serial, 16) > 2**64 and serial == serial.upper()
    assert issued["key_uri"].startswith("pkcs11:token=govca-service;object=person-")
    text = hierarchy("cert", "list", "--ca", "issuing", "--status", "valid").stdout
    assert serial in text
    shown = json.loads(hierarchy("cert", "show", "--ca", "issuing", serial.lower(), "--json").stdout)
    assert shown["subject"] == "/C=TH/GN=ก/SN=ข/CN=ก ข/serialNumber=PNOTH-1234567890123"
    pem = hierarchy("cert", "show", "--ca", "issuing", serial, "--pem").stdout
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    der = tmp_path / "root.der"
    hierarchy("ca", "export", "root", "--der", "--out", str(der))
    assert der.read_bytes()[0] == 0x30
    profiles = json.loads(hierarchy("profiles", "list", "--json").stdout)
    assert {p["name"] for p in profiles} >= {"root-ca", "issuing-ca", "person", "eseal", "ocsp", "tsa"}
    eseal = json.loads(hierarchy("profiles", "show", "eseal", "--json").stdout)
    assert eseal["subject_patterns"]["patterns"] == [["organizationIdentifier", "^NTRTH-[0-9]{13}$"]]


def test_crl_refresh_reissues_only_stale_crls(hierarchy: Cli) -> None:
    assert "every CRL is fresh" in hierarchy("crl", "refresh").stdout
    out = json.loads(hierarchy("crl", "refresh", "--max-age-hours", "0", "--json").stdout)
    assert sorted(c["ca"] for c in out) == ["issuing", "root"]
    assert all(c["crl_number"] == 2 for c in out)  # number 1 was published when each CA was created
