"""Issue 11, acceptance 4: `govca serve` under its own PostgreSQL role (`govca db grant-web-role`,
`[serve] database_url`) serves everything, and that role cannot write certificates, serials, CAs,
CRLs, agencies, seals, API clients or TSA units, nor rewrite the audit log (ETSI EN 319 401 7.4
access control, required by EN 319 411-1: CA functions only by the CA's operators; ขมธอ. 36-2566:
the signing service never issues).
Real PostgreSQL (skipped, saying so, where none answers), real SoftHSM, real `govca serve`."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import urllib.parse
from pathlib import Path

import pyotp
import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509 import ocsp
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import ProgrammingError

from cli.config import load_config
from conftest import Cli, make_home
from ocsp_helpers import LiveServer, free_port, request_der
from verify_helpers import http, multipart

PG_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


# --- a client of the served surface (urllib: what any integrator has; tests/verify_helpers.py) ----

def post_json(url: str, body: dict, token: str) -> tuple[int, dict]:
    status, _, data = http(url, json.dumps(body).encode(), {"Content-Type": "application/json",
                                                            "Authorization": f"Bearer {token}"})
    return status, json.loads(data or b"{}")


def ocsp_get(base: str, cert: x509.Certificate, issuer: x509.Certificate,
             algorithm: hashes.HashAlgorithm | None = None) -> tuple[ocsp.OCSPResponse, dict]:
    """An RFC 5019 GET (no nonce: the pre-signed answer), CertID hashed with ``algorithm`` (SHA-1)."""
    der = request_der(cert, issuer, algorithm=algorithm)
    encoded = urllib.parse.quote(base64.b64encode(der).decode(), safe="")
    status, headers, body = http(f"{base}/ocsp/{encoded}")
    assert status == 200, body[:200]
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return resp, headers


def ocsp_post_nonce(base: str, cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPResponse:
    """An RFC 6960 POST with a nonce (RFC 8954): signed for this request, nonce echoed."""
    nonce = secrets.token_bytes(16)
    status, _, body = http(f"{base}/ocsp", request_der(cert, issuer, nonce=nonce),
                           {"Content-Type": "application/ocsp-request"})
    assert status == 200
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    return resp


class Demo:
    """What `govca demo` made in a data directory: PEM files, the API token, the official's secrets."""

    def __init__(self, home: Path) -> None:
        self.home = home
        demo = home / "demo"
        self.root = x509.load_pem_x509_certificate((demo / "govca-root.pem").read_bytes())
        self.issuing = x509.load_pem_x509_certificate((demo / "govca-issuing.pem").read_bytes())
        self.token = (demo / "apiclient.token").read_text().strip()
        self.pin = (demo / "official.pin").read_text().strip()
        uri = (demo / "official.totp").read_text().strip()
        self.seed = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
        certs = json.loads(Cli(home)("cert", "list", "--json").stdout)
        self.valid_seal = next(c["serial"] for c in certs if c["profile"] == "eseal" and c["status"] == "valid")
        self.revoked_seal = next(c["serial"] for c in certs if c["profile"] == "eseal" and c["status"] == "revoked")
        self.pdf = (demo / "e-license-sample.pdf").read_bytes()

    def cert(self, serial: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.home / "demo" / f"eseal-{serial}.pem").read_bytes())

    def otp(self, steps_ahead: int) -> str:
        """The TOTP code of the current step (0) or the next (1): RFC 6238 5.2 accepts each once,
        and the verifier allows one step of drift, so two fresh codes are at hand at any time."""
        at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30 * steps_ahead)
        return pyotp.TOTP(self.seed).at(at)


def demo_home(tmp_path: Path, database_url: str, port: int) -> Path:
    """`govca demo` on PostgreSQL, made by the owner of the database (the administrator's URL)."""
    home = tmp_path / "govca-data"
    from cli.init_cmd import initialise

    initialise(home, database_url, f"http://127.0.0.1:{port}")
    Cli(home)("demo")
    return home


def set_serve_url(home: Path, url: str) -> None:
    config = home / "govca.toml"
    assert "[serve]" not in config.read_text()
    config.write_text(config.read_text() + f'\n[serve]\ndatabase_url = "{url}"\n')
    assert load_config(home).serve_database_url == url


def role_url(database_url: str, role: str) -> str:
    """The same database, logged in as ``role`` (trust authentication on the test server)."""
    scheme, rest = database_url.split("://", 1)
    return f"{scheme}://{role}@{rest.split('@', 1)[1]}"


def sign_hash_v1(base: str, demo: Demo, credential: str, sad: str, digests: list[bytes]) -> tuple[int, dict]:
    return post_json(f"{base}/csc/v1/signatures/signHash", {
        "credentialID": credential, "SAD": sad, "hashAlgo": "2.16.840.1.101.3.4.2.1",
        "signAlgo": "1.2.840.10045.4.3.2", "hash": [base64.b64encode(d).decode() for d in digests]}, demo.token)


def official_credential(base: str, demo: Demo) -> tuple[str, x509.Certificate]:
    status, listed = post_json(f"{base}/csc/v1/credentials/list", {}, demo.token)
    assert status == 200, listed
    cred = next(c for c in listed["credentialIDs"] if c.startswith("official-"))
    status, info = post_json(f"{base}/csc/v1/credentials/info", {"credentialID": cred, "certificates": "single"},
                             demo.token)
    assert status == 200, info
    return cred, x509.load_der_x509_certificate(base64.b64decode(info["cert"]["certificates"][0]))


def assert_signs(cert: x509.Certificate, digest: bytes, signature_b64: str) -> None:
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(signature_b64), digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def exercise_served_surface(base: str, demo: Demo) -> None:
    """Every route `govca serve` serves, each answered as it should be (acceptance 2 and 4)."""
    status, _, body = http(f"{base}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok", body
    # OCSP: pre-signed (RFC 5019 GET, cacheable) and with a nonce (RFC 6960 POST, signed now).
    good, revoked = demo.cert(demo.valid_seal), demo.cert(demo.revoked_seal)
    resp, headers = ocsp_get(base, good, demo.issuing)
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD and "public" in headers["Cache-Control"]
    resp, _ = ocsp_get(base, revoked, demo.issuing)
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert ocsp_post_nonce(base, good, demo.issuing).certificate_status == ocsp.OCSPCertStatus.GOOD
    # The repository: CRLs and CA certificates (RFC 5280 4.2.1.13, 4.2.2.1).
    # The CRL the revoked seal's CRL distribution point names: its partition (RFC 5280 5.2.5).
    dp = revoked.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0].full_name[0].value
    assert "/crl/govca-issuing/" in dp
    status, _, body = http(base + dp[dp.index("/crl/"):])
    assert status == 200 and x509.load_der_x509_crl(body).get_revoked_certificate_by_serial_number(
        int(demo.revoked_seal, 16)) is not None
    status, _, body = http(f"{base}/crl/govca-issuing.crl")  # the full CRL, for certificates that name it
    assert status == 200 and x509.load_der_x509_crl(body).issuer == demo.issuing.subject
    status, _, body = http(f"{base}/certs/govca-root.crt")
    assert status == 200 and x509.load_der_x509_certificate(body) == demo.root
    # Sealing at B-B and B-LTA (ETSI EN 319 142-1), each recorded in the document registry.
    sealed = {}
    for level in ("B-B", "B-LTA"):
        form, headers = multipart(demo.pdf, options=json.dumps({"level": level}))
        status, headers, body = http(f"{base}/api/v1/sign", form, {**headers, "Authorization": f"Bearer {demo.token}"})
        assert status == 200 and body.startswith(b"%PDF"), body[:300]
        sealed[level] = (body, headers["Location"].rsplit("/", 1)[1])
    # The TSA (RFC 3161 2.4.2).
    query = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"web role").digest()},
        "cert_req": True}).dump()
    status, _, body = http(f"{base}/tsa", query, {"Content-Type": "application/timestamp-query"})
    assert status == 200 and tsp.TimeStampResp.load(body)["status"]["status"].native == "granted"
    # Verification: the API and the page, on the registry record of the B-LTA document.
    pdf, doc_id = sealed["B-LTA"]
    status, _, body = http(f"{base}/api/v1/verify?document_id={doc_id}", pdf, {"Content-Type": "application/pdf"})
    report = json.loads(body)
    assert status == 200 and report["verdict"] == "valid" and report["registry"]["match"] is True, report
    form, headers = multipart(pdf)
    status, _, body = http(f"{base}/verify/{doc_id}", form, headers)
    assert status == 200 and doc_id.encode() in body
    # CSC v1 and v2: the official's PIN and a fresh TOTP code each (SCAL2), then signHash.
    cred, cert = official_credential(base, demo)
    digest = hashlib.sha256(b"v1 " + secrets.token_bytes(8)).digest()
    status, auth = post_json(f"{base}/csc/v1/credentials/authorize", {
        "credentialID": cred, "numSignatures": 1, "hash": [base64.b64encode(digest).decode()],
        "PIN": demo.pin, "OTP": demo.otp(0)}, demo.token)
    assert status == 200, auth
    status, signed = sign_hash_v1(base, demo, cred, auth["SAD"], [digest])
    assert status == 200, signed
    assert_signs(cert, digest, signed["signatures"][0])
    digest = hashlib.sha256(b"v2 " + secrets.token_bytes(8)).digest()
    status, auth = post_json(f"{base}/csc/v2/credentials/authorize", {
        "credentialID": cred, "numSignatures": 1, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
        "hashes": [base64.b64encode(digest).decode()],
        "authData": [{"id": "PIN", "value": demo.pin}, {"id": "OTP", "value": demo.otp(1)}]}, demo.token)
    assert status == 200, auth
    status, signed = post_json(f"{base}/csc/v2/signatures/signHash", {
        "credentialID": cred, "SAD": auth["SAD"], "signAlgo": "1.2.840.10045.4.3.2",
        "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "hashes": [base64.b64encode(digest).decode()]}, demo.token)
    assert status == 200, signed
    assert_signs(cert, digest, signed["signatures"][0])


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture
def web(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    """A demo data directory on a fresh PostgreSQL database, its web role granted and named in
    `[serve] database_url`; the role is dropped afterwards (roles belong to the whole cluster)."""
    port = free_port()
    home = demo_home(tmp_path, database_url, port)
    role = f"govca_web_{secrets.token_hex(4)}"
    Cli(home)("db", "grant-web-role", role)
    set_serve_url(home, role_url(database_url, role))
    admin = create_engine(database_url)
    try:
        yield {"home": home, "port": port, "role": role, "url": role_url(database_url, role), "admin": admin,
               "demo": Demo(home)}
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


# --- acceptance 4 --------------------------------------------------------------------------------

@PG_ONLY
def test_acceptance4_under_the_web_role_the_whole_served_surface_works(web: dict) -> None:
    demo, admin = web["demo"], web["admin"]
    # A stale pre-signed response is re-signed and stored by a worker, under the web role.
    with admin.begin() as conn:
        conn.execute(text("DELETE FROM ocsp_responses WHERE serial_hex = :s"), {"s": demo.valid_seal})
    # An API client's old scrypt record: the web role may not upgrade it, and it still works.
    from signer.credentials import hash_secret

    client_id, secret = demo.token.split("_", 2)[1:]
    old_record = hash_secret(secret)
    with admin.begin() as conn:
        conn.execute(text("UPDATE api_clients SET secret_hash = :h WHERE id = :i"), {"h": old_record, "i": int(client_id)})
    server = LiveServer(web["home"], web["port"])
    try:
        exercise_served_surface(server.url, demo)
        with admin.connect() as conn:  # the workers logged in as the web role, not as the owner
            users = set(conn.execute(text("SELECT usename FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND usename <> current_user")).scalars())
    finally:
        server.stop()
    assert users == {web["role"]}, users  # no other role (the owner's own sessions are left out)
    with admin.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM ocsp_responses WHERE serial_hex = :s"),
                              {"s": demo.valid_seal}).scalar_one()
        record = conn.execute(text("SELECT secret_hash FROM api_clients WHERE id = :i"),
                              {"i": int(client_id)}).scalar_one()
        documents = conn.execute(text("SELECT level FROM documents ORDER BY sealed_at")).scalars().all()
    assert stored == 1  # the GET's SHA-1 CertID, signed and stored by the web role
    assert record == old_record  # not upgraded (no UPDATE on api_clients), and the requests above authenticated
    assert documents[-2:] == ["B-B", "B-LTA"]
    assert "audit chain intact" in Cli(web["home"])("audit", "verify").stdout


@PG_ONLY
def test_rfc6960_a_good_response_stored_while_a_revocation_is_re_signed_is_replaced_for_every_cert_id_hash(
        web: dict) -> None:
    """The web role may not lock certificate rows, so puts of one certificate take turns on an
    advisory lock (ca/status.py): a worker's put that read "valid" just before a revocation holds
    its turn; the CLI's re-signing waits for it, then replaces what it stored, whatever its hash."""
    import subprocess
    import sys
    import time

    from conftest import REPO

    demo, admin = web["demo"], web["admin"]
    serial = demo.valid_seal
    turn = int.from_bytes(hashlib.sha256(serial.encode()).digest()[:4], "big", signed=True)
    with admin.connect() as worker:  # a worker's put, half done: its turn taken, status read
        tx = worker.begin()
        ca_id = worker.execute(text("SELECT id FROM cas WHERE name = 'govca-issuing'")).scalar_one()
        worker.execute(text("SELECT pg_advisory_xact_lock(:c, :t)"), {"c": ca_id, "t": turn})
        assert worker.execute(text("SELECT status FROM certificates WHERE serial_hex = :s"),
                              {"s": serial}).scalar_one() == "valid"
        revoke = subprocess.Popen([sys.executable, "-m", "cli.main", "--home", str(web["home"]), "cert", "revoke",
                                   "--ca", "govca-issuing", serial, "--reason", "keyCompromise"],
                                  cwd=REPO, env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120  # until the CLI's re-signing waits for the worker's turn
        with admin.connect() as watch:
            while not watch.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                         "AND NOT granted")).scalar_one():
                assert revoke.poll() is None and time.monotonic() < deadline, revoke.communicate()[0]
                time.sleep(0.1)
        worker.execute(text("INSERT INTO ocsp_responses SELECT ca_id, serial_hex, 'sha384', status, der, this_update, "
                            "next_update, produced_at FROM ocsp_responses WHERE serial_hex = :s AND hash_alg = 'sha1'"),
                       {"s": serial})
        tx.commit()
    assert revoke.wait(timeout=120) == 0, revoke.communicate()[0]
    with admin.connect() as conn:
        stored = dict(conn.execute(text("SELECT hash_alg, status FROM ocsp_responses WHERE serial_hex = :s"),
                                   {"s": serial}).all())
    assert stored == {"sha1": "revoked", "sha256": "revoked"}, stored


FORBIDDEN = {
    "certificates": ("INSERT INTO certificates (serial_hex) VALUES ('00')",
                     "UPDATE certificates SET status = 'revoked'", "DELETE FROM certificates"),
    "serials": ("INSERT INTO serials (serial_hex) VALUES ('00')", "UPDATE serials SET state = 'burned'",
                "DELETE FROM serials"),
    "cas": ("INSERT INTO cas (name) VALUES ('rogue')", "UPDATE cas SET crl_number = 0", "DELETE FROM cas"),
    "crls": ("INSERT INTO crls (crl_number) VALUES (1)", "UPDATE crls SET crl_number = 0", "DELETE FROM crls"),
    "agencies": ("INSERT INTO agencies (code) VALUES ('X')", "UPDATE agencies SET name_en = 'x'",
                 "DELETE FROM agencies"),
    "agency_seals": ("INSERT INTO agency_seals (serial_hex) VALUES ('00')", "UPDATE agency_seals SET key_uri = 'x'",
                     "DELETE FROM agency_seals"),
    "api_clients": ("INSERT INTO api_clients (name) VALUES ('x')", "UPDATE api_clients SET secret_hash = 'x'",
                    "DELETE FROM api_clients"),
    "tsa_units": ("INSERT INTO tsa_units (serial_hex) VALUES ('00')", "UPDATE tsa_units SET key_uri = 'x'",
                  "DELETE FROM tsa_units"),
    "audit_log": ("UPDATE audit_log SET outcome = 'success'", "DELETE FROM audit_log"),
    "officials": ("UPDATE officials SET pin_hash = 'x'", "UPDATE officials SET status = 'active'",
                  "DELETE FROM officials"),
}


@PG_ONLY
def test_acceptance4_the_web_role_cannot_write_ca_records_or_rewrite_the_audit_log(web: dict) -> None:
    from psycopg2.errors import InsufficientPrivilege

    def counts() -> dict[str, int]:
        with web["admin"].connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in FORBIDDEN}

    before = counts()
    as_web = create_engine(web["url"])
    refused = []
    try:
        for table, statements in FORBIDDEN.items():
            for statement in statements:
                with as_web.connect() as conn:
                    with pytest.raises(ProgrammingError) as caught:
                        conn.execute(text(statement))
                    assert isinstance(caught.value.orig, InsufficientPrivilege), (statement, caught.value)
                    refused.append(statement)
        with as_web.connect() as conn:  # what it may do, it can: read status, append to the audit log
            assert conn.execute(text("SELECT count(*) FROM certificates")).scalar_one() == before["certificates"]
    finally:
        as_web.dispose()
    assert len(refused) == sum(len(s) for s in FORBIDDEN.values())
    assert counts() == before
    assert "audit chain intact" in Cli(web["home"])("audit", "verify").stdout


@PG_ONLY
def test_grant_web_role_again_revokes_what_was_added_and_grants_the_same(web: dict) -> None:
    """Run again (after an upgrade, or to repair): everything the role had is revoked first."""
    role = web["role"]
    with web["admin"].begin() as conn:
        conn.exec_driver_sql(f'GRANT UPDATE ON certificates, audit_log TO "{role}"')
        conn.exec_driver_sql(f'GRANT UPDATE (pin_hash) ON officials TO "{role}"')
        conn.exec_driver_sql(f'GRANT SELECT ON serials TO "{role}"')
    again = json.loads(Cli(web["home"])("db", "grant-web-role", role, "--json").stdout)
    assert again["created"] is False and again["unclassified_tables"] == []
    privileges = again["privileges"]
    assert privileges["certificates"] == ["SELECT"] and privileges["audit_log"] == ["INSERT"]
    assert sorted(privileges["officials"]) == ["SELECT", "UPDATE(failed_attempts)", "UPDATE(last_totp_step)",
                                               "UPDATE(locked_until)"]
    assert "serials" not in privileges
    audited = json.loads(Cli(web["home"])("audit", "list", "--action", "db.grant_web_role", "--json").stdout)
    assert [r["subject"] for r in audited] == [role, role]


@PG_ONLY
def test_grant_web_role_refuses_the_owner_role_in_one_line(web: dict) -> None:
    owner = web["admin"].url.username
    result = Cli(web["home"])("db", "grant-web-role", owner, ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "the role this command connects as" in lines[0], result.output


def test_grant_web_role_on_sqlite_refuses_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    before = (home / "govca.db").read_bytes()
    result = Cli(home)("db", "grant-web-role", "govca_web", ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == ("govca: error: database roles need PostgreSQL: SQLite has one file and no "
                                     "roles (production uses PostgreSQL for this separation)"), result.output
    assert (home / "govca.db").read_bytes() == before


def test_every_table_of_the_schema_is_classified_for_the_web_role(tmp_path: Path) -> None:
    """A new table is a decision: the web role's grants (or ADMIN_ONLY) must name it."""
    from ca.storage.roles import ADMIN_ONLY, WEB_GRANTS

    home = make_home(tmp_path)
    engine = create_engine(load_config(home).database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables - set(WEB_GRANTS) - ADMIN_ONLY == set()
    assert set(WEB_GRANTS) - tables == set()  # nothing granted on a table that no longer exists


def test_web_grants_never_give_write_access_to_ca_records() -> None:
    from ca.storage.roles import WEB_GRANTS

    for table in ("certificates", "serials", "cas", "crls", "agencies", "agency_seals", "api_clients", "tsa_units"):
        grant = WEB_GRANTS.get(table)
        assert grant is None or (not grant.insert and not grant.delete and not grant.update), table
    assert WEB_GRANTS["audit_log"].update == () and not WEB_GRANTS["audit_log"].delete
    assert not any(s.startswith("GRANT UPDATE ON") or "DELETE" in s
                   for s in WEB_GRANTS["officials"].statements("officials", "r"))
