"""Acceptance 5 (concurrent issuance), 7 (failure after signing) and 8 (tamper-evident audit),
on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import create_engine, text

from ca import CaError
from hsm import KeyType
from cli.compose import build_ca_service
from cli.config import load_config
from conftest import REPO, Cli

SEAL = "/C=TH/O=Agency/CN=หน่วยงาน/organizationIdentifier=NTRTH-0994000000001"


def _engine(home: Path):  # type: ignore[no-untyped-def]
    return create_engine(load_config(home).database_url)


def _hierarchy(home: Path) -> Cli:
    cli = Cli(home)
    cli("ca", "create-root", "--name", "root", "--subject", "/C=TH/O=T/CN=Root", "--key-type", "ec-p384")
    cli("ca", "create-issuing", "--name", "issuing", "--parent", "root", "--subject", "/C=TH/O=T/CN=Issuing",
        "--key-type", "ec-p384")
    return cli


@pytest.mark.slow
def test_acceptance5_two_processes_issue_500_distinct_serials(any_home: Path, tmp_path: Path) -> None:
    cli = _hierarchy(any_home)
    start = tmp_path / "start"
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}
    workers = [subprocess.Popen([sys.executable, str(REPO / "tests" / "issue_worker.py"), str(any_home), "250",
                                 str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    start.touch()
    outputs = [w.communicate(timeout=600) for w in workers]
    for w, (_, err) in zip(workers, outputs):
        assert w.returncode == 0, err
    serials = [s for out, _ in outputs for s in out.split()]
    assert len(serials) == 500 and len(set(serials)) == 500
    with _engine(any_home).connect() as c:
        stored = {r[0] for r in c.execute(text("SELECT serial_hex FROM certificates WHERE profile='eseal'"))}
        states = dict(c.execute(text("SELECT state, COUNT(*) FROM serials GROUP BY state")).all())
    assert stored == set(serials)
    assert states == {"issued": 502}  # 500 seals + the two CA certificates
    assert "audit chain intact" in cli("audit", "verify").stdout


def test_acceptance7_failure_after_hsm_signature_burns_the_serial_with_its_certificate(any_home: Path) -> None:
    _hierarchy(any_home)
    svc = build_ca_service(any_home)

    def crash(der: bytes) -> None:
        raise RuntimeError("injected failure between HSM signature and store")

    svc.ctx.after_sign = crash
    with pytest.raises(RuntimeError, match="injected failure"):
        svc.issue(ca_name="issuing", profile_name="eseal", actor="test", generate=KeyType.EC_P256, subject=SEAL)
    with _engine(any_home).connect() as c:
        burned = c.execute(text("SELECT serial_hex, certificate, reason FROM serials WHERE state='burned'")).all()
        stored = c.execute(text("SELECT COUNT(*) FROM certificates WHERE profile='eseal'")).scalar_one()
    assert len(burned) == 1 and stored == 0
    serial_hex, der, reason = burned[0]
    cert = x509.load_der_x509_certificate(bytes(der))
    assert f"{cert.serial_number:X}".zfill(len(serial_hex)) == serial_hex and "store failed" in reason
    svc.ctx.after_sign = None
    again = svc.issue(ca_name="issuing", profile_name="eseal", actor="test",
                      generate=KeyType.EC_P256, subject=SEAL)
    assert again.serial_hex != serial_hex
    assert svc.audit_verify() > 0
    failed = [r for r in svc.audit_list(50) if r.outcome == "failed"]
    assert failed and failed[0].details["serial"] == serial_hex


def _tamper(home: Path, sql: str) -> None:
    engine = _engine(home)
    with engine.begin() as c:
        c.execute(text(sql))
    engine.dispose()


@pytest.mark.parametrize("sql,first_bad", [
    ("UPDATE audit_log SET outcome='refused' WHERE seq=3", 3),
    ("UPDATE audit_log SET details='{}' WHERE seq=4", 4),
    ("UPDATE audit_log SET actor='someone-else' WHERE seq=2", 2),
    ("DELETE FROM audit_log WHERE seq=2", 2),
    ("DELETE FROM audit_log WHERE seq=(SELECT MAX(seq) FROM audit_log)", None),
    ("UPDATE audit_log SET seq=CASE seq WHEN 2 THEN 1000002 WHEN 3 THEN 2 END WHERE seq IN (2,3)", 2),
])
def test_acceptance8_editing_or_deleting_audit_rows_fails_verify_naming_the_first_bad_record(
        any_home: Path, sql: str, first_bad: int | None) -> None:
    cli = _hierarchy(any_home)
    cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256", "--subject", SEAL)
    total = json.loads(cli("audit", "verify", "--json").stdout)["records"]
    assert total >= 5
    _tamper(any_home, sql)
    r = cli("audit", "verify", ok=False)
    assert r.exit_code != 0
    expected = first_bad if first_bad is not None else total
    assert f"audit record {expected} " in r.stderr, r.stderr


def test_audit_records_carry_actor_action_subject_outcome_and_utc_time(home: Path) -> None:
    cli = _hierarchy(home)
    records = json.loads(cli("audit", "list", "--json").stdout)
    assert [r["action"] for r in records][:2] == ["ca.create.intent", "ca.create"]
    for r in records:
        assert r["actor"] and r["subject"] and r["outcome"] == "success" and r["time"].endswith("Z")


def test_refused_issuance_is_an_error_not_a_partial_write(home: Path) -> None:
    _hierarchy(home)
    svc = build_ca_service(home)
    with pytest.raises(CaError):
        svc.issue(ca_name="issuing", profile_name="eseal", actor="t", csr=b"garbage", subject=SEAL)
