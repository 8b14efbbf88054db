"""Signed audit checkpoints (issue 13, acceptance 3; docs/audit.md).

Each test tampers with its own database as an operator with database access would (SQL on the
tables), on SQLite and PostgreSQL, and runs `govca audit verify` as the auditor would."""
from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text

from ca.audit import AuditEvent, record_hash
from ca.audit_checkpoints import KEY_FILE, KEY_LABEL, message
from cli.config import load_config

from conftest import Cli, create_hierarchy, make_home

SEAL = "/C=TH/O=Agency/CN=หน่วยงาน/organizationIdentifier=NTRTH-0994000000001"


def _sql(home: Path, *statements: str, **params: object) -> list:
    engine = create_engine(load_config(home).database_url)
    try:
        with engine.begin() as c:
            out = [c.execute(text(s), params) for s in statements]
            return [r.all() if r.returns_rows else None for r in out]
    finally:
        engine.dispose()


def _checkpoints_in_db(home: Path) -> list[int]:
    return [r[0] for r in _sql(home, "SELECT seq FROM audit_checkpoints ORDER BY seq")[0]]


def _export(home: Path) -> Path:
    return home / "audit" / "checkpoints"


def _exported(home: Path) -> list[int]:
    return sorted(int(p.name[11:23]) for p in _export(home).glob("checkpoint-*.json"))


def _head(home: Path) -> int:
    return _sql(home, "SELECT last_seq FROM audit_head")[0][0][0]


def _issue(cli: Cli) -> str:
    return json.loads(cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
                          "--subject", SEAL, "--json").stdout)["serial"]


def _refused(cli: Cli, result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("govca: error:"), result.stderr
    return lines[0]


def _truncate(home: Path, keep: int) -> None:
    """Delete every audit record after ``keep`` and make the head row name record ``keep``."""
    last_hash = _sql(home, "SELECT hash FROM audit_log WHERE seq = :keep", keep=keep)[0][0][0]
    _sql(home, "DELETE FROM audit_log WHERE seq > :keep",
         "UPDATE audit_head SET last_seq = :keep, last_hash = :h WHERE id = 1", keep=keep, h=last_hash)


@pytest.fixture
def audited(tmp_path: Path, database_url: str | None) -> Cli:
    """A hierarchy and two issued certificates: each command checkpointed by the CLI."""
    cli = Cli(make_home(tmp_path, database_url))
    create_hierarchy(cli)
    _issue(cli)
    _issue(cli)
    return cli


# --- acceptance 3 ------------------------------------------------------------------------------
def test_acceptance3_truncation_behind_the_newest_checkpoint_is_named(audited: Cli) -> None:
    home = audited.home
    newest = _checkpoints_in_db(home)[-1]
    assert newest == _head(home) and _exported(home)[-1] == newest
    assert json.loads(audited("audit", "verify", "--json").stdout)["newest_checkpoint"] == newest
    keep = newest - 3
    _truncate(home, keep)  # the attacker also fixes the head row: the unsigned chain alone is intact
    line = _refused(audited, audited("audit", "verify", ok=False))
    assert f"audit record {keep + 1} and after are missing" in line
    assert f"behind checkpoint {newest} " in line and "the newest checkpoint the log no longer reaches" in line


def test_acceptance3_an_edited_record_is_named_as_before(audited: Cli) -> None:
    _sql(audited.home, "UPDATE audit_log SET subject = 'someone else' WHERE seq = 3")
    assert "audit record 3 was altered" in _refused(audited, audited("audit", "verify", ok=False))


def test_acceptance3_an_edited_record_with_the_chain_rebuilt_is_caught_by_the_checkpoint(audited: Cli) -> None:
    """The chain's hashes are unkeyed: the attacker edits record 2 and recomputes every hash after
    it and the head row. The first signed checkpoint at or after record 2 no longer matches."""
    from sqlalchemy import select, update

    from ca.storage.db import Database
    from ca.storage.models import AuditHeadRow, AuditRow

    home = audited.home
    db = Database(load_config(home).database_url)
    with db.unit_of_work() as s:
        prev = "0" * 64
        for row in s.execute(select(AuditRow).order_by(AuditRow.seq)).scalars().all():
            subject = "rewritten" if row.seq == 2 else row.subject
            digest = record_hash(prev, row.seq, row.time,
                                 AuditEvent(row.actor, row.action, subject, row.outcome, json.loads(row.details)))
            s.execute(update(AuditRow).where(AuditRow.seq == row.seq).values(subject=subject, prev_hash=prev,
                                                                            hash=digest))
            prev = digest
        s.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(last_hash=prev))
    db.dispose()
    first = _checkpoints_in_db(home)[0]
    line = _refused(audited, audited("audit", "verify", ok=False))
    assert f"audit record {first} is not the record checkpoint {first} signed" in line, line


@pytest.mark.parametrize("where", ["database", "export"])
def test_acceptance3_a_forged_checkpoint_is_rejected_naming_it(audited: Cli, where: str) -> None:
    home = audited.home
    target = _checkpoints_in_db(home)[-1]
    forged = "ab" * 32  # claims another hash for the record, keeping the old signature
    if where == "database":
        _sql(home, "UPDATE audit_checkpoints SET hash = :h WHERE seq = :q", h=forged, q=target)
        named = f"checkpoint {target} in the database has a bad signature"
    else:
        path = _export(home) / f"checkpoint-{target:012d}.json"
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**data, "hash": forged}))
        named = f"checkpoint {target} in {_export(home)} has a bad signature"
    assert named in _refused(audited, audited("audit", "verify", ok=False))


def test_a_checkpoint_signed_by_another_key_is_refused(audited: Cli) -> None:
    """Someone with a key of their own signs a checkpoint and names that key: not the pinned key."""
    home = audited.home
    seq, digest = _sql(home, "SELECT last_seq, last_hash FROM audit_head")[0][0]
    own = ec.generate_private_key(ec.SECP384R1())  # test input: the attacker's software key
    spki = own.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    import datetime as dt
    import hashlib

    time = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.timezone.utc)
    _sql(home, "DELETE FROM audit_checkpoints WHERE seq = :q", q=seq)
    (_export(home) / f"checkpoint-{seq:012d}.json").unlink()
    _sql(home, "INSERT INTO audit_checkpoints (seq, hash, time, key_sha256, signature) VALUES (:q, :h, :t, :k, :s)",
         q=seq, h=digest, t=time, k=hashlib.sha256(spki).hexdigest(),
         s=own.sign(message(seq, digest, time), ec.ECDSA(hashes.SHA384())))
    line = _refused(audited, audited("audit", "verify", ok=False))
    assert f"checkpoint {seq} in the database names another key" in line, line


def test_acceptance3_deleting_the_checkpoints_from_the_database_is_caught_by_the_exported_ones(audited: Cli) -> None:
    home = audited.home
    newest = _checkpoints_in_db(home)[-1]
    _sql(home, "DELETE FROM audit_checkpoints")
    assert f"checkpoint {_exported(home)[0]} of {_export(home)} is missing from the database" in \
        _refused(audited, audited("audit", "verify", ok=False))
    _truncate(home, newest - 2)
    assert f"behind checkpoint {newest} " in _refused(audited, audited("audit", "verify", ok=False))
    for exported in _export(home).glob("checkpoint-*.json"):  # the export directory wiped as well: still refused
        exported.unlink()
    assert "pins an audit key but neither the database nor" in _refused(audited, audited("audit", "verify", ok=False))


# --- when checkpoints are written ----------------------------------------------------------------
def test_a_ca_command_writes_a_checkpoint_a_read_only_one_does_not(audited: Cli) -> None:
    home = audited.home
    before = _checkpoints_in_db(home)
    serial = _issue(audited)
    after = _checkpoints_in_db(home)
    assert after == before + [_head(home)] and _exported(home) == after
    for read_only in (["ca", "list"], ["cert", "show", "--ca", "issuing", serial], ["audit", "verify"],
                      ["audit", "list"]):
        audited(*read_only)
    assert _checkpoints_in_db(home) == after and _head(home) == after[-1]


def test_audit_checkpoint_signs_the_head_once(audited: Cli) -> None:
    home = audited.home
    # A refused command appends its record; a failing command does not checkpoint (its error stays one line).
    _refused(audited, audited("cert", "revoke", "--ca", "issuing", "DEADBEEF", "--reason", "keyCompromise", ok=False))
    head = _head(home)
    assert _checkpoints_in_db(home)[-1] < head
    made = json.loads(audited("audit", "checkpoint", "--json").stdout)
    assert made["seq"] == head and made["new"] is True and Path(made["file"]).exists()
    again = json.loads(audited("audit", "checkpoint", "--json").stdout)
    assert again["seq"] == head and again["new"] is False
    assert _checkpoints_in_db(home)[-1] == head == _head(home)


def test_a_command_whose_checkpoint_cannot_be_written_still_succeeds_with_a_warning(audited: Cli) -> None:
    home = audited.home
    before = _checkpoints_in_db(home)
    pin = home / "hsm" / "ca.pin"
    aside = pin.with_name("ca.pin.aside")
    pin.rename(aside)
    try:
        r = audited("agency", "add", "--code", "B", "--name-th", "กรมบัญชีกลาง", "--name-en", "Comptroller General",
                    "--juristic-id", "0994000164882")
    finally:
        aside.rename(pin)
    assert r.exit_code == 0
    warning = r.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: audit checkpoint not written"), r.stderr
    assert str(pin) in warning[0] and "govca audit checkpoint" in warning[0]
    assert _checkpoints_in_db(home) == before and _head(home) > before[-1]
    assert json.loads(audited("audit", "checkpoint", "--json").stdout)["seq"] == _head(home)  # the next one covers it


# --- incremental verification ---------------------------------------------------------------------
def test_verify_from_a_checkpoint_reads_only_the_records_after_it_and_catches_an_edit_there(audited: Cli) -> None:
    home = audited.home
    anchor = _checkpoints_in_db(home)[1]
    _issue(audited)
    last = _head(home)
    full = json.loads(audited("audit", "verify", "--json").stdout)
    assert full["rows_read"] == full["records"] == last
    inc = json.loads(audited("audit", "verify", "--from", str(anchor), "--json").stdout)
    assert inc["from"] == anchor and inc["records"] == last - anchor
    assert inc["rows_read"] == last - anchor + 1  # the anchor's own record, then only those after it
    by_file = json.loads(audited("audit", "verify", "--from", str(_export(home) / f"checkpoint-{anchor:012d}.json"),
                                 "--json").stdout)
    assert by_file["rows_read"] == inc["rows_read"]
    _sql(home, "UPDATE audit_log SET outcome = 'refused' WHERE seq = :q", q=anchor + 2)
    assert f"audit record {anchor + 2} was altered" in \
        _refused(audited, audited("audit", "verify", "--from", str(anchor), ok=False))


def test_verify_from_a_forged_or_unreached_checkpoint_is_refused(audited: Cli, tmp_path: Path) -> None:
    home = audited.home
    anchor = _checkpoints_in_db(home)[-1]
    source = _export(home) / f"checkpoint-{anchor:012d}.json"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**json.loads(source.read_text()), "time": "2026-12-06T00:00:00.000000Z"}))
    assert f"checkpoint {anchor} in --from has a bad signature" in \
        _refused(audited, audited("audit", "verify", "--from", str(forged), ok=False))
    _truncate(home, anchor - 1)
    assert f"audit record {anchor}, which the trusted checkpoint {anchor} signed, is missing" in \
        _refused(audited, audited("audit", "verify", "--from", str(source), ok=False))


# --- the key and the exported form ----------------------------------------------------------------
def test_the_audit_key_is_in_the_ca_token_sensitive_and_not_extractable(audited: Cli) -> None:
    keys = [k for k in json.loads(audited("hsm", "keys", "--json").stdout) if k["label"] == KEY_LABEL]
    private = [k for k in keys if k["object_class"] == "private"]
    assert [k["token"] for k in private] == ["govca-ca"]
    assert private[0]["sensitive"] is True and private[0]["extractable"] is False
    again = json.loads(audited("audit", "init-key", "--json").stdout)
    assert again["created"] is False and Path(again["public_key"]) == _export(audited.home) / KEY_FILE


def test_an_exported_checkpoint_verifies_with_openssl_and_the_exported_public_key(audited: Cli,
                                                                                  tmp_path: Path) -> None:
    """An auditor without the HSM or govca: the documented message, the signature, the PEM key."""
    home = audited.home
    data = json.loads((_export(home) / f"checkpoint-{_head(home):012d}.json").read_text())
    msg = f"govca-audit-checkpoint-v1\n{data['seq']}\n{data['hash']}\n{data['time']}\n".encode()
    (tmp_path / "msg").write_bytes(msg)
    (tmp_path / "sig").write_bytes(base64.b64decode(data["signature"]))
    r = subprocess.run(["openssl", "dgst", "-sha384", "-verify", str(_export(home) / KEY_FILE), "-signature",
                        str(tmp_path / "sig"), str(tmp_path / "msg")], capture_output=True, text=True)
    assert r.returncode == 0 and "Verified OK" in r.stdout, r.stdout + r.stderr
    (tmp_path / "msg").write_bytes(msg.replace(b"govca-audit-checkpoint-v1", b"govca-audit-checkpoint-v2"))
    r = subprocess.run(["openssl", "dgst", "-sha384", "-verify", str(_export(home) / KEY_FILE), "-signature",
                        str(tmp_path / "sig"), str(tmp_path / "msg")], capture_output=True, text=True)
    assert r.returncode != 0  # domain separation: the first line is part of what is signed


def test_another_audit_key_in_the_export_directory_is_refused_not_overwritten(tmp_path: Path) -> None:
    """Rotation is not supported: the first checkpoint pins the key; a checkpoint with another one is refused."""
    outside = tmp_path / "worm"
    home = make_home(tmp_path)
    cfg = home / "govca.toml"
    cfg.write_text(cfg.read_text().replace('checkpoint_dir = "audit/checkpoints"', f'checkpoint_dir = "{outside}"'))
    cli = Cli(home)
    other = ec.generate_private_key(ec.SECP384R1()).public_key()  # test input: a key not in the token
    outside.mkdir()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (outside / KEY_FILE).write_bytes(pem)
    r = cli("audit", "init-key", ok=False)
    assert "audit key rotation is not supported" in _refused(cli, r)
    assert (outside / KEY_FILE).read_bytes() == pem
    (outside / KEY_FILE).unlink()
    create_hierarchy(cli)  # an absolute checkpoint_dir is used as given
    assert _exported(home) == [] and len(list(outside.glob("checkpoint-*.json"))) == 2


def test_before_any_checkpoint_verify_passes_and_says_what_it_cannot_detect(tmp_path: Path,
                                                                           database_url: str | None) -> None:
    cli = Cli(make_home(tmp_path, database_url))
    out = cli("audit", "verify").stdout
    assert "no signed checkpoint yet" in out and "cannot be detected" in out
    assert json.loads(cli("audit", "verify", "--json").stdout)["newest_checkpoint"] is None


def test_an_unreadable_checkpoint_file_is_named(audited: Cli) -> None:
    home = audited.home
    path = _export(home) / f"checkpoint-{_checkpoints_in_db(home)[-1]:012d}.json"
    path.write_text('{"format": "govca-audit-checkpoint-v1", "seq": "1"}')
    assert f"{path} is not a govca audit checkpoint" in _refused(audited, audited("audit", "verify", ok=False))


def test_the_audit_table_of_govca_toml_is_strict(tmp_path: Path) -> None:
    from cli.config import ConfigError

    home = make_home(tmp_path)
    cfg = home / "govca.toml"
    assert load_config(home).audit.checkpoint_dir == str(home / "audit" / "checkpoints")
    base = cfg.read_text()
    for bad in ("checkpoint_dir = 3", 'checkpoint_dir = ""', "retention = 1"):
        cfg.write_text(base.replace('checkpoint_dir = "audit/checkpoints"', bad))
        with pytest.raises(ConfigError, match="audit"):
            load_config(home)
