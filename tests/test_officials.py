"""Issue 6, enrolment: officials with one HSM key and one person certificate each (ขมธอ. 36-2566
SRG_KM.11), a PIN kept as an HMAC made in the HSM and a TOTP seed encrypted under an AES key in the HSM."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import create_engine, text

from ca import Database
from cli.compose import service_token
from cli.config import load_config
from cli.signer_wiring import official_repository
from conftest import Cli, make_home, run, tool
from sealing_helpers import setup_sealing
from test_csc import wrong_otp
from signer.remote.officials import OfficialRepository, SecretBox


@pytest.fixture
def env(cli: Cli, tmp_path: Path) -> dict:
    info = setup_sealing(cli, tmp_path)
    pin = tmp_path / "pin"
    pin.write_text("246810\n")
    pin.chmod(0o600)
    added = json.loads(cli("official", "add", "--agency", "A", "--given-name-th", "สมศรี", "--surname-th",
                           "ใจงาม", "--given-name-en", "Somsri", "--surname-en", "Jaingam", "--title",
                           "Registrar", "--json").stdout)
    return {**info, "cli": cli, "pin_file": pin, "id": added["id"], "tmp": tmp_path}


def _repo(home: Path) -> OfficialRepository:
    cfg = load_config(home)
    db = Database(cfg.database_url)
    return official_repository(home, db, service_token(cfg))


def test_srg_km_11_enrol_makes_one_hsm_key_and_one_person_certificate_and_prints_the_totp_uri(env: dict) -> None:
    cli = env["cli"]
    out = cli("official", "enrol", str(env["id"]), "--pin-file", str(env["pin_file"])).stdout
    uri = re.search(r"otpauth://totp/\S+", out).group(0)
    seed = parse_qs(urlparse(uri).query)["secret"][0]
    assert "issuer=govca" in uri and len(seed) >= 32
    assert "█" in out or "▀" in out or "▄" in out  # the terminal QR code
    official = json.loads(cli("official", "list", "--json").stdout)[0]
    assert official["status"] == "active" and official["key_uri"].startswith("pkcs11:token=govca-service;object=person-")
    keys = [k for k in json.loads(cli("hsm", "keys", "--json").stdout) if k["label"].startswith("person-")]
    assert [k["object_class"] for k in keys].count("private") == 1
    assert all(k["sensitive"] and not k["extractable"] for k in keys if k["object_class"] == "private")
    pem = env["tmp"] / "official.pem"
    pem.write_text(cli("cert", "show", "--ca", "issuing", official["certificate_serial"], "--pem").stdout)
    r = run([tool("lint_etsi_cert"), "lint", "-t", "NCP-NATURAL-PERSON-CERTIFICATE", "-s", "ERROR", str(pem)])
    assert r.returncode == 0, r.stdout
    subject = run(["openssl", "x509", "-in", str(pem), "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus"]).stdout
    assert "CN=สมศรี ใจงาม" in subject and "serialNumber=GOVCA-OFFICIAL-" in subject
    # The factors: the PIN and the current TOTP of the enrolled seed, nothing else.
    repo, now = _repo(cli.home), dt.datetime.now(dt.timezone.utc)
    right = repo.check_factors(env["id"], "246810", pyotp.TOTP(seed).at(now), now)
    assert right.pin_ok and right.step == pyotp.TOTP(seed).timecode(now)
    assert not repo.check_factors(env["id"], "246811", pyotp.TOTP(seed).at(now), now).pin_ok
    assert repo.check_factors(env["id"], "246810", pyotp.TOTP(pyotp.random_base32()).at(now), now).step is None
    # SRG_KM.11: a second enrolment (a second key for the same official) is refused.
    again = cli("official", "enrol", str(env["id"]), "--pin-file", str(env["pin_file"]), ok=False)
    assert again.exit_code != 0 and "SRG_KM.11" in again.stderr


def test_totp_seed_is_encrypted_with_a_key_outside_the_database_and_the_pin_checked_with_an_hsm_key(env: dict) -> None:
    cli = env["cli"]
    out = cli("official", "enrol", str(env["id"]), "--pin-file", str(env["pin_file"]), "--no-qr").stdout
    seed = parse_qs(urlparse(re.search(r"otpauth://totp/\S+", out).group(0)).query)["secret"][0]
    engine = create_engine(load_config(cli.home).database_url)
    with engine.connect() as c:
        row = c.execute(text("SELECT totp_secret_enc, pin_hash FROM officials")).one()
    dump = b"".join(p.read_bytes() for p in cli.home.glob("govca.db*"))  # the database and its WAL
    assert seed.encode() not in bytes(row[0]) and seed.encode() not in dump and b"246810" not in dump
    # The PIN record is an HMAC made in the HSM (signer/pins.py): a secret key, sensitive and not
    # extractable, that the record is worthless without.
    assert row[1].startswith("hsm-hmac-sha256$govca-pin-mac-v1$")
    pin_keys = [k for k in json.loads(cli("hsm", "keys", "--json").stdout) if k["label"] == "govca-pin-mac-v1"]
    assert [(k["object_class"], k["sensitive"], k["extractable"]) for k in pin_keys] == [("secret", True, False)]
    # The seed is AES-256-GCM under the service token's AES key (hsm/aead.py); a data directory
    # made now has no server secret at all, and a server secret does not open the seed.
    assert bytes(row[0]).startswith(b"hsm-aes-gcm$govca-totp-aes-v1$")
    assert not (cli.home / "secrets" / "server.key").exists()
    assert seed not in json.dumps(json.loads(cli("audit", "list", "--limit", "200", "--json").stdout))
    SecretBox.create(env["tmp"] / "other.key")
    with pytest.raises(Exception):
        SecretBox(env["tmp"] / "other.key").open(bytes(row[0]), b"govca totp seed v1", str(env["id"]).encode())


def test_a_pin_record_verifies_only_with_the_hsm_key_that_made_it(env: dict, tmp_path: Path) -> None:
    """Copy the record into another installation (its own token, its own PIN key): the right PIN
    no longer verifies, so the database alone gives nothing to guess against."""
    env["cli"]("official", "enrol", str(env["id"]), "--pin-file", str(env["pin_file"]), "--no-qr")
    with create_engine(load_config(env["cli"].home).database_url).connect() as c:
        record = c.execute(text("SELECT pin_hash FROM officials")).scalar_one()
    here = _repo(env["cli"].home).pins
    assert here.verify(env["id"], "246810", record) and not here.verify(env["id"], "246811", record)
    assert not here.verify(env["id"] + 1, "246810", record)  # bound to the official too
    other_home = make_home(tmp_path / "other")
    other = _repo(other_home)
    from hsm.mac import mac_key
    from signer.pins import KEY_LABEL

    mac_key(service_token(load_config(other_home)), KEY_LABEL, create=True)
    assert not other.pins.verify(env["id"], "246810", record)
    assert not here.verify(env["id"], "246810", "scrypt$16384$8$1$c2FsdA==$ZGlnZXN0")  # no other scheme


def test_suspend_and_list(env: dict) -> None:
    cli = env["cli"]
    cli("official", "enrol", str(env["id"]), "--pin-file", str(env["pin_file"]), "--no-qr")
    assert "suspended" in cli("official", "suspend", str(env["id"])).stdout
    assert json.loads(cli("official", "list", "--json").stdout)[0]["status"] == "suspended"
    again = cli("official", "suspend", str(env["id"]), ok=False)
    assert again.exit_code != 0 and "already suspended" in again.stderr
    actions = [r["action"] for r in json.loads(cli("audit", "list", "--limit", "50", "--json").stdout)]
    assert {"official.add", "official.enrol", "official.suspend"} <= set(actions)


def test_pin_must_be_digits_and_the_pin_file_private(env: dict) -> None:
    bad = env["tmp"] / "bad"
    bad.write_text("abc\n")
    bad.chmod(0o600)
    r = env["cli"]("official", "enrol", str(env["id"]), "--pin-file", str(bad), ok=False)
    assert r.exit_code != 0 and "6 to 12 digits" in r.stderr
    env["pin_file"].chmod(0o644)
    r = env["cli"]("official", "enrol", str(env["id"]), "--pin-file", str(env["pin_file"]), ok=False)
    assert r.exit_code != 0 and "0600" in r.stderr


def test_five_wrong_otps_through_csc_lock_the_official_official_list_shows_it_and_unlock_lifts_it(env: dict) -> None:
    """Issue 10: after five wrong factors the CSC answer is "PIN locked"; `official list` says so
    (and until when), `official unlock` lifts it (audited, the PIN unchanged) and the official
    authorises again with the same PIN."""
    import base64
    import hashlib

    from cli.web import create_app

    cli = env["cli"]
    out = cli("official", "enrol", str(env["id"]), "--pin-file", str(env["pin_file"]), "--no-qr").stdout
    seed = parse_qs(urlparse(re.search(r"otpauth://totp/\S+", out).group(0)).query)["secret"][0]
    client = create_app(cli.home).test_client()
    h = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    totp = pyotp.TOTP(seed)

    def authorize(otp: str):  # type: ignore[no-untyped-def]
        return client.post("/csc/v1/credentials/authorize", json={
            "credentialID": f"official-{env['id']}", "numSignatures": 1, "hash": [h], "PIN": "246810", "OTP": otp},
            headers={"Authorization": f"Bearer {env['tokens']['A']}"})

    wrong = wrong_otp(seed)
    for _ in range(5):
        assert authorize(wrong).status_code == 400
    assert authorize(totp.at(dt.datetime.now(dt.timezone.utc))).json["error_description"] == "PIN locked"
    listed = json.loads(cli("official", "list", "--json").stdout)[0]
    assert listed["status"] == "active" and listed["locked"] is True and listed["locked_until"]
    assert "locked until" in cli("official", "list").stdout
    assert f"official {env['id']} unlocked" in cli("official", "unlock", str(env["id"])).stdout
    listed = json.loads(cli("official", "list", "--json").stdout)[0]
    assert (listed["locked"], listed["locked_until"], listed["failed_attempts"]) == (False, None, 0)
    record = next(r for r in json.loads(cli("audit", "list", "--limit", "50", "--json").stdout)
                  if r["action"] == "official.unlock")
    assert record["subject"] == f"official:{env['id']}" and record["details"]["previous_locked_until"] != "-"
    assert authorize(totp.at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30))).status_code == 200
    refused = cli("official", "unlock", str(env["id"]), ok=False)
    assert refused.exit_code == 1 and refused.stderr.startswith("govca: error: ") and "not locked" in refused.stderr
