"""Acceptance 4 (key custody) and 6 (bad input changes nothing but the audit log)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import create_engine, text

from conftest import Cli


def test_acceptance4_private_keys_are_sensitive_non_extractable_and_no_key_file_exists(hierarchy: Cli) -> None:
    hierarchy("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256", "--subject",
              "/C=TH/O=Agency/CN=หน่วยงาน/organizationIdentifier=NTRTH-0994000000001")
    objects = json.loads(hierarchy("hsm", "keys", "--json").stdout)
    private = [o for o in objects if o["object_class"] == "private"]
    assert len(private) == 4  # root, issuing CA, e-seal, and the audit checkpoint key (docs/audit.md)
    # Issue 11 custody by context: CA keys in the CA token, the e-seal's key in the service token.
    assert sorted((o["token"], o["label"].split("-")[0]) for o in private) == [
        ("govca-ca", "govca"), ("govca-ca", "issuing"), ("govca-ca", "root"), ("govca-service", "eseal")]
    assert [o["label"] for o in private if o["label"].startswith("govca-")] == ["govca-audit-checkpoint-v1"]
    for o in private:
        assert o["sensitive"] is True and o["extractable"] is False, o
    # No file in the data directory, outside SoftHSM's encrypted object store, holds a private key.
    home = hierarchy.home
    tokens = home / "hsm" / "tokens"
    for path in home.rglob("*"):
        if not path.is_file() or tokens in path.parents:
            continue
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data, path
        for loader in (serialization.load_der_private_key, serialization.load_pem_private_key):
            with pytest.raises((ValueError, TypeError)):
                loader(data, None)


def _csr(key, subject: str = "Agency") -> bytes:  # type: ignore[no-untyped-def]
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, subject)])
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM)


def _state(home: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{home / 'govca.db'}")
    with engine.connect() as c:
        out = {t: c.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
               for t in ("cas", "certificates", "serials", "crls", "audit_log")}
        out["revoked"] = c.execute(text("SELECT COUNT(*) FROM certificates WHERE status='revoked'")).scalar_one()
    engine.dispose()
    return out


SEAL_SUBJECT = "/C=TH/O=Agency/CN=หน่วยงาน/organizationIdentifier=NTRTH-0994000000001"


def _bad_signature_csr() -> bytes:
    der = bytearray(x509.load_pem_x509_csr(_csr(ec.generate_private_key(ec.SECP256R1()))).public_bytes(
        serialization.Encoding.DER))
    der[-3] ^= 0x01  # flip a bit inside the signature value
    return bytes(der)


BAD_INPUTS = {
    "malformed CSR": (lambda: b"-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n",
                      "malformed CSR"),
    "CSR with a bad signature": (_bad_signature_csr, "signature"),
    "RSA 1024 key": (lambda: _csr(rsa.generate_private_key(65537, 1024)), "rsa1024 key not allowed"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_acceptance6_bad_csr_is_refused_and_changes_nothing_but_audit(hierarchy: Cli, tmp_path: Path,
                                                                      case: str) -> None:
    make, expected = BAD_INPUTS[case]
    csr = tmp_path / "bad.csr"
    csr.write_bytes(make())
    before = _state(hierarchy.home)
    r = hierarchy("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--csr", str(csr), "--subject",
                  SEAL_SUBJECT, ok=False)
    assert r.exit_code != 0
    assert r.stderr.startswith("govca: error:") and expected in r.stderr and len(r.stderr.strip().splitlines()) == 1
    after = _state(hierarchy.home)
    assert after["audit_log"] == before["audit_log"] + 1
    assert {k: v for k, v in after.items() if k != "audit_log"} == {k: v for k, v in before.items() if k != "audit_log"}
    last = json.loads(hierarchy("audit", "list", "--limit", "1", "--json").stdout)[0]
    assert last["outcome"] == "refused" and last["action"] == "cert.issue"


def _issue_seal(cli: Cli) -> str:
    return json.loads(cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
                          "--subject", SEAL_SUBJECT, "--json").stdout)["serial"]


@pytest.mark.parametrize("args,expected", [
    (["cert", "issue", "--ca", "issuing", "--profile", "nosuch", "--generate-key", "ec-p256", "--subject",
      SEAL_SUBJECT], "unknown profile 'nosuch'"),
    (["cert", "issue", "--ca", "nosuch", "--profile", "eseal", "--generate-key", "ec-p256", "--subject",
      SEAL_SUBJECT], "unknown CA 'nosuch'"),
    (["cert", "revoke", "--ca", "issuing", "0123456789ABCDEF", "--reason", "keyCompromise"],
     "issued no certificate with serial 0123456789ABCDEF"),
    (["cert", "revoke", "--ca", "issuing", "not-hex", "--reason", "keyCompromise"], "not hexadecimal"),
    (["cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256", "--subject",
      "/C=TH/O=Agency/CN=x/organizationIdentifier=TIN-123"], "does not match ^NTRTH-[0-9]{13}$"),
    (["cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "rsa2048", "--subject",
      "/C=TH/O=Agency/CN=x"], "subject lacks organizationIdentifier"),
    (["cert", "issue", "--ca", "root", "--profile", "eseal", "--generate-key", "ec-p256", "--subject",
      SEAL_SUBJECT], "may not issue eseal"),
])
def test_acceptance6_unknown_names_and_subjects_are_refused_and_change_nothing(hierarchy: Cli, args: list[str],
                                                                               expected: str) -> None:
    before = _state(hierarchy.home)
    keys_before = hierarchy("hsm", "keys", "--json").stdout
    r = hierarchy(*args, ok=False)
    assert r.exit_code != 0 and expected in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    after = _state(hierarchy.home)
    assert after["audit_log"] == before["audit_log"] + 1
    assert {k: v for k, v in after.items() if k != "audit_log"} == {k: v for k, v in before.items() if k != "audit_log"}
    assert hierarchy("hsm", "keys", "--json").stdout == keys_before  # no orphan key generated


def test_acceptance6_revoking_twice_is_refused_and_changes_nothing(hierarchy: Cli) -> None:
    serial = _issue_seal(hierarchy)
    hierarchy("cert", "revoke", "--ca", "issuing", serial, "--reason", "superseded")
    before = _state(hierarchy.home)
    r = hierarchy("cert", "revoke", "--ca", "issuing", serial.lower(), "--reason", "keyCompromise", ok=False)
    assert r.exit_code != 0 and "already revoked (superseded" in r.stderr
    after = _state(hierarchy.home)
    assert after["audit_log"] == before["audit_log"] + 1 and after["crls"] == before["crls"]
    shown = json.loads(hierarchy("cert", "show", "--ca", "issuing", serial, "--json").stdout)
    assert shown["revocation_reason"] == "superseded"


def test_rfc5280_5_3_1_unknown_revocation_reason_is_refused(hierarchy: Cli) -> None:
    serial = _issue_seal(hierarchy)
    r = hierarchy("cert", "revoke", "--ca", "issuing", serial, "--reason", "bored", ok=False)
    assert r.exit_code != 0 and "RFC 5280 5.3.1" in r.stderr
    assert json.loads(hierarchy("cert", "show", "--ca", "issuing", serial, "--json").stdout)["status"] == "valid"


def test_subject_must_be_slash_form_and_the_refusal_is_audited(hierarchy: Cli) -> None:
    before = _state(hierarchy.home)
    r = hierarchy("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
                  "--subject", "CN=x,O=y", ok=False)
    assert r.exit_code != 0 and "slash form" in r.stderr
    assert _state(hierarchy.home)["audit_log"] == before["audit_log"] + 1


def test_sqlite_database_and_its_wal_and_shm_files_are_mode_0600(hierarchy: Cli) -> None:
    """The database holds the audit log and the records of API secrets and PINs: only the
    service's own user may read it, and SQLite's -wal/-shm files take the database file's mode."""
    import os
    import stat

    from ca.storage.db import Database

    db_file = hierarchy.home / "govca.db"
    db = Database(f"sqlite:///{db_file}")
    with db.unit_of_work() as s:  # a write in WAL mode: -wal and -shm exist while a connection is open
        s.execute(text("SELECT 1"))
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM audit_log")
        files = [p for p in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")) if p.exists()]
        assert len(files) == 3, files
        for path in files:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, (path, oct(os.stat(path).st_mode))
    db.dispose()
    # An existing database left readable by others (an older install) is tightened when opened.
    os.chmod(db_file, 0o644)
    Database(f"sqlite:///{db_file}").dispose()
    assert stat.S_IMODE(os.stat(db_file).st_mode) == 0o600
