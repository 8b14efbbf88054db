"""Issue 6: the CSC v1 API over govca's remote-signing core (ขมธอ. 36-2566 SCAL2)."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from cli.web import create_app
from conftest import Cli, make_home, run
from ocsp_helpers import LiveServer, free_port
from sealing_helpers import sample_pdf, setup_sealing


def enrol(cli: Cli, tmp: Path, agency: str = "A") -> tuple[int, str, str]:
    """(official id, TOTP seed, PIN) of a freshly enrolled official."""
    pin = tmp / f"pin-{agency}"
    pin.write_text("135790\n")
    pin.chmod(0o600)
    oid = json.loads(cli("official", "add", "--agency", agency, "--given-name-th", "วิชัย", "--surname-th", "รักษ์ไทย",
                         "--given-name-en", "Wichai", "--surname-en", "Rakthai", "--title", "Director",
                         "--json").stdout)["id"]
    out = cli("official", "enrol", str(oid), "--pin-file", str(pin), "--no-qr").stdout
    seed = parse_qs(urlparse(re.search(r"otpauth://totp/\S+", out).group(0)).query)["secret"][0]
    return oid, seed, "135790"


@pytest.fixture
def env(cli: Cli, tmp_path: Path) -> dict:
    info = setup_sealing(cli, tmp_path)
    oid, seed, pin = enrol(cli, tmp_path)
    client = create_app(cli.home).test_client()
    return {**info, "cli": cli, "client": client, "cred": f"official-{oid}", "seed": seed, "pin": pin, "id": oid}


def call(env: dict, method: str, body: dict, agency: str = "A"):  # type: ignore[no-untyped-def]
    return env["client"].post(f"/csc/v1/{method}", json=body, headers={"Authorization": f"Bearer {env['tokens'][agency]}"})


def wrong_otp(seed: str) -> str:
    """A six-digit code that is none of the codes valid now (one step of drift either way) or at the next step."""
    totp, now = pyotp.TOTP(seed), dt.datetime.now(dt.timezone.utc)
    valid = {totp.at(now + dt.timedelta(seconds=30 * k)) for k in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in valid)


def fresh_otp(env: dict) -> str:
    """A code not used before: RFC 6238 5.2 accepts each code once, and the verifier allows one
    step of drift, so a test can authorise twice per 30-second step (codes of t and t+1; t-1
    is not used, as it could fall out of the window at a step boundary)."""
    env["step"] = env.get("step", -1) + 1
    assert env["step"] <= 1, "at most two authorisations per TOTP step"
    totp = pyotp.TOTP(env["seed"])
    return totp.at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30 * env["step"]))


def authorize(env: dict, hashes: list[bytes], otp: str | None = None, pin: str | None = None, n: int | None = None):  # type: ignore[no-untyped-def]
    return call(env, "credentials/authorize", {
        "credentialID": env["cred"], "numSignatures": len(hashes) if n is None else n,
        "hash": [base64.b64encode(h).decode() for h in hashes], "PIN": pin or env["pin"],
        "OTP": otp or fresh_otp(env)})


def sign(env: dict, sad: str, hashes: list[bytes], cred: str | None = None):  # type: ignore[no-untyped-def]
    return call(env, "signatures/signHash", {"credentialID": cred or env["cred"], "SAD": sad,
                                             "hashAlgo": "2.16.840.1.101.3.4.2.1", "signAlgo": "1.2.840.10045.4.3.2",
                                             "hash": [base64.b64encode(h).decode() for h in hashes]})


def test_credentials_list_and_info_follow_the_csc_v1_wire_format(env: dict) -> None:
    ids = call(env, "credentials/list", {}).json["credentialIDs"]
    assert env["cred"] in ids and any(i.startswith("seal-") for i in ids)
    info = call(env, "credentials/info", {"credentialID": env["cred"], "certificates": "chain"}).json
    assert info["SCAL"] == "2" and info["authMode"] == "explicit" and info["OTP"]["type"] == "offline"
    assert info["PIN"]["presence"] == "true" and info["multisign"] >= 1
    assert "1.2.840.10045.4.3.2" in info["key"]["algo"]  # docs/csc.md interop rule 1: combined OIDs
    assert len(info["cert"]["certificates"]) == 3
    assert env["cred"] not in call(env, "credentials/list", {}, agency="B").json["credentialIDs"]
    other = call(env, "credentials/info", {"credentialID": env["cred"]}, agency="B")
    assert other.status_code == 400 and other.json["error"] == "invalid_request"
    assert call(env, "credentials/list", {}, agency="B").json["credentialIDs"] and \
        env["cred"] not in call(env, "credentials/list", {}, agency="B").json["credentialIDs"]


def test_acceptance3_scal2_sad_is_bound_to_its_hashes_count_expiry_and_credential(env: dict) -> None:
    h1, h2 = hashlib.sha256(b"one").digest(), hashlib.sha256(b"two").digest()
    sad = authorize(env, [h1]).json["SAD"]
    wrong = sign(env, sad, [h2])
    assert wrong.status_code == 400 and wrong.json["error_description"] == "Hash is not authorized by the SAD."
    ok = sign(env, sad, [h1])
    assert ok.status_code == 200 and len(ok.json["signatures"]) == 1
    replay = sign(env, sad, [h1])
    assert replay.status_code == 400 and replay.json["error"] == "invalid_request"
    seal_cred = next(i for i in call(env, "credentials/list", {}).json["credentialIDs"] if i.startswith("seal-"))
    sad2 = authorize(env, [h2]).json["SAD"]
    other = sign(env, sad2, [h2], cred=seal_cred)
    assert other.status_code == 400 and other.json["error_description"] == "Invalid parameter SAD"
    # After its expiry a SAD signs nothing.
    from sqlalchemy import create_engine, text

    from cli.config import load_config

    engine = create_engine(load_config(env["cli"].home).database_url)
    with engine.begin() as c:
        c.execute(text("UPDATE csc_sads SET expires_at = :t"), {"t": dt.datetime(2000, 1, 1)})
    expired = sign(env, sad2, [h2])
    assert expired.status_code == 400 and expired.json["error_description"] == "SAD expired"


def test_acceptance2_five_wrong_otps_lock_the_credential_then_the_lock_expires(env: dict) -> None:
    h = hashlib.sha256(b"x").digest()
    wrong = wrong_otp(env["seed"])
    for _ in range(5):
        r = authorize(env, [h], otp=wrong)
        assert r.status_code == 400 and r.json["error"] == "invalid_request"  # v1: not which factor
        assert r.json["error_description"] == "The PIN or OTP is invalid"
    locked = authorize(env, [h])
    assert locked.status_code == 400 and locked.json["error_description"] == "PIN locked"
    wrong_pin = authorize(env, [h], pin="999999", otp=wrong)
    assert wrong_pin.status_code == 400 and wrong_pin.json["error_description"] == "PIN locked"
    from sqlalchemy import create_engine, text

    from cli.config import load_config

    engine = create_engine(load_config(env["cli"].home).database_url)
    with engine.begin() as c:  # the lock time passes
        c.execute(text("UPDATE officials SET locked_until = :t"), {"t": dt.datetime(2000, 1, 1)})
    assert authorize(env, [h]).status_code == 200
    refusals = [r for r in json.loads(env["cli"]("audit", "list", "--limit", "30", "--json").stdout)
                if r["action"] == "csc.authorize" and r["outcome"] == "refused"]
    assert len(refusals) >= 7 and refusals[0]["details"]["hashes"] == [h.hex()]


def test_rfc6238_5_2_an_accepted_otp_is_not_accepted_a_second_time(env: dict) -> None:
    h = hashlib.sha256(b"y").digest()
    code = fresh_otp(env)
    assert authorize(env, [h], otp=code).status_code == 200
    again = authorize(env, [h], otp=code)
    assert again.status_code == 400 and again.json["error"] == "invalid_request"
    assert again.json["error_description"] == "The OTP was already used; wait for the next code"


def test_acceptance4_a_suspended_official_cannot_authorise_and_is_listed_disabled(env: dict) -> None:
    env["cli"]("official", "suspend", str(env["id"]))
    info = call(env, "credentials/info", {"credentialID": env["cred"]}).json
    assert info["key"]["status"] == "disabled"
    r = authorize(env, [hashlib.sha256(b"x").digest()])
    assert r.status_code == 400 and "disabled" in r.json["error_description"]


def test_rfc6238_5_2_two_requests_racing_for_one_code_only_one_wins(env: dict) -> None:
    """Two requests with the same right code at once: the factor check and the code's use are one
    step under the official's row lock, so one wins; the other is refused as a code already
    used, stores no SAD, is audited (otp_reused) and, its PIN being right, not counted."""
    import threading

    code = fresh_otp(env)
    barrier, answers = threading.Barrier(2), []

    def go(i: int) -> None:
        barrier.wait()
        answers.append(authorize(env, [hashlib.sha256(b"raced %d" % i).digest()], otp=code))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [200, 400]
    assert next(r for r in answers if r.status_code == 400).json["error_description"] == \
        "The OTP was already used; wait for the next code"
    events = json.loads(env["cli"]("audit", "list", "--action", "csc.authorize", "--json").stdout)
    assert sorted((e["outcome"], e["details"].get("error"), e["details"].get("failed_attempts")) for e in events) == \
        [("refused", "otp_reused", None), ("success", None, None)]
    assert authorize(env, [hashlib.sha256(b"next code").digest()]).status_code == 200


def test_a_resumed_official_authorises_again(env: dict) -> None:
    env["cli"]("official", "suspend", str(env["id"]))
    assert "active again" in env["cli"]("official", "resume", str(env["id"])).stdout
    assert call(env, "credentials/info", {"credentialID": env["cred"]}).json["key"]["status"] == "enabled"
    h = hashlib.sha256(b"after resume").digest()
    assert authorize(env, [h]).status_code == 200
    again = env["cli"]("official", "resume", str(env["id"]), ok=False)
    assert again.exit_code != 0 and "already active" in again.stderr


def test_rfc5280_6_1_3_a_certificate_revoked_behind_the_officials_back_disables_the_credential(env: dict) -> None:
    """`govca cert revoke` of the official's certificate, not `official revoke`: the credential
    must still refuse, as a signature with a revoked certificate would not validate."""
    serial = json.loads(env["cli"]("official", "list", "--json").stdout)[0]["certificate_serial"]
    env["cli"]("cert", "revoke", "--ca", "issuing", serial, "--reason", "keyCompromise")
    assert call(env, "credentials/info", {"credentialID": env["cred"]}).json["key"]["status"] == "disabled"
    r = authorize(env, [hashlib.sha256(b"x").digest()])
    assert r.status_code == 400 and "disabled" in r.json["error_description"]
    # `official revoke` afterwards records the official as revoked without revoking twice.
    out = env["cli"]("official", "revoke", str(env["id"])).stdout
    assert "already revoked" in out
    assert json.loads(env["cli"]("official", "list", "--json").stdout)[0]["status"] == "revoked"


def test_official_revoke_revokes_the_certificate_publishes_a_crl_and_is_final(env: dict) -> None:
    cli = env["cli"]
    # RFC 5280 5.3.1 / no un-revocation: certificateHold is refused before anything changes.
    assert cli("official", "revoke", str(env["id"]), "--reason", "certificateHold", ok=False).exit_code != 0
    assert json.loads(cli("official", "list", "--json").stdout)[0]["status"] == "active"
    h = hashlib.sha256(b"before").digest()
    sad = authorize(env, [h]).json["SAD"]        # a SAD issued before the revocation ...
    out = cli("official", "revoke", str(env["id"]), "--reason", "affiliationChanged").stdout
    assert "CRL #" in out and "affiliationChanged" in out
    serial = json.loads(cli("official", "list", "--json").stdout)[0]["certificate_serial"]
    cert = json.loads(cli("cert", "show", "--ca", "issuing", serial, "--json").stdout)
    assert cert["revocation_reason"] == "affiliationChanged" and cert["revoked_at"]
    r = sign(env, sad, [h])                       # ... signs nothing after it
    assert r.status_code == 400 and "disabled" in r.json["error_description"]
    for cmd in ("resume", "suspend", "revoke"):
        refused = cli("official", cmd, str(env["id"]), ok=False)
        assert refused.exit_code != 0 and "revoked" in refused.stderr, cmd
    actions = [r["action"] for r in json.loads(cli("audit", "list", "--limit", "50", "--json").stdout)]
    assert "official.revoke" in actions


def test_official_revoke_interrupted_before_the_certificate_is_completed_by_running_it_again(env: dict) -> None:
    from cli.compose import service_token
    from cli.config import load_config
    from cli.signer_wiring import official_repository
    from ca import Database
    from signer.remote.officials import OfficialStatus

    cfg = load_config(env["cli"].home)
    repo = official_repository(env["cli"].home, Database(cfg.database_url), service_token(cfg))
    repo.set_status(env["id"], OfficialStatus.REVOKED)  # as if the run stopped right after this step
    serial = json.loads(env["cli"]("official", "list", "--json").stdout)[0]["certificate_serial"]
    assert json.loads(env["cli"]("cert", "show", "--ca", "issuing", serial, "--json").stdout)["revoked_at"] is None
    assert "CRL #" in env["cli"]("official", "revoke", str(env["id"])).stdout
    assert json.loads(env["cli"]("cert", "show", "--ca", "issuing", serial, "--json").stdout)["revoked_at"]


def test_acceptance1_pyhanko_csc_signer_signs_through_govca_csc_v1(tmp_path: Path) -> None:
    from asn1crypto import pem
    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.signers import PdfSignatureMetadata, async_sign_pdf, csc_signer
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext
    import aiohttp

    port = free_port()
    cli = Cli(make_home(tmp_path, base_url=f"http://127.0.0.1:{port}"))
    info = setup_sealing(cli, tmp_path)
    oid, seed, pin = enrol(cli, tmp_path)
    server = LiveServer(cli.home, port)
    try:
        client_id, secret = info["tokens"]["A"].split("_", 2)[1:]

        class PinOtpAuth(csc_signer.CSCAuthorizationManager):
            def __init__(self, session, session_info, creds):  # type: ignore[no-untyped-def]
                super().__init__(session_info, creds)
                self.session = session

            async def authorize_signature(self, hash_b64s):  # type: ignore[no-untyped-def]
                req = self.format_csc_auth_request(hash_b64s=hash_b64s, pin=pin, otp=pyotp.TOTP(seed).now())
                # (one authorisation in this test: the current code is used once, RFC 6238 5.2)
                async with self.session.post(self.csc_session_info.endpoint_url("credentials/authorize"),
                                             headers=self.auth_headers, json=req, raise_for_status=True) as r:
                    return self.parse_csc_auth_response(await r.json())

        async def go() -> bytes:
            async with aiohttp.ClientSession() as s:
                basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
                async with s.post(f"{server.url}/csc/v1/auth/login", json={},
                                  headers={"Authorization": f"Basic {basic}"}, raise_for_status=True) as r:
                    token = (await r.json())["access_token"]
                session_info = csc_signer.CSCServiceSessionInfo(server.url, f"official-{oid}", oauth_token=token)
                creds = await csc_signer.fetch_certs_in_csc_credential(s, session_info)
                signer = csc_signer.CSCSigner(s, auth_manager=PinOtpAuth(s, session_info, creds))
                out = await async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(sample_pdf())),
                                           PdfSignatureMetadata(field_name="Official"), signer=signer)
                return out.getvalue()

        signed = asyncio.run(go())
        doc = tmp_path / "official-signed.pdf"
        doc.write_bytes(signed)
        nss = tmp_path / "nss"
        nss.mkdir()
        assert run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"]).returncode == 0
        assert run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "govca-root", "-t", "CT,C,C", "-a", "-i",
                    str(info["files"]["root"])]).returncode == 0
        # pdfsig asks the OCSP responder named in the certificate, so the server is still up.
        r = run(["pdfsig", "-nssdir", f"sql:{nss}", str(doc)])
    finally:
        server.stop()
    assert "Signature is Valid." in r.stdout and "Certificate is Trusted." in r.stdout, r.stdout + r.stderr
    assert "วิชัย รักษ์ไทย" in r.stdout
    root = ax509.Certificate.load(pem.unarmor(info["files"]["root"].read_bytes())[2])
    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    status = validate_pdf_signature(sig, signer_validation_context=ValidationContext(trust_roots=[root]))
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert sig.signer_cert.subject.native["common_name"] == "วิชัย รักษ์ไทย"
    # The verification report names the official in English too (the certificate is Thai only).
    from cli.web import create_app

    report = create_app(cli.home).test_client().post("/api/v1/verify", data=signed,
                                                     content_type="application/pdf").json
    assert report["signatures"][0]["signer"]["name_en"] == "Wichai Rakthai", report["signatures"][0]["signer"]


def test_seals_are_reachable_through_csc_at_scal1_with_a_signature_budget(env: dict) -> None:
    seal = next(i for i in call(env, "credentials/list", {}).json["credentialIDs"] if i.startswith("seal-"))
    info = call(env, "credentials/info", {"credentialID": seal}).json
    assert info["SCAL"] == "1" and info["authMode"] == "implicit" and info["multisign"] == 100
    sad = call(env, "credentials/authorize", {"credentialID": seal, "numSignatures": 2}).json["SAD"]
    hashes = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    assert sign(env, sad, hashes[:2], cred=seal).status_code == 200
    over = sign(env, sad, hashes[2:], cred=seal)
    assert over.status_code == 400 and over.json["error_description"] == "Numbers of signatures is too high"
    too_many = call(env, "credentials/authorize", {"credentialID": seal, "numSignatures": 101})
    assert too_many.status_code == 400 and too_many.json["error_description"] == "Numbers of signatures is too high"


def test_acceptance5_sra_skm_14_no_administrator_path_signs_with_an_officials_key(env: dict) -> None:
    h = hashlib.sha256(b"z").digest()
    official = json.loads(env["cli"]("official", "list", "--json").stdout)[0]
    # The sealing API signs only with seals: naming the official's certificate is refused.
    r = env["client"].post("/api/v1/sign", data={"file": (io.BytesIO(sample_pdf()), "x.pdf"),
                                                  "options": json.dumps({"seal": official["certificate_serial"],
                                                                         "level": "B-B"})},
                           headers={"Authorization": f"Bearer {env['tokens']['A']}"}, content_type="multipart/form-data")
    assert r.status_code in (403, 404)
    # CSC: without PIN and OTP, with the PIN alone, with a made-up SAD, or with a seal's SAD: refused.
    for body in ({"credentialID": env["cred"], "numSignatures": 1, "hash": [base64.b64encode(h).decode()]},
                 {"credentialID": env["cred"], "numSignatures": 1, "hash": [base64.b64encode(h).decode()],
                  "PIN": env["pin"]}):
        assert call(env, "credentials/authorize", body).status_code == 400
    assert sign(env, "made-up-sad", [h]).status_code == 400
    seal = next(i for i in call(env, "credentials/list", {}).json["credentialIDs"] if i.startswith("seal-"))
    seal_sad = call(env, "credentials/authorize", {"credentialID": seal, "numSignatures": 1}).json["SAD"]
    assert sign(env, seal_sad, [h]).status_code == 400
    # Another agency's client cannot even see the credential.
    assert call(env, "credentials/authorize", {"credentialID": env["cred"], "numSignatures": 1,
                                               "hash": [base64.b64encode(h).decode()], "PIN": env["pin"],
                                               "OTP": fresh_otp(env)}, agency="B").status_code == 400
    # No CLI command takes an official's credential to sign with: the command groups are listed here,
    # and none of them has a sign, authorise or hash-signing command.
    from cli.main import main

    def walk(group, prefix=()):  # type: ignore[no-untyped-def]
        for name, cmd in group.commands.items():
            yield (*prefix, name)
            if hasattr(cmd, "commands"):
                yield from walk(cmd, (*prefix, name))

    names = {" ".join(p) for p in walk(main)}
    assert not [n for n in names if any(w in n for w in ("sign", "authoriz", "authoris"))], names


def test_acceptance6_each_authorisation_and_signature_is_audited_and_the_chain_verifies(env: dict) -> None:
    h = hashlib.sha256(b"audited").digest()
    sad = authorize(env, [h]).json["SAD"]
    assert sign(env, sad, [h]).status_code == 200
    records = json.loads(env["cli"]("audit", "list", "--limit", "10", "--json").stdout)
    auth = [r for r in records if r["action"] == "csc.authorize" and r["outcome"] == "success"][-1]
    signed = [r for r in records if r["action"] == "csc.signHash" and r["outcome"] == "success"][-1]
    assert auth["subject"] == env["cred"] and auth["details"]["hashes"] == [h.hex()]
    assert signed["details"]["hashes"] == [h.hex()] and signed["actor"].startswith("api:client-")
    assert sad not in json.dumps(records) and env["pin"] not in json.dumps(records)
    assert "audit chain intact" in env["cli"]("audit", "verify").stdout
