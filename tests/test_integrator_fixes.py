"""Issue 10 (integrator part): a TOTP code sent again (RFC 6238 5.2), the stamp box, the seal's
wording on the stamp."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from pathlib import Path

import pyotp
import pytest

from cli.web import create_app
from conftest import Cli
from sealing_helpers import setup_sealing
from test_csc import enrol

REUSED = "The OTP was already used; wait for the next code"


@pytest.fixture
def env(cli: Cli, tmp_path: Path) -> dict:
    info = setup_sealing(cli, tmp_path)
    oid, seed, pin = enrol(cli, tmp_path)
    return {**info, "cli": cli, "client": create_app(cli.home).test_client(), "cred": f"official-{oid}",
            "seed": seed, "pin": pin, "id": oid}


def _code(env: dict, step: int) -> str:
    return pyotp.TOTP(env["seed"]).at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30 * step))


def _v1(env: dict, pin: str, otp: str, what: bytes = b"x"):  # type: ignore[no-untyped-def]
    body = {"credentialID": env["cred"], "numSignatures": 1,
            "hash": [base64.b64encode(hashlib.sha256(what).digest()).decode()], "PIN": pin, "OTP": otp}
    return env["client"].post("/csc/v1/credentials/authorize", json=body,
                              headers={"Authorization": f"Bearer {env['tokens']['A']}"})


def _v2(env: dict, pin: str, otp: str):  # type: ignore[no-untyped-def]
    body = {"credentialID": env["cred"], "numSignatures": 1, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
            "hashes": [base64.b64encode(hashlib.sha256(b"v2").digest()).decode()],
            "authData": [{"id": "PIN", "value": pin}, {"id": "OTP", "value": otp}]}
    return env["client"].post("/csc/v2/credentials/authorize", json=body,
                              headers={"Authorization": f"Bearer {env['tokens']['A']}"})


def _authorize_events(env: dict) -> list[dict]:
    return json.loads(env["cli"]("audit", "list", "--action", "csc.authorize", "--json").stdout)


def test_rfc6238_5_2_a_used_code_with_the_right_pin_is_told_apart_and_not_counted_v1(env: dict) -> None:
    code = _code(env, 0)
    assert _v1(env, env["pin"], code).status_code == 200
    for _ in range(6):  # more than lock_after (5): none of them counts
        again = _v1(env, env["pin"], code)
        assert again.status_code == 400
        assert again.json == {"error": "invalid_request", "error_description": REUSED}
    assert _v1(env, env["pin"], _code(env, 1), b"next").status_code == 200  # not locked
    refused = [e for e in _authorize_events(env) if e["outcome"] == "refused"]
    assert [e["details"]["error"] for e in refused] == ["otp_reused"] * 6
    assert all("failed_attempts" not in e["details"] for e in refused)


def test_rfc6238_5_2_a_used_code_with_a_wrong_pin_is_a_wrong_factor_and_counted(env: dict) -> None:
    code = _code(env, 0)
    assert _v1(env, env["pin"], code).status_code == 200
    wrong = _v1(env, "999999", code)
    assert wrong.status_code == 400
    assert wrong.json == {"error": "invalid_request", "error_description": "The PIN or OTP is invalid"}
    refused = [e for e in _authorize_events(env) if e["outcome"] == "refused"]
    assert [(e["details"]["error"], e["details"]["failed_attempts"]) for e in refused] == [("invalid_pin", 1)]


def test_rfc6238_5_2_wrong_pins_with_a_used_code_still_lock_the_credential(env: dict) -> None:
    code = _code(env, 0)
    assert _v1(env, env["pin"], code).status_code == 200
    for _ in range(5):
        assert _v1(env, "999999", code).json["error_description"] == "The PIN or OTP is invalid"
    locked = _v1(env, env["pin"], _code(env, 1), b"next")
    assert locked.status_code == 400 and locked.json["error_description"] == "PIN locked"


def test_rfc6238_5_2_a_used_code_with_the_right_pin_v2(env: dict) -> None:
    code = _code(env, 0)
    assert _v2(env, env["pin"], code).status_code == 200
    again = _v2(env, env["pin"], code)
    assert again.status_code == 400
    assert again.json["error"] == "invalid_authentication_data" and again.json["error_description"] == REUSED
    wrong_pin = _v2(env, "999999", code)
    assert wrong_pin.json["error"] == "invalid_authentication_data"
    assert wrong_pin.json["error_description"] != REUSED
