"""Issue 9: cost before trust, every attempt audited, the lock race, small CSC fixes.

Refused authentication is rate-limited per client address and answered 429 with Retry-After
(RFC 6585 4), its audit aggregated; API secrets are checked with an HMAC made in the HSM (no
scrypt for a wrong token); every attempt to authorise or sign is audited with the client's
address (ขมธอ. 36-2566; CEN EN 419 241-1); at most five wrong factors are ever judged before
the credential locks, however many arrive at once (EN 419 241-1; RFC 6238 5.2).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import create_engine, text

from cli.config import ConfigError, load_config
from cli.web import create_app
from conftest import Cli
from sealing_helpers import setup_sealing
from test_csc import enrol

ATTACKER = "203.0.113.9"   # RFC 5737 documentation addresses
OTHER = "198.51.100.7"


def _throttle_config(home: Path, limit: int = 5, budget: int = 200) -> None:
    cfg = home / "govca.toml"
    text_ = cfg.read_text()
    if "[throttle]" in text_:
        text_ = text_[:text_.index("[throttle]")]
    cfg.write_text(text_ + f"[throttle]\nfailures_per_window = {limit}\nwindow_seconds = 60\n"
                           f"audit_records_per_window = {budget}\n")


def _audit(home: Path) -> list[dict]:
    engine = create_engine(load_config(home).database_url)
    try:
        with engine.connect() as c:
            rows = c.execute(text("SELECT seq, actor, action, subject, outcome, details FROM audit_log ORDER BY seq"))
            return [{"seq": r[0], "actor": r[1], "action": r[2], "subject": r[3], "outcome": r[4],
                     "details": json.loads(r[5])} for r in rows]
    finally:
        engine.dispose()


class Clock:
    """A settable monotonic clock for the app's throttle."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _app(home: Path):  # type: ignore[no-untyped-def]
    app = create_app(home)
    clock = Clock()
    app.extensions["govca.throttle"].clock = clock
    app.extensions["govca.throttle"]._budget_start = clock.now
    return app, clock


# --- rate limits ---------------------------------------------------------------------------------
def test_rfc6585_4_anonymous_sealing_is_429_past_the_threshold_and_audited_in_two_records(home: Path) -> None:
    _throttle_config(home, limit=5)
    app, clock = _app(home)
    client = app.test_client()
    before = len(_audit(home))
    answers = [client.post("/api/v1/sign", data=b"%PDF-1.7", content_type="application/pdf",
                           environ_base={"REMOTE_ADDR": ATTACKER}) for _ in range(40)]
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 35
    last = answers[-1]
    assert last.headers["Retry-After"].isdigit() and 1 <= int(last.headers["Retry-After"]) <= 60
    assert last.json["status"] == 429 and last.json["title"] == "Too Many Requests"
    assert last.content_type == "application/problem+json"
    # Another address is not affected.
    assert client.post("/api/v1/sign", data=b"%PDF-1.7", content_type="application/pdf",
                       environ_base={"REMOTE_ADDR": OTHER}).status_code == 401
    # 41 refusals so far: one record each for the first of a window of each address, at once.
    new = _audit(home)[before:]
    assert [(e["action"], e["details"]["client_address"]) for e in new] == \
        [("seal.authenticate", ATTACKER), ("seal.authenticate", OTHER)]
    # The window closes: the next refusal (of anyone) writes the aggregate of the 39 others.
    clock.now += 61
    client.post("/api/v1/sign", data=b"%PDF-1.7", content_type="application/pdf", environ_base={"REMOTE_ADDR": OTHER})
    new = _audit(home)[before:]
    aggregated = [e for e in new if e["details"].get("aggregated")]
    assert len(new) == 4 and len(aggregated) == 1
    assert aggregated[0]["details"]["client_address"] == ATTACKER
    assert aggregated[0]["details"]["repeated"] == 39 and aggregated[0]["details"]["throttled"] == 35
    # The new window of the attacker starts afresh.
    assert client.post("/api/v1/sign", data=b"%PDF-1.7", content_type="application/pdf",
                       environ_base={"REMOTE_ADDR": ATTACKER}).status_code == 401


def test_rfc6585_4_wrong_tokens_and_wrong_csc_logins_are_429_past_the_threshold(cli: Cli) -> None:
    cli("agency", "add", "--code", "A", "--name-th", "ก", "--name-en", "A", "--juristic-id", "0994000159889")
    token = json.loads(cli("apiclient", "create", "--agency", "A", "--name", "A system", "--json").stdout)["token"]
    client_id = token.split("_")[1]
    wrong = f"gvc_{client_id}_" + "A" * 43
    _throttle_config(cli.home, limit=3)
    app, clock = _app(cli.home)
    client = app.test_client()
    before = len(_audit(cli.home))
    env = {"REMOTE_ADDR": ATTACKER}
    sealing = [client.post("/api/v1/sign", data=b"%PDF-1.7", content_type="application/pdf",
                           headers={"Authorization": f"Bearer {wrong}"}, environ_base=env) for _ in range(5)]
    assert [r.status_code for r in sealing] == [401, 401, 401, 429, 429]
    assert token.split("_", 2)[2] not in json.dumps(_audit(cli.home)) and "A" * 43 not in json.dumps(_audit(cli.home))
    csc = client.post("/csc/v1/credentials/list", json={}, headers={"Authorization": f"Bearer {wrong}"},
                      environ_base=env)
    assert csc.status_code == 429 and csc.json["error"] == "invalid_request" and "Retry-After" in csc.headers
    assert set(csc.json) == {"error", "error_description"}  # the CSC error model
    basic = "Basic " + base64.b64encode(f"{client_id}:{'B' * 43}".encode()).decode()
    login = client.post("/csc/v2/auth/login", json={}, headers={"Authorization": basic}, environ_base=env)
    assert login.status_code == 429 and "Retry-After" in login.headers
    # From another address: a wrong login is the CSC authentication error, a right token works.
    other = {"REMOTE_ADDR": OTHER}
    assert client.post("/csc/v1/auth/login", json={}, headers={"Authorization": basic},
                       environ_base=other).json["error"] == "authentication_error"
    assert client.post("/csc/v1/credentials/list", json={}, headers={"Authorization": f"Bearer {token}"},
                       environ_base=other).status_code == 200
    # A right token from the throttled address is still served (the count is of refusals).
    assert client.post("/csc/v1/credentials/list", json={}, headers={"Authorization": f"Bearer {token}"},
                       environ_base=env).status_code == 200
    new = _audit(cli.home)[before:]
    # 7 refusals of the attacker, 1 of the other address: one record per (address, action) so far.
    assert sorted((e["action"], e["details"]["client_address"]) for e in new) == sorted([
        ("seal.authenticate", ATTACKER), ("csc.authenticate", ATTACKER), ("csc.login", ATTACKER),
        ("csc.login", OTHER)])
    app.extensions["govca.throttle"].close()  # worker exit: the pending aggregate is written
    aggregated = [e for e in _audit(cli.home)[before:] if e["details"].get("aggregated")]
    assert [(e["action"], e["details"]["repeated"]) for e in aggregated] == [("seal.authenticate", 4)]


def test_the_audit_of_a_flood_is_bounded_per_window_over_all_addresses() -> None:
    from signer.throttle import Throttle, ThrottleSettings

    written: list[tuple] = []
    clock = Clock()
    t = Throttle(lambda *a: written.append(a), ThrottleSettings(limit=2, window=60, max_addresses=50,
                                                                audit_per_window=10), clock=clock)
    t._budget_start = clock.now
    for i in range(1000):  # 1000 addresses, 3 refusals each
        for _ in range(3):
            t.refuse(f"10.0.{i // 256}.{i % 256}", "api:anonymous", "seal.authenticate", "-", {"error": "x"})
    assert len(written) == 10 and len(t._windows) == 50  # the budget, and the LRU cap
    clock.now += 61
    t.refuse("192.0.2.1", "api:anonymous", "seal.authenticate", "-", {"error": "x"})
    assert len(written) == 10 + 1 + 10  # the overflow record of the first window, the budget of the second
    t.close()
    overflow = [w for w in written if w[1] == "throttle.overflow"]
    assert len(overflow) == 2 and all(w[4]["client_address"] == "*" for w in overflow)
    counted = sum(w[4]["repeated"] if w[4].get("aggregated") else 1 for w in written)
    assert counted == 3001  # every refusal is in some record: none lost, none written twice


def test_throttle_config_is_strict(home: Path) -> None:
    cfg = home / "govca.toml"
    base = cfg.read_text()
    assert load_config(home).throttle.failures_per_window == 30  # the default of a new install
    for bad in ("failures_per_window = 0", "window_seconds = true", "unknown = 1", "max_addresses = \"9\""):
        cfg.write_text(base[:base.index("[throttle]")] + f"[throttle]\n{bad}\n")
        with pytest.raises(ConfigError, match="throttle"):
            load_config(home)


# --- cheap secret checks --------------------------------------------------------------------------
def test_a_wrong_token_costs_an_hsm_mac_not_a_scrypt_and_old_records_are_upgraded(cli: Cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """New records are HMAC-SHA256 in the HSM with a non-extractable key (as officials' PINs,
    ขมธอ. 36-2566 / EN 419 241-1); old scrypt records still verify and become HMAC records."""
    import hsm.mac
    import signer.credentials as credentials
    from signer.registry import SignerRepository

    cli("agency", "add", "--code", "A", "--name-th", "ก", "--name-en", "A", "--juristic-id", "0994000159889")
    token = json.loads(cli("apiclient", "create", "--agency", "A", "--name", "A system", "--json").stdout)["token"]
    client_id = int(token.split("_")[1])
    keys = [k for k in json.loads(cli("hsm", "keys", "--json").stdout) if k["label"] == credentials.KEY_LABEL]
    assert len(keys) == 1 and keys[0]["sensitive"] and not keys[0]["extractable"]
    engine = create_engine(load_config(cli.home).database_url)

    def record(cid: int) -> str:
        with engine.connect() as c:
            return c.execute(text("SELECT secret_hash FROM api_clients WHERE id = :i"), {"i": cid}).scalar_one()

    assert record(client_id).startswith("hsm-hmac-sha256$govca-apiclient-mac-v1$")
    calls = {"mac": 0, "scrypt": 0}
    real_mac, real_scrypt = hsm.mac.HsmMacKey.mac, credentials.hashlib.scrypt

    def counting_mac(self, data):  # type: ignore[no-untyped-def]
        calls["mac"] += 1
        return real_mac(self, data)

    def counting_scrypt(*a, **kw):  # type: ignore[no-untyped-def]
        calls["scrypt"] += 1
        return real_scrypt(*a, **kw)

    monkeypatch.setattr(hsm.mac.HsmMacKey, "mac", counting_mac)
    monkeypatch.setattr(credentials.hashlib, "scrypt", counting_scrypt)
    client = create_app(cli.home).test_client()
    wrong = f"gvc_{client_id}_" + "A" * 43
    for _ in range(3):
        assert client.post("/csc/v1/credentials/list", json={},
                           headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
    assert calls == {"mac": 3, "scrypt": 0}
    assert client.post("/csc/v1/credentials/list", json={},
                       headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert calls == {"mac": 4, "scrypt": 0}
    # An old scrypt record: a right secret verifies (one scrypt) and the record is upgraded.
    old_secret = credentials.new_secret()
    old_id = SignerRepository(*_uow(cli.home)).add_client("A", "old system", credentials.hash_secret(old_secret),
                                                           dt.datetime.now(dt.timezone.utc))
    calls.update(mac=0, scrypt=0)
    old_token = credentials.make_token(old_id, old_secret)
    assert client.post("/csc/v1/credentials/list", json={},
                       headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
    assert calls["scrypt"] == 1 and record(old_id).startswith("hsm-hmac-sha256$")
    assert client.post("/csc/v1/credentials/list", json={},
                       headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
    assert calls["scrypt"] == 1  # no more scrypt for it
    assert old_secret not in json.dumps(_audit(cli.home))
    engine.dispose()


def _uow(home: Path):  # type: ignore[no-untyped-def]
    from ca import Database

    db = Database(load_config(home).database_url)
    return db.unit_of_work, db.reader


# --- every attempt audited -------------------------------------------------------------------------
@pytest.fixture
def env(cli: Cli, tmp_path: Path) -> dict:
    info = setup_sealing(cli, tmp_path)
    oid, seed, pin = enrol(cli, tmp_path)
    app = create_app(cli.home)
    return {**info, "cli": cli, "app": app, "client": app.test_client(), "cred": f"official-{oid}", "seed": seed,
            "pin": pin, "id": oid}


def csc(env: dict, method: str, body: dict, agency: str = "A", version: int = 1, addr: str = ATTACKER):  # type: ignore[no-untyped-def]
    return env["client"].post(f"/csc/v{version}/{method}", json=body, environ_base={"REMOTE_ADDR": addr},
                              headers={"Authorization": f"Bearer {env['tokens'][agency]}"})


def test_en_419_241_1_a_cross_agency_probe_is_refused_like_an_unknown_credential_and_audited(env: dict) -> None:
    before = len(_audit(env["cli"].home))
    probe = csc(env, "credentials/info", {"credentialID": env["cred"]}, agency="B")
    unknown = csc(env, "credentials/info", {"credentialID": "official-999999"}, agency="B")
    assert probe.status_code == unknown.status_code == 400 and probe.json == unknown.json
    authz = csc(env, "credentials/authorize", {"credentialID": env["cred"], "numSignatures": 1}, agency="B")
    assert authz.json == unknown.json
    new = _audit(env["cli"].home)[before:]
    assert [e["details"]["error"] for e in new] == ["probe: a credential of another agency", "unknown credential",
                                                    "probe: a credential of another agency"]
    assert all(e["outcome"] == "refused" and e["details"]["client_address"] == ATTACKER for e in new)
    assert new[0]["details"]["credential_agency"] == "A" and new[0]["details"]["client_agency"] == "B"


def test_en_419_241_1_refusals_before_the_factor_check_are_audited_with_the_client_address(env: dict) -> None:
    h = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    cases = [({"numSignatures": 11, "hash": [h] * 11, "PIN": env["pin"], "OTP": "000000"}, "numSignatures over the limit"),
             ({"numSignatures": 1, "hash": [h], "OTP": "000000"}, "PIN missing"),
             ({"numSignatures": 1, "PIN": env["pin"], "OTP": "000000"}, "hashes missing"),
             ({"numSignatures": "1", "hash": [h]}, "numSignatures missing"),
             ({"numSignatures": 1, "hash": ["not base64!"]}, "Invalid Base64 hash string parameter")]
    before = len(_audit(env["cli"].home))
    for body, _ in cases:
        assert csc(env, "credentials/authorize", {"credentialID": env["cred"], **body}).status_code == 400
    new = _audit(env["cli"].home)[before:]
    assert [e["details"]["error"] for e in new] == [why for _, why in cases]
    assert all(e["action"] == "csc.authorize" and e["outcome"] == "refused" and e["subject"] == env["cred"]
               and e["details"]["client_address"] == ATTACKER for e in new)
    env["cli"]("official", "suspend", str(env["id"]))
    assert csc(env, "credentials/authorize", {"credentialID": env["cred"], "numSignatures": 1, "hash": [h],
                                              "PIN": env["pin"], "OTP": "000000"}).status_code == 400
    last = _audit(env["cli"].home)[-1]
    assert last["details"]["error"] == "disabled" and last["details"]["client_address"] == ATTACKER
    # Nothing counted against the official: none of these judged a factor.
    engine = create_engine(load_config(env["cli"].home).database_url)
    with engine.connect() as c:
        assert c.execute(text("SELECT failed_attempts FROM officials")).scalar_one() == 0
    engine.dispose()


def test_en_419_241_1_v2_adapter_refusals_authdata_hashes_and_signdoc_documents_are_audited(env: dict) -> None:
    """The v2 adapter's own checks (authData, hashAlgorithmOID, signHash's hashes, signDoc's
    documents) refuse with a 400 and leave a record with the client address, like the core's."""
    h = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    seal = f"seal-{env['seals']['A']}"
    cases = [("credentials/authorize", {"credentialID": env["cred"], "numSignatures": 1, "hashes": [h],
                                        "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "authData": 1},
              "Invalid parameter authData"),
             ("credentials/authorize", {"credentialID": env["cred"], "numSignatures": 1, "hashes": [h]},
              "Invalid parameter hashAlgorithmOID"),
             ("signatures/signHash", {"credentialID": env["cred"], "SAD": "x", "hashes": "nope"},
              "Missing (or invalid type) array parameter hashes"),
             ("signatures/signDoc", {"credentialID": seal, "SAD": "x", "documents": [{"document": [None],
                                                                                      "signature_format": "P"}]},
              "Missing (or invalid type) string parameter document"),
             ("signatures/signDoc", {"credentialID": seal, "SAD": "x", "documents": [{
                 "document": base64.b64encode(b"%PDF-1.7\n garbage").decode(), "signature_format": "P"}]}, None)]
    before = len(_audit(env["cli"].home))
    for method, body, _ in cases:
        resp = csc(env, method, body, version=2)
        assert resp.status_code == 400 and resp.json["error"] == "invalid_request", (method, resp.json)
    new = _audit(env["cli"].home)[before:]
    assert len(new) == len(cases), new
    for (method, body, why), rec in zip(cases, new):
        assert rec["action"] == "csc." + method.split("/")[1] and rec["outcome"] == "refused"
        assert rec["subject"] == body["credentialID"] and rec["details"]["client_address"] == ATTACKER
        assert why is None and rec["details"]["error"].startswith("Invalid document: ") or rec["details"]["error"] == why


def test_every_attempt_is_audited_a_500_too_by_the_class_of_the_error_never_its_text(env: dict, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from signer.remote.csc import RemoteSigning

    def broken(self, client):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret-ish text from deep inside")

    monkeypatch.setattr(RemoteSigning, "credentials", broken)
    r = csc(env, "credentials/list", {})
    assert r.status_code == 500 and r.json["title"] == "Internal Server Error"
    last = _audit(env["cli"].home)[-1]
    assert last["action"] == "http.error" and last["outcome"] == "failed"
    assert last["details"] == {"method": "POST", "path": "/csc/v1/credentials/list", "error": "RuntimeError",
                               "client_address": ATTACKER}
    assert "secret-ish" not in json.dumps(last)
    # An audit that cannot be written still leaves the 500 answer intact.
    import cli.signer_wiring as wiring

    def no_audit(*a, **kw):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(wiring, "append", no_audit)
    r = csc(env, "credentials/list", {}, addr=OTHER)  # another address: its first 500 is written at once
    assert r.status_code == 500 and r.json["status"] == 500
    monkeypatch.undo()
    monkeypatch.setattr(RemoteSigning, "credentials", broken)
    # A flood of 500s from one address: counted, written as one aggregated record when its window ends.
    before = len(_audit(env["cli"].home))
    for _ in range(20):
        assert csc(env, "credentials/list", {}).status_code == 500
    assert len(_audit(env["cli"].home)) == before


# --- CSC v1 errors, SADs ------------------------------------------------------------------------
def test_csc_v1_a_wrong_pin_and_a_wrong_otp_get_the_same_answer(env: dict) -> None:
    """Which factor was wrong is not told (EN 419 241-1: no help to a guesser); the audit says it."""
    h = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    totp = pyotp.TOTP(env["seed"])
    now = dt.datetime.now(dt.timezone.utc)
    valid = {totp.at(now + dt.timedelta(seconds=30 * k)) for k in (-1, 0, 1, 2)}
    wrong_otp = next(c for c in ("000000", "111111", "222222") if c not in valid)
    body = {"credentialID": env["cred"], "numSignatures": 1, "hash": [h]}
    bad_pin = csc(env, "credentials/authorize", {**body, "PIN": "999999", "OTP": totp.now()})
    bad_otp = csc(env, "credentials/authorize", {**body, "PIN": env["pin"], "OTP": wrong_otp})
    assert bad_pin.status_code == bad_otp.status_code == 400 and bad_pin.json == bad_otp.json
    assert bad_pin.json == {"error": "invalid_request", "error_description": "The PIN or OTP is invalid"}
    errors = [e["details"]["error"] for e in _audit(env["cli"].home)[-2:]]
    assert errors == ["invalid_pin", "invalid_otp"]


def test_expired_sads_are_purged_when_a_credential_is_authorised(env: dict) -> None:
    h = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    totp = pyotp.TOTP(env["seed"])
    now = dt.datetime.now(dt.timezone.utc)
    body = {"credentialID": env["cred"], "numSignatures": 1, "hash": [h], "PIN": env["pin"]}
    assert csc(env, "credentials/authorize", {**body, "OTP": totp.at(now)}).status_code == 200
    engine = create_engine(load_config(env["cli"].home).database_url)
    with engine.begin() as c:
        c.execute(text("UPDATE csc_sads SET expires_at = :t"), {"t": dt.datetime(2000, 1, 1)})
    assert csc(env, "credentials/authorize", {**body, "OTP": totp.at(now + dt.timedelta(seconds=30))}).status_code == 200
    with engine.connect() as c:
        rows = c.execute(text("SELECT expires_at FROM csc_sads")).all()
    engine.dispose()
    assert len(rows) == 1  # the expired one is gone, the new one stays


# --- the lock race ----------------------------------------------------------------------------------
def test_en_419_241_1_twelve_concurrent_wrong_pins_judge_exactly_five_then_the_credential_locks(
        any_home: Path, tmp_path: Path) -> None:
    """The lock, the factor check and the failure count are one step under the official's row
    lock (SELECT ... FOR UPDATE; on SQLite the write transaction is serialised): of twelve wrong
    PINs sent at once, exactly five are judged, the other seven refused as locked."""
    cli = Cli(any_home)
    info = setup_sealing(cli, tmp_path)
    oid, seed, _ = enrol(cli, tmp_path)
    client = create_app(any_home).test_client()
    h = base64.b64encode(hashlib.sha256(b"race").digest()).decode()
    barrier, answers, lock = threading.Barrier(12), [], threading.Lock()

    def guess(i: int) -> None:
        body = {"credentialID": f"official-{oid}", "numSignatures": 1, "hash": [h], "PIN": f"{900000 + i}",
                "OTP": pyotp.TOTP(seed).now()}
        barrier.wait()
        r = client.post("/csc/v1/credentials/authorize", json=body,
                        headers={"Authorization": f"Bearer {info['tokens']['A']}"})
        with lock:
            answers.append(r.json.get("error_description", str(r.json)))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["PIN locked"] * 7 + ["The PIN or OTP is invalid"] * 5
    refusals = [e["details"]["error"] for e in _audit(any_home)
                if e["action"] == "csc.authorize" and e["outcome"] == "refused"]
    assert sorted(refusals) == ["invalid_pin"] * 5 + ["locked"] * 7


def test_rfc6585_4_an_address_past_its_limit_buys_no_scrypt_against_an_old_record(cli: Cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A wrong secret against an old scrypt$ record still costs a scrypt, so an address past its
    limit is answered 429 before the record is checked at all."""
    import signer.credentials as credentials
    from signer.registry import SignerRepository

    cli("agency", "add", "--code", "A", "--name-th", "ก", "--name-en", "A", "--juristic-id", "0994000159889")
    secret = credentials.new_secret()
    old_id = SignerRepository(*_uow(cli.home)).add_client("A", "old system", credentials.hash_secret(secret),
                                                           dt.datetime.now(dt.timezone.utc))
    _throttle_config(cli.home, limit=2)
    app, _ = _app(cli.home)
    client = app.test_client()
    calls = {"scrypt": 0}
    real_scrypt = credentials.hashlib.scrypt

    def counting_scrypt(*a, **kw):  # type: ignore[no-untyped-def]
        calls["scrypt"] += 1
        return real_scrypt(*a, **kw)

    monkeypatch.setattr(credentials.hashlib, "scrypt", counting_scrypt)
    wrong = {"Authorization": f"Bearer gvc_{old_id}_" + "A" * 43}
    codes = [client.post("/api/v1/sign", data=b"%PDF-1.7", content_type="application/pdf", headers=wrong,
                         environ_base={"REMOTE_ADDR": ATTACKER}).status_code for _ in range(5)]
    assert codes == [401, 401, 429, 429, 429] and calls["scrypt"] == 2
    right = {"Authorization": f"Bearer {credentials.make_token(old_id, secret)}"}
    assert client.get("/api/v1/documents/DOC-X", headers=right, environ_base={"REMOTE_ADDR": OTHER}).status_code == 404
    assert calls["scrypt"] == 3  # verified once from the other address (and upgraded)


def test_throttle_memory_is_bounded_the_closing_queue_too() -> None:
    from signer.throttle import Throttle, ThrottleSettings

    written: list[tuple] = []
    clock = Clock()
    t = Throttle(lambda *a: written.append(a), ThrottleSettings(limit=5, window=60, max_addresses=10,
                                                                audit_per_window=10**6), clock=clock)
    for i in range(500):  # addresses that repeat, then are evicted by newer ones
        for _ in range(2):
            t.refuse(f"10.1.{i // 256}.{i % 256}", "api:anonymous", "seal.authenticate", "-", {})
    assert len(t._windows) == 10 and len(t._closing) <= 20
    t.close()
    assert sum(w[4]["repeated"] if w[4].get("aggregated") else 1 for w in written) == 1000
    assert len(written) == 1000  # per address: its first at once, its one repeat aggregated


def test_csc_auth_login_takes_the_secret_or_the_whole_token_as_the_basic_password(env: dict) -> None:
    """HTTP Basic for auth/login: userID = the API client id; password = its secret (the token
    without `gvc_<id>_`) or the whole token as `apiclient create` prints it. A token of another
    client under this userID is refused."""
    token = env["tokens"]["A"]
    client_id, secret = token.split("_", 2)[1:]
    other = env["tokens"]["B"]

    def login(user: str, password: str, version: int = 1):  # type: ignore[no-untyped-def]
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        return env["client"].post(f"/csc/v{version}/auth/login", json={}, headers={"Authorization": f"Basic {basic}"},
                                  environ_base={"REMOTE_ADDR": "192.0.2.77"})

    for password in (secret, token):
        for version in (1, 2):
            resp = login(client_id, password, version)
            assert resp.status_code == 200 and resp.json["access_token"].startswith("csc1."), resp.json
    refused = login(client_id, other)
    assert refused.status_code == 400 and refused.json["error"] == "authentication_error", refused.json


def test_apiclient_create_prints_the_basic_user_and_secret_that_csc_auth_login_takes(env: dict) -> None:
    """What `govca apiclient create` prints is what auth/login takes: user = client_id, password =
    client_secret (or the whole token)."""
    cli = env["cli"]
    made = json.loads(cli("apiclient", "create", "--agency", "A", "--name", "CSC system", "--json").stdout)
    assert made["token"] == f"gvc_{made['client_id']}_{made['client_secret']}"
    text = cli("apiclient", "create", "--agency", "A", "--name", "CSC system 2").stdout
    assert "HTTP Basic: user " in text and "password the whole token" in text
    app = create_app(cli.home)  # a fresh app: the client list changed
    basic = base64.b64encode(f"{made['client_id']}:{made['client_secret']}".encode()).decode()
    resp = app.test_client().post("/csc/v2/auth/login", json={}, headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200 and resp.json["access_token"].startswith("csc1."), resp.json
