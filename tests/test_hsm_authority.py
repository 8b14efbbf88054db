"""Issue 11, acceptance 6: whatever authorises a signature lives in the HSM's service token.

An attacker who can write the database or read the data directory (outside the token) gets
nothing that signs: a SAD row counts only with an HMAC the token computed over its content after
the official's PIN and OTP were checked (EN 419 241-1 SCAL2 sole control, ขมธอ. 36-2566); a CSC
access token only with the token's MAC over its client and expiry, for at most an hour; TOTP seeds
open only in the token. Real parts throughout: SoftHSM, the Flask app, SQLite and PostgreSQL.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from pathlib import Path

import pyotp
import pytest
from cryptography.hazmat.primitives import hashes as chashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import create_engine, text

from cli.web import create_app
from conftest import Cli
from sealing_helpers import sample_pdf, setup_sealing
from test_csc import enrol, wrong_otp

SHA256_OID, ECDSA_SHA256 = "2.16.840.1.101.3.4.2.1", "1.2.840.10045.4.3.2"
HSM_SEED = b"hsm-aes-gcm$govca-totp-aes-v1$"


@pytest.fixture
def env(any_home: Path, tmp_path: Path) -> dict:
    """On SQLite, and again on PostgreSQL when one answers (row locks and savepoints differ)."""
    cli = Cli(any_home)
    info = setup_sealing(cli, tmp_path)
    oid, seed, pin = enrol(cli, tmp_path)
    from cli.config import load_config

    engine = create_engine(load_config(cli.home).database_url)
    yield {**info, "cli": cli, "client": create_app(cli.home).test_client(), "cred": f"official-{oid}", "id": oid,
           "seed": seed, "pin": pin, "step": -1, "db": engine}
    engine.dispose()


def b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


def post(env: dict, path: str, body: dict, token: str | None = None, addr: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    """``addr``: the client's address (refused tokens are throttled per address, signer/throttle.py)."""
    return env["client"].post(path, json=body, headers={"Authorization": f"Bearer {token or env['tokens']['A']}"},
                              environ_base={"REMOTE_ADDR": addr})


def otp(env: dict) -> str:
    """A code not used before (RFC 6238 5.2): codes of steps t and t+1, at most two per test."""
    env["step"] += 1
    assert env["step"] <= 1
    return pyotp.TOTP(env["seed"]).at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30 * env["step"]))


def authorize_v1(env: dict, hashes: list[bytes], pin: str | None = None, code: str | None = None):  # type: ignore[no-untyped-def]
    return post(env, "/csc/v1/credentials/authorize", {"credentialID": env["cred"], "numSignatures": len(hashes),
                                                        "hash": b64(hashes), "PIN": pin or env["pin"],
                                                        "OTP": code or otp(env)})


def sign_v1(env: dict, sad: str, hashes: list[bytes], cred: str | None = None):  # type: ignore[no-untyped-def]
    return post(env, "/csc/v1/signatures/signHash", {"credentialID": cred or env["cred"], "SAD": sad,
                                                      "hashAlgo": SHA256_OID, "signAlgo": ECDSA_SHA256,
                                                      "hash": b64(hashes)})


def sign_v2(env: dict, sad: str, hashes: list[bytes], cred: str | None = None):  # type: ignore[no-untyped-def]
    return post(env, "/csc/v2/signatures/signHash", {"credentialID": cred or env["cred"], "SAD": sad,
                                                      "hashAlgorithmOID": SHA256_OID, "signAlgo": ECDSA_SHA256,
                                                      "hashes": b64(hashes)})


def sign_doc(env: dict, sad: str, pdf: bytes):  # type: ignore[no-untyped-def]
    return post(env, "/csc/v2/signatures/signDoc", {"credentialID": env["cred"], "SAD": sad, "documents": [
        {"document": base64.b64encode(pdf).decode(), "signature_format": "P", "conformance_level": "Ades-B-B"}]})


def sad_row(env: dict, sad: str) -> dict:
    digest = hashlib.sha256(sad.encode()).hexdigest()
    with env["db"].connect() as c:
        return dict(c.execute(text("SELECT * FROM csc_sads WHERE sad_sha256 = :d"), {"d": digest}).mappings().one())


def set_row(env: dict, digest: str, **values: object) -> None:
    cols = ", ".join(f"{k} = :{k}" for k in values)
    with env["db"].begin() as c:
        c.execute(text(f"UPDATE csc_sads SET {cols} WHERE sad_sha256 = :digest"), {**values, "digest": digest})


def audit_errors(env: dict, action: str) -> list[str]:
    records = json.loads(env["cli"]("audit", "list", "--limit", "500", "--json").stdout)
    return [r["details"].get("error", "") for r in records if r["action"] == action and r["outcome"] == "refused"]


def test_en_419_241_1_sole_control_a_sad_row_inserted_by_hand_signs_nothing_v1_v2_sign_hash_and_sign_doc(
        env: dict) -> None:
    """Whoever writes the database inserts rows for a SAD of their choosing, bound to chosen hashes
    (and to a chosen PDF), with a budget and a far expiry, for the official and for a seal: no MAC
    they can write makes one sign."""
    pdf = sample_pdf()
    chosen = [hashlib.sha256(b"a contract the official never saw").digest()]
    seal = f"seal-{env['seals']['A']}"
    expires = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(minutes=4)
    attempts = {}
    for name, cred, bound, mac in (
            ("official, no MAC", env["cred"], chosen, None),
            ("official, a guessed MAC", env["cred"], chosen, secrets.token_hex(32)),
            ("official, the PDF's hash", env["cred"], [hashlib.sha256(pdf).digest()], secrets.token_hex(32)),
            ("seal, a guessed MAC", seal, [], secrets.token_hex(32))):
        sad = secrets.token_urlsafe(32)
        with env["db"].begin() as c:
            c.execute(text("INSERT INTO csc_sads (sad_sha256, credential_id, hashes, remaining, budget, consumed, "
                           "mac, expires_at, created_at) VALUES (:d, :c, :h, 10, 10, '[]', :m, :e, :e)"),
                      {"d": hashlib.sha256(sad.encode()).hexdigest(), "c": cred,
                       "h": json.dumps(sorted(h.hex() for h in bound)), "m": mac, "e": expires})
        attempts[name] = (sad, cred)
    refusals = [
        sign_v1(env, attempts["official, no MAC"][0], chosen),
        sign_v1(env, attempts["official, a guessed MAC"][0], chosen),
        sign_v2(env, attempts["official, a guessed MAC"][0], chosen),
        sign_doc(env, attempts["official, the PDF's hash"][0], pdf),
        sign_v1(env, attempts["seal, a guessed MAC"][0], chosen, cred=seal),
        sign_v2(env, attempts["seal, a guessed MAC"][0], chosen, cred=seal),
    ]
    assert [(r.status_code, r.json["error_description"]) for r in refusals] == \
        [(400, "Invalid parameter SAD")] * len(refusals)
    assert all("signatures" not in r.json and "documentWithSignature" not in r.json for r in refusals)
    assert audit_errors(env, "csc.signHash").count("Invalid parameter SAD") == 5
    assert audit_errors(env, "csc.signDoc") == ["Invalid parameter SAD"]
    # The budget of a refused row is untouched: nothing was spent, nothing was signed.
    with env["db"].connect() as c:
        assert set(c.execute(text("SELECT remaining FROM csc_sads")).scalars()) == {10}


def test_en_419_241_1_a_sad_whose_hashes_budget_or_expiry_were_raised_by_hand_is_refused(env: dict) -> None:
    """A genuine SAD for one hash: adding a hash, raising its budget or pushing its expiry in the
    database makes it sign nothing; put back as issued, it signs (the MAC is what decides)."""
    h1, h2 = hashlib.sha256(b"authorised").digest(), hashlib.sha256(b"smuggled").digest()
    sad = authorize_v1(env, [h1]).json["SAD"]
    row = sad_row(env, sad)
    assert row["mac"] and row["budget"] == row["remaining"] == 1 and json.loads(row["hashes"]) == [h1.hex()]
    digest = row["sad_sha256"]
    issued = dt.datetime.fromisoformat(str(row["expires_at"]))  # SQLite hands back text
    raised = {
        "hashes": {"hashes": json.dumps(sorted([h1.hex(), h2.hex()]))},
        "budget": {"budget": 5, "remaining": 5},
        "remaining above the budget": {"remaining": 2},
        "expiry": {"expires_at": issued + dt.timedelta(hours=1)},
    }
    for name, values in raised.items():
        set_row(env, digest, **values)
        for attempt in (sign_v1(env, sad, [h1]), sign_v2(env, sad, [h1]), sign_v1(env, sad, [h2])):
            assert (attempt.status_code, attempt.json["error_description"]) == (400, "Invalid parameter SAD"), name
        set_row(env, digest, hashes=row["hashes"], budget=row["budget"], remaining=row["remaining"],
                expires_at=row["expires_at"])
    ok = sign_v1(env, sad, [h1])
    assert ok.status_code == 200 and len(ok.json["signatures"]) == 1
    assert sad_row(env, sad)["remaining"] == 0 and json.loads(sad_row(env, sad)["consumed"]) == [h1.hex()]


def _data_directory_keys(home: Path) -> dict[str, bytes]:
    """Every file of the data directory outside the token itself (hsm/tokens), as key material."""
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*"))
            if p.is_file() and "tokens" not in p.relative_to(home).parts}


def test_csc_access_token_computed_from_anything_in_the_data_directory_outside_the_token_is_refused(
        env: dict) -> None:
    """The earlier scheme (HMAC under a key derived from secrets/server.key) and the current
    format keyed by any file of the data directory (configuration, database, PIN files, a server
    secret): refused on v1 and v2 alike. A token from auth/login works and lives an hour at most."""
    home: Path = env["cli"].home
    client_id = env["tokens"]["A"].split("_")[1]
    expires = int(dt.datetime.now(dt.timezone.utc).timestamp()) + 600
    body = f"{client_id}.{expires}"
    from signer.remote.officials import SecretBox

    SecretBox.create(home / "secrets" / "server.key")  # the master secret of an earlier version's data directory
    files = _data_directory_keys(home)
    assert {"govca.toml", "secrets/server.key"} <= set(files) and len(files) >= 4
    forged = []
    for material in files.values():
        old_key = HKDF(chashes.SHA256(), 32, salt=None, info=b"govca csc access token v1").derive(material)
        forged.append(f"csc1.{body}.{hmac.new(old_key, body.encode(), hashlib.sha256).hexdigest()}")
        for key in (material, hashlib.sha256(material).digest(), old_key):
            for message in (body.encode(), b"govca CSC access token v2\x00" + f"{client_id}\x00{expires}".encode()):
                mac = base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).rstrip(b"=")
                forged.append(f"csc1.{body}.{mac.decode()}")
    for n, token in enumerate(forged):
        for path in ("/csc/v1/credentials/list", "/csc/v2/credentials/list"):
            r = post(env, path, {}, token=token, addr=f"10.0.{n // 250}.{n % 250 + 1}")
            assert (r.status_code, r.json["error"]) == (401, "invalid_token"), (path, token)
    login = env["client"].post("/csc/v1/auth/login", headers={
        "Authorization": "Basic " + base64.b64encode(f"{client_id}:{env['tokens']['A']}".encode()).decode()})
    assert login.status_code == 200 and 0 < login.json["expires_in"] <= 3600
    assert post(env, "/csc/v1/credentials/list", {}, token=login.json["access_token"]).status_code == 200


def test_csc_access_token_expiring_more_than_an_hour_ahead_is_refused_even_with_the_hsm_mac(env: dict) -> None:
    """Tokens made with the service token's own key: within the hour accepted; further ahead, or
    expired, refused (an access token lives at most an hour)."""
    from cli.compose import service_token
    from cli.config import load_config
    from hsm.mac import mac_key
    from signer.credentials import ACCESS_TOKEN_KEY_LABEL, AccessTokens

    tokens = AccessTokens(mac_key(service_token(load_config(env["cli"].home)), ACCESS_TOKEN_KEY_LABEL).mac)
    client_id = int(env["tokens"]["A"].split("_")[1])
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    within, _ = tokens.issue(client_id, now, 3000)
    too_far, _ = tokens.issue(client_id, now + 600, 3600)       # expires 4200 s from now
    years, _ = tokens.issue(client_id, now + 3 * 365 * 86400, 3600)
    expired, _ = tokens.issue(client_id, now - 7200, 3600)
    assert post(env, "/csc/v1/credentials/list", {}, token=within).status_code == 200
    for token in (too_far, years, expired):
        for path in ("/csc/v1/credentials/list", "/csc/v2/credentials/list"):
            r = post(env, path, {}, token=token)
            assert (r.status_code, r.json["error"]) == (401, "invalid_token")
    assert tokens.issue(client_id, now, 10 * 86400)[1] == 3600   # a longer lifetime asked for is cut to an hour


def test_en_419_241_1_clearing_the_lock_in_the_database_does_not_bypass_the_pin_and_otp_check(env: dict) -> None:
    """Five wrong factors lock the credential; a database writer clears the lock: the next wrong
    PIN (with a right OTP) is still refused, counted and audited, and no SAD is issued."""
    h = hashlib.sha256(b"x").digest()
    totp, wrong = pyotp.TOTP(env["seed"]), wrong_otp(env["seed"])
    for _ in range(5):
        assert authorize_v1(env, [h], code=wrong).status_code == 400
    assert authorize_v1(env, [h], code=wrong).json["error_description"] == "PIN locked"
    with env["db"].begin() as c:
        c.execute(text("UPDATE officials SET locked_until = NULL, failed_attempts = 0"))
    r = authorize_v1(env, [h], pin="999999", code=totp.now())
    assert (r.status_code, r.json["error_description"]) == (400, "The PIN or OTP is invalid")
    with env["db"].connect() as c:
        assert c.execute(text("SELECT failed_attempts FROM officials WHERE id = :i"), {"i": env["id"]}).scalar() == 1
        assert c.execute(text("SELECT count(*) FROM csc_sads")).scalar() == 0
    assert audit_errors(env, "csc.authorize")[-1] == "invalid_pin"


def test_khmthor_36_2566_totp_seeds_open_only_in_the_service_token_not_with_server_key(env: dict) -> None:
    """The seed column is the HSM format (AES-256-GCM in the token, AAD the official's id), not
    the earlier SecretBox blob: no server secret opens it, and the AES key is sensitive and not
    extractable."""
    from signer.remote.officials import TOTP_PURPOSE, SecretBox

    home: Path = env["cli"].home
    with env["db"].connect() as c:
        blob = bytes(c.execute(text("SELECT totp_secret_enc FROM officials")).scalar_one())
    assert blob.startswith(HSM_SEED) and env["seed"].encode() not in blob
    server_key = home / "secrets" / "server.key"
    if not server_key.exists():  # a data directory made now has none; try one all the same
        SecretBox.create(server_key)
    for candidate in (blob, blob[len(HSM_SEED):]):
        with pytest.raises(Exception):
            SecretBox(server_key).open(candidate, TOTP_PURPOSE, str(env["id"]).encode())
    keys = [k for k in json.loads(env["cli"]("hsm", "keys", "--json").stdout) if k["label"] == "govca-totp-aes-v1"]
    assert [(k["object_class"], k["sensitive"], k["extractable"]) for k in keys] == [("secret", True, False)]
    # The token opens it: the official authorises as before.
    assert authorize_v1(env, [hashlib.sha256(b"y").digest()]).status_code == 200


def _legacy_seed(env: dict) -> None:
    """The official's seed rewritten as an earlier version stored it: SecretBox under server.key."""
    from signer.remote.officials import TOTP_PURPOSE, SecretBox

    server_key = env["cli"].home / "secrets" / "server.key"
    SecretBox.create(server_key)
    legacy = SecretBox(server_key).seal(env["seed"].encode(), TOTP_PURPOSE, str(env["id"]).encode())
    with env["db"].begin() as c:
        c.execute(text("UPDATE officials SET totp_secret_enc = :b WHERE id = :i"), {"b": legacy, "i": env["id"]})


def test_a_legacy_secretbox_seed_authorises_once_and_is_then_re_encrypted_in_the_hsm(env: dict) -> None:
    _legacy_seed(env)
    h1, h2 = hashlib.sha256(b"first").digest(), hashlib.sha256(b"second").digest()
    first = authorize_v1(env, [h1])
    assert first.status_code == 200 and sign_v1(env, first.json["SAD"], [h1]).status_code == 200
    with env["db"].connect() as c:
        blob = bytes(c.execute(text("SELECT totp_secret_enc FROM officials")).scalar_one())
    assert blob.startswith(HSM_SEED)
    (env["cli"].home / "secrets" / "server.key").unlink()  # no longer needed for this seed
    assert authorize_v1(env, [h2]).status_code == 200


def test_official_upgrade_keys_re_encrypts_legacy_seeds_under_the_hsm_key(env: dict) -> None:
    _legacy_seed(env)
    out = env["cli"]("official", "upgrade-keys", "--json").stdout
    assert json.loads(out)["seeds_reencrypted"] == 1
    with env["db"].connect() as c:
        assert bytes(c.execute(text("SELECT totp_secret_enc FROM officials")).scalar_one()).startswith(HSM_SEED)
    (env["cli"].home / "secrets" / "server.key").unlink()
    assert authorize_v1(env, [hashlib.sha256(b"z").digest()]).status_code == 200
    assert json.loads(env["cli"]("official", "upgrade-keys", "--json").stdout)["seeds_reencrypted"] == 0


def test_without_its_authorisation_keys_remote_signing_answers_503_and_writes_nothing(env: dict) -> None:
    """`govca serve` never makes these keys: with the SAD and access-token MAC keys gone from the
    service token, auth/login and authorize answer 503 naming the administrator's command, no SAD
    row is written and the TOTP code is not consumed; after `govca official upgrade-keys` the
    same code authorises."""
    from cli.compose import service_token
    from cli.config import load_config
    from signer.credentials import ACCESS_TOKEN_KEY_LABEL
    from signer.remote.csc import KEYS_MISSING, SAD_KEY_LABEL

    token = service_token(load_config(env["cli"].home))
    for label in (SAD_KEY_LABEL, ACCESS_TOKEN_KEY_LABEL):
        token.call(lambda _s, label=label: token.find_secret_key(label).destroy())
    env["client"] = create_app(env["cli"].home).test_client()  # a fresh worker: its index has neither key
    client_id = env["tokens"]["A"].split("_")[1]
    basic = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{env['tokens']['A']}".encode()).decode()}
    login = env["client"].post("/csc/v1/auth/login", headers=basic)
    assert (login.status_code, login.json["error_description"]) == (503, KEYS_MISSING)
    code = otp(env)
    refused = authorize_v1(env, [hashlib.sha256(b"k").digest()], code=code)
    assert (refused.status_code, refused.json["error_description"]) == (503, KEYS_MISSING)
    with env["db"].connect() as c:
        assert c.execute(text("SELECT count(*) FROM csc_sads")).scalar() == 0
        assert c.execute(text("SELECT last_totp_step, failed_attempts FROM officials")).one() == (0, 0)
    env["cli"]("official", "upgrade-keys")
    assert env["client"].post("/csc/v1/auth/login", headers=basic).status_code == 200
    assert authorize_v1(env, [hashlib.sha256(b"k").digest()], code=code).status_code == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_under_the_web_role_a_legacy_seed_still_authorises_and_is_left_for_upgrade_keys(env: dict) -> None:
    """The PostgreSQL web role may write officials' lockout columns only (README, database roles):
    a seed of the earlier format authorises under it and stays as it is (the re-encryption is a
    savepoint that gives way), and `govca official upgrade-keys`, run as the owner, re-encrypts it."""
    from test_web_role import role_url, set_serve_url

    _legacy_seed(env)
    home: Path = env["cli"].home
    role = f"govca_web_{secrets.token_hex(4)}"
    env["cli"]("db", "grant-web-role", role)
    try:
        set_serve_url(home, role_url(str(env["db"].url.render_as_string(hide_password=False)), role))
        env["client"] = create_app(home).test_client()
        assert authorize_v1(env, [hashlib.sha256(b"web").digest()]).status_code == 200
        with env["db"].connect() as c:
            blob, step = c.execute(text("SELECT totp_secret_enc, last_totp_step FROM officials")).one()
        assert not bytes(blob).startswith(HSM_SEED) and step > 0   # the step is taken; the seed left
        assert json.loads(env["cli"]("official", "upgrade-keys", "--json").stdout)["seeds_reencrypted"] == 1
        assert authorize_v1(env, [hashlib.sha256(b"web2").digest()]).status_code == 200
    finally:
        env["client"] = None
        with env["db"].begin() as c:
            c.exec_driver_sql(f'DROP OWNED BY "{role}"')
            c.exec_driver_sql(f'DROP ROLE "{role}"')
