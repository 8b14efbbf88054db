"""OCSP responder and repository, in-process through the WSGI app (RFC 6960, RFC 5019)."""
from __future__ import annotations

import base64
import datetime as dt
import os
import urllib.parse
from pathlib import Path

import pytest
from asn1crypto import ocsp as aocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from cli.web import create_app
from conftest import Cli, run, tool
from ocsp_helpers import cert_id_of, load, multi_request_der, request_der, setup_ca
from policies.lint import lint_ocsp_response


@pytest.fixture
def pki(cli: Cli, tmp_path: Path) -> dict:
    info = setup_ca(cli, tmp_path)
    info["cli"] = cli
    info["app"] = create_app(cli.home)
    info["client"] = info["app"].test_client()
    return info


def post(pki: dict, der: bytes):  # type: ignore[no-untyped-def]
    r = pki["client"].post("/ocsp", data=der, content_type="application/ocsp-request")
    assert r.status_code == 200 and r.content_type == "application/ocsp-response"
    return r


def get(pki: dict, der: bytes, **headers):  # type: ignore[no-untyped-def]
    return pki["client"].get("/ocsp/" + urllib.parse.quote(base64.b64encode(der).decode(), safe=""), headers=headers)


def _req(pki: dict, which: str, nonce: bytes | None = None, algorithm=None) -> bytes:  # type: ignore[no-untyped-def]
    f = pki["files"]
    return request_der(load(f[which]), load(f["issuing"]), nonce, algorithm)


def test_rfc6960_4_2_good_response_is_signed_by_the_delegated_responder_never_the_ca_key(pki: dict) -> None:
    nonce = os.urandom(16)
    resp = ocsp.load_der_ocsp_response(post(pki, _req(pki, "good", nonce)).data)
    assert resp.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce  # RFC 8954 echo
    assert resp.next_update_utc is not None and resp.this_update_utc <= resp.produced_at_utc + dt.timedelta(seconds=1)
    [responder] = resp.certificates
    issuing = load(pki["files"]["issuing"])
    assert responder.issuer == issuing.subject and responder != issuing
    responder.verify_directly_issued_by(issuing)
    responder.public_key().verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    assert resp.responder_key_hash == x509.SubjectKeyIdentifier.from_public_key(responder.public_key()).digest
    # RFC 6960 4.2.2.2: OCSPSigning EKU; 4.2.2.2.1: id-pkix-ocsp-nocheck.
    assert ExtendedKeyUsageOID.OCSP_SIGNING in responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    responder.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.5"))


def test_rfc6960_revoked_response_carries_time_and_reason(pki: dict) -> None:
    pki["cli"]("cert", "revoke", "--ca", "issuing", pki["serials"]["victim"], "--reason", "keyCompromise")
    resp = ocsp.load_der_ocsp_response(post(pki, _req(pki, "victim", os.urandom(8))).data)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is x509.ReasonFlags.key_compromise
    assert abs((resp.revocation_time_utc - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 120


def test_acceptance3_revocation_is_reported_by_the_very_next_request_with_or_without_nonce(pki: dict) -> None:
    before = get(pki, _req(pki, "victim"))
    assert ocsp.load_der_ocsp_response(before.data).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert get(pki, _req(pki, "victim")).data == before.data  # answered from the pre-signed store
    pki["cli"]("cert", "revoke", "--ca", "issuing", pki["serials"]["victim"], "--reason", "superseded")
    for answer in (get(pki, _req(pki, "victim")), post(pki, _req(pki, "victim")),
                   post(pki, _req(pki, "victim", os.urandom(16))),
                   get(pki, _req(pki, "victim", algorithm=hashes.SHA256()))):
        assert ocsp.load_der_ocsp_response(answer.data).certificate_status is ocsp.OCSPCertStatus.REVOKED
    # The CRL the certificate's CRL DP names (its partition, issue 13) lists it at once.
    cdp = load(pki["files"]["victim"]).extensions.get_extension_for_class(x509.CRLDistributionPoints)
    crl = pki["client"].get(urllib.parse.urlparse(cdp.value[0].full_name[0].value).path)
    assert crl.status_code == 200 and crl.content_type == "application/pkix-crl"
    parsed = x509.load_der_x509_crl(crl.data)
    assert parsed.get_revoked_certificate_by_serial_number(int(pki["serials"]["victim"], 16)) is not None
    assert parsed.is_signature_valid(load(pki["files"]["issuing"]).public_key())


def test_rfc6960_2_2_unknown_serial_is_unknown_and_sha256_cert_ids_work(pki: dict) -> None:
    cid = aocsp.CertId.load(cert_id_of(_req(pki, "good", algorithm=hashes.SHA256())))
    cid["serial_number"] = 0x1234567890ABCDEF
    der = post(pki, multi_request_der([cid.dump()])).data
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert resp.hash_algorithm.name == "sha256"


def test_rfc6960_4_1_1_several_cert_ids_in_one_request_up_to_the_limit(pki: dict) -> None:
    ids = [cert_id_of(_req(pki, "good")), cert_id_of(_req(pki, "victim", algorithm=hashes.SHA256()))]
    resp = ocsp.load_der_ocsp_response(post(pki, multi_request_der(ids, b"\x04\x08" + os.urandom(8))).data)
    statuses = [r.certificate_status for r in resp.responses]
    assert statuses == [ocsp.OCSPCertStatus.GOOD, ocsp.OCSPCertStatus.GOOD]
    too_many = multi_request_der(ids * 9)  # 18 > max_cert_ids 16
    assert ocsp.load_der_ocsp_response(post(pki, too_many).data).response_status is \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_rfc6960_2_3_unauthorized_for_an_issuer_it_does_not_serve_and_malformed_for_garbage(pki: dict) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "stranger")])
    now = dt.datetime.now(dt.timezone.utc)
    foreign = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(stranger.public_key())
               .serial_number(5).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
               .sign(stranger, hashes.SHA256()))
    resp = post(pki, request_der(foreign, foreign))
    assert ocsp.load_der_ocsp_response(resp.data).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    for garbage in (b"", b"\x30\x03\x02\x01\x01", os.urandom(200)):
        resp = pki["client"].post("/ocsp", data=garbage, content_type="application/ocsp-request")
        assert resp.status_code == 200
        assert ocsp.load_der_ocsp_response(resp.data).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert ocsp.load_der_ocsp_response(pki["client"].get("/ocsp/%%%not-base64").data).response_status is \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_rfc8954_oversized_nonce_is_malformed(pki: dict) -> None:
    resp = post(pki, _req(pki, "good", os.urandom(33)))
    assert ocsp.load_der_ocsp_response(resp.data).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_rfc5019_6_2_get_answers_carry_caching_headers_and_honour_if_none_match(pki: dict) -> None:
    r = get(pki, _req(pki, "good"))
    resp = ocsp.load_der_ocsp_response(r.data)
    max_age = int(r.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= (resp.next_update_utc - dt.datetime.now(dt.timezone.utc)).total_seconds() + 1
    assert "public" in r.headers["Cache-Control"] and r.headers["ETag"].startswith('"')
    assert r.headers["Last-Modified"] and r.headers["Expires"]
    again = get(pki, _req(pki, "good"), **{"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert "no-store" in post(pki, _req(pki, "good")).headers["Cache-Control"]


def test_acceptance2_pkilint_finds_no_error_in_good_revoked_and_unknown_responses(pki: dict, tmp_path: Path) -> None:
    pki["cli"]("cert", "revoke", "--ca", "issuing", pki["serials"]["victim"], "--reason", "keyCompromise")
    cid = aocsp.CertId.load(cert_id_of(_req(pki, "good")))
    cid["serial_number"] = 0xDEADBEEF
    answers = {"good": post(pki, _req(pki, "good", os.urandom(16))).data,
               "revoked": get(pki, _req(pki, "victim")).data,
               "unknown": post(pki, multi_request_der([cid.dump()])).data}
    for name, der in answers.items():
        assert not [f for f in lint_ocsp_response(der) if f.severity.refuses], name
        path = tmp_path / f"{name}.ocsp"
        path.write_bytes(der)
        r = run([tool("lint_ocsp_response"), "lint", "-s", "ERROR", str(path)])
        assert r.returncode == 0, f"{name}: {r.stdout}{r.stderr}"


def test_repository_serves_ca_certificates_and_answers_404_as_json(pki: dict) -> None:
    r = pki["client"].get("/certs/issuing.crt")
    assert r.status_code == 200 and r.content_type == "application/pkix-cert"
    assert x509.load_der_x509_certificate(r.data) == load(pki["files"]["issuing"])
    for path in ("/certs/nosuch.crt", "/crl/nosuch.crl", "/certs/..%2Fx.crt", "/nothing"):
        r = pki["client"].get(path)
        assert r.status_code == 404 and r.is_json and r.json["status"] == 404


def test_metrics_and_healthz(pki: dict) -> None:
    get(pki, _req(pki, "good"))
    health = pki["client"].get("/healthz")
    assert health.status_code == 200
    assert {k: health.json[k] for k in ("status", "database", "hsm")} == {"status": "ok", "database": "ok", "hsm": "ok"}
    # This test process ran CA commands itself: the contexts are reported, as booleans only.
    assert set(health.json["contexts"]) == {"ca_code_loaded", "ca_token_open"}
    assert all(isinstance(v, bool) for v in health.json["contexts"].values())
    text = pki["client"].get("/metrics").get_data(as_text=True)
    assert 'govca_http_requests_total{endpoint="/ocsp/<path:encoded>",method="GET",status="200"} 1.0' in text
    assert 'govca_ocsp_responses_total{source="presigned",status="successful"}' in text
    age = [line for line in text.splitlines() if line.startswith("govca_crl_newest_age_seconds ")]
    assert age and float(age[0].split()[1]) >= 0
    assert [line for line in text.splitlines() if line.startswith("govca_ocsp_presigned_oldest_age_seconds ")]


def test_acceptance6_database_unreachable_healthz_reports_it_and_ocsp_says_try_later(pki: dict) -> None:
    config = pki["cli"].home / "govca.toml"
    text = config.read_text()
    # Nothing listens on port 1: the database is unreachable (connection refused).
    config.write_text(text.replace("# database_url:", 'database_url = "postgresql+psycopg2://govca@127.0.0.1:1/x"\n#'))
    client = create_app(pki["cli"].home).test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["database"].startswith("unreachable")
    assert health.json["hsm"] == "ok"
    for answer in (client.post("/ocsp", data=_req(pki, "good", os.urandom(8))), client.get(
            "/ocsp/" + urllib.parse.quote(base64.b64encode(_req(pki, "good")).decode(), safe=""))):
        assert answer.status_code == 200
        assert ocsp.load_der_ocsp_response(answer.data).response_status is ocsp.OCSPResponseStatus.TRY_LATER
    assert client.get("/crl/issuing.crl").status_code == 503
    assert client.get("/metrics").status_code == 200


def test_ocsp_renew_issues_a_new_responder_that_then_signs(pki: dict) -> None:
    before = pki["cli"]("ocsp", "list", "--json").stdout
    pki["cli"]("ocsp", "renew", "--force")
    after = pki["cli"]("ocsp", "list", "--json").stdout
    assert before != after
    import json

    new_serial = int(next(r for r in json.loads(after) if r["ca"] == "issuing")["serial"], 16)
    resp = ocsp.load_der_ocsp_response(create_app(pki["cli"].home).test_client().post(
        "/ocsp", data=_req(pki, "good", os.urandom(8))).data)
    assert resp.certificates[0].serial_number == new_serial


def test_rfc6960_4_2_1_a_cert_id_that_does_not_decode_fully_is_malformed_not_echoed(pki: dict) -> None:
    # Found by fuzzing through gunicorn: a flipped tag inside the hash algorithm's NULL
    # parameters decoded lazily, was echoed, and produced an undecodable "successful" response.
    req = bytearray(_req(pki, "good", os.urandom(16)))
    at = bytes(req).index(bytes.fromhex("06052b0e03021a0500")) + 7  # sha1 OID, then NULL
    req[at] = 0x45
    resp = post(pki, bytes(req))
    assert ocsp.load_der_ocsp_response(resp.data).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_acceptance3_on_sqlite_and_postgresql_revocation_reaches_the_next_answer(any_home: Path,
                                                                                tmp_path: Path) -> None:
    cli = Cli(any_home)
    info = setup_ca(cli, tmp_path)
    client = create_app(any_home).test_client()
    f = info["files"]
    req = request_der(load(f["victim"]), load(f["issuing"]))
    path = "/ocsp/" + urllib.parse.quote(base64.b64encode(req).decode(), safe="")
    assert ocsp.load_der_ocsp_response(client.get(path).data).certificate_status is ocsp.OCSPCertStatus.GOOD
    cli("cert", "revoke", "--ca", "issuing", info["serials"]["victim"], "--reason", "cessationOfOperation")
    resp = ocsp.load_der_ocsp_response(client.get(path).data)
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is x509.ReasonFlags.cessation_of_operation
    nonce = ocsp.load_der_ocsp_response(client.post("/ocsp", data=request_der(
        load(f["victim"]), load(f["issuing"]), os.urandom(16))).data)
    assert nonce.certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_read_interface_reads_and_writes_only_presigned_responses(pki: dict) -> None:
    """ca/status.py, the public process's view of the CA database: every method reads; the one
    documented exception, PresignedResponses.put, writes ocsp_responses and nothing else."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from ca.context import utcnow
    from ca.status import PresignedResponses, StatusReader, _HotQueries
    from ca.storage.db import Database
    from cli.config import load_config

    db = Database(load_config(pki["cli"].home).database_url)
    reader = StatusReader(db, utcnow)
    presigned = PresignedResponses(reader)
    serial = pki["serials"]["good"]
    assert get(pki, _req(pki, "good")).status_code == 200  # signs and stores one (SHA-1 CertID)
    statements: list[str] = []

    def seen(_conn, _cursor, sql, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(sql.split()).upper())

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        assert [i.ca_name for i in reader.served_issuers()] == ["issuing", "root"]
        assert reader.status("issuing", serial).status.rfc6960_name == "good"
        assert serial in reader.serials("issuing") and set(reader.ca_names()) == {"root", "issuing"}
        assert len(reader.root_certificates()) == 1 and reader.ca_certificate("issuing")
        assert reader.latest_crl("issuing") and reader.newest_crl_this_update()
        reader.ping()
        stored = presigned.get("issuing", serial, "sha1")
        assert stored is not None and presigned.oldest_this_update() is not None
        reads = list(statements)
        statements.clear()
        assert presigned.put("issuing", serial, "sha1", stored) is True
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
        db.dispose()
    # The hot path's statements go through a raw DB-API connection (no engine event): constants.
    assert all(sql.startswith("SELECT ") for sql in (_HotQueries.RESPONSE, _HotQueries.STATUS))
    assert reads and all(sql.startswith("SELECT ") for sql in reads), reads
    writes = [sql for sql in statements if not sql.startswith(("SELECT ", "BEGIN"))]  # BEGIN IMMEDIATE: SQLite
    assert [sql.split(" (")[0].split(" WHERE")[0] for sql in writes] == [
        "DELETE FROM OCSP_RESPONSES", "INSERT INTO OCSP_RESPONSES"], statements


def test_revocation_data_a_worker_embeds_is_never_older_than_the_last_revocation(pki: dict) -> None:
    """A worker keeps the OCSP responses and CRLs it embeds in sealed documents (B-LT, B-LTA) and
    judges documents by for a few minutes (cli/signer_wiring.InProcessRevocation), but a revocation
    publishes a CRL and the cache is keyed by the newest CRL: the next call after `cert revoke`
    carries the `revoked` answer (RFC 6960 2.2), not the `good` fetched before; with an OCSP answer
    no CRL is embedded (issue 13, docs/ltv.md)."""
    from ca.status import StatusReader
    from ca.storage.db import Database
    from cli.config import load_config
    from cli.ocsp_wiring import build_responder
    from cli.signer_wiring import InProcessRevocation

    cfg = load_config(pki["cli"].home)
    db = Database(cfg.database_url)
    responder, reader = build_responder(cfg, db)
    assert isinstance(reader, StatusReader)
    revocation = InProcessRevocation(responder, reader)
    victim, issuing = load(pki["files"]["victim"]), load(pki["files"]["issuing"])
    pair = [(victim.public_bytes(Encoding.DER), issuing.public_bytes(Encoding.DER))]

    def status_of(data):  # type: ignore[no-untyped-def]
        (der,) = data.ocsps
        return ocsp.load_der_ocsp_response(der).certificate_status

    before = revocation(pair)
    assert status_of(before) is ocsp.OCSPCertStatus.GOOD
    assert revocation(pair) is before  # kept while nothing was published
    pki["cli"]("cert", "revoke", "--ca", "issuing", pki["serials"]["victim"], "--reason", "keyCompromise")
    after = revocation(pair)
    assert status_of(after) is ocsp.OCSPCertStatus.REVOKED
    assert after.crls == (), "a CRL was embedded although the OCSP answer gives the status"
    db.dispose()
