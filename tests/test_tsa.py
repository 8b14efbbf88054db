"""The built-in RFC 3161 Time-Stamp Authority (signer/tsa/authority.py, signer/tsa/http.py).

Every token is signed by a SoftHSM key of a TSA certificate issued by govca itself, and checked
with tools nobody here wrote: `openssl ts -verify` and pyHanko's timestamp validation. The time
is fixed per PKI (an hour after the TSA certificate's notBefore), never read from the clock.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli, create_hierarchy, make_home, run
from hsm import HsmKey, KeyUri
from signer.tsa.authority import (FailInfo, TimeStampResp, TsaRejection, TsaUnit, build_accuracy, build_gen_time,
                        build_response, new_serial, parse_query, rejection)
from signer.tsa.http import MAX_QUERY, TIMESTAMP_REPLY, tsa_blueprint

# Under the RFC 5612 documentation arc, like the shipped placeholder: never mistaken for a Thai OID.
POLICY = "1.3.6.1.4.1.32473.764.3161"
OTHER_POLICY = "1.3.6.1.4.1.32473.764.9"
TSA_SUBJECT = "/C=TH/O=govca Test/CN=govca Test TSA"
ACCURACY_MS = 500


@dataclass
class TsaPki:
    unit: TsaUnit
    dir: Path
    root_pem: Path
    chain_pem: Path  # the issuing CA and the TSA certificate: a token without certificates needs the latter
    now: dt.datetime


def make_tsa(cli: Cli, out: Path, key_type: str = "ec-p256") -> TsaPki:
    """A TSA certificate with an HSM key under the `issuing` CA of ``cli``'s hierarchy."""
    from cli.compose import build_ca_service

    info = json.loads(cli("cert", "issue", "--ca", "issuing", "--profile", "tsa", "--generate-key", key_type,
                          "--subject", TSA_SUBJECT, "--json").stdout)
    tsa_pem = cli("cert", "show", "--ca", "issuing", info["serial"], "--pem").stdout
    cert = x509.load_pem_x509_certificate(tsa_pem.encode())
    for name in ("root", "issuing"):
        cli("ca", "export", name, "--out", str(out / f"{name}.pem"))
        cli("ca", "export", name, "--der", "--out", str(out / f"{name}.der"))
    (out / "chain.pem").write_text((out / "issuing.pem").read_text() + tsa_pem)
    key = build_ca_service(cli.home).ctx.service_keys.get_key(info["key_uri"])
    unit = TsaUnit(cert_der=cert.public_bytes(Encoding.DER),
                   chain_der=((out / "issuing.der").read_bytes(), (out / "root.der").read_bytes()),
                   key=key, policy_oid=POLICY, accuracy_ms=ACCURACY_MS)
    now = cert.not_valid_before_utc + dt.timedelta(hours=1, milliseconds=123)
    return TsaPki(unit, out, out / "root.pem", out / "chain.pem", now)


def make_client(pki: TsaPki) -> FlaskClient:
    app = Flask(__name__)
    app.register_blueprint(tsa_blueprint(lambda: pki.unit, lambda: pki.now))
    return app.test_client()


@pytest.fixture
def pki(hierarchy: Cli, tmp_path: Path) -> TsaPki:
    return make_tsa(hierarchy, tmp_path)


@pytest.fixture
def client(pki: TsaPki) -> FlaskClient:
    return make_client(pki)


def openssl_query(pki: TsaPki, *args: str, name: str = "q") -> Path:
    data, query = pki.dir / "data.txt", pki.dir / f"{name}.tsq"
    data.write_text("e-License 0001/2569: กรมที่ดิน\n", encoding="utf-8")
    r = run(["openssl", "ts", "-query", "-data", str(data), *args, "-out", str(query)])
    assert r.returncode == 0, r.stderr
    return query


def openssl_verify(pki: TsaPki, reply: Path, query: Path) -> subprocess.CompletedProcess:
    return run(["openssl", "ts", "-verify", "-in", str(reply), "-queryfile", str(query),
                "-CAfile", str(pki.root_pem), "-untrusted", str(pki.chain_pem)])


def respond(pki: TsaPki, query: bytes, serial: int | None = None) -> bytes:
    return build_response(query, pki.unit, pki.now, serial or new_serial())


def save(pki: TsaPki, der: bytes, name: str = "reply") -> Path:
    path = pki.dir / f"{name}.tsr"
    path.write_bytes(der)
    return path


def status_of(der: bytes) -> tuple[str, set[str]]:
    resp = TimeStampResp.load(der, strict=True)
    return resp["status"]["status"].native, set(resp["status"]["fail_info"].native or ())


def token_of(der: bytes) -> cms.SignedData:
    resp = TimeStampResp.load(der, strict=True)
    assert resp["status"]["status"].native == "granted"
    return resp["time_stamp_token"]["content"]


def tst_info_of(der: bytes) -> tsp.TSTInfo:
    return token_of(der)["encap_content_info"]["content"].parsed


def query_der(hash_name: str = "sha256", digest: bytes | None = None, **fields: object) -> bytes:
    req: dict[str, object] = {"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": hash_name},
        "hashed_message": hashlib.new(hash_name, b"x").digest() if digest is None else digest}}
    req.update(fields)
    return tsp.TimeStampReq(req).dump()


# --- granted tokens, checked by openssl -------------------------------------------------------

@pytest.mark.parametrize("via", ["build_response", "http"])
@pytest.mark.parametrize("digest", ["sha256", "sha512"])
def test_rfc3161_2_4_2_openssl_verifies_the_token(pki: TsaPki, client: FlaskClient, digest: str,
                                                 via: str) -> None:
    query = openssl_query(pki, f"-{digest}", "-cert")
    if via == "http":
        r = client.post("/tsa", data=query.read_bytes(), content_type="application/timestamp-query")
        assert r.status_code == 200 and r.mimetype == TIMESTAMP_REPLY
        der = r.data
    else:
        der = respond(pki, query.read_bytes())
    v = openssl_verify(pki, save(pki, der), query)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr
    assert tst_info_of(der)["message_imprint"]["hash_algorithm"]["algorithm"].native == digest


@pytest.mark.parametrize("key_type,digest,signature", [("ec-p384", "sha384", "sha384_ecdsa"),
                                                       ("rsa2048", "sha256", "sha256_rsa")])
def test_rfc3161_2_4_2_openssl_verifies_p384_and_rsa_tokens_with_their_profile_algorithms(
        hierarchy: Cli, tmp_path: Path, key_type: str, digest: str, signature: str) -> None:
    pki = make_tsa(hierarchy, tmp_path, key_type)
    query = openssl_query(pki, "-sha256", "-cert")
    der = respond(pki, query.read_bytes())
    v = openssl_verify(pki, save(pki, der), query)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr
    signer_info = token_of(der)["signer_infos"][0]
    assert signer_info["digest_algorithm"]["algorithm"].native == digest
    assert signer_info["signature_algorithm"]["algorithm"].native == signature


def test_rfc5652_5_3_signer_info_by_issuer_and_serial_and_signed_data_v3(pki: TsaPki) -> None:
    sd = token_of(respond(pki, openssl_query(pki, "-sha256", "-cert").read_bytes()))
    cert = ax509.Certificate.load(pki.unit.cert_der)
    assert sd["version"].native == "v3"
    assert sd["encap_content_info"]["content_type"].native == "tst_info"
    assert len(sd["signer_infos"]) == 1
    si = sd["signer_infos"][0]
    assert si["version"].native == "v1" and si["sid"].name == "issuer_and_serial_number"
    assert si["sid"].chosen["serial_number"].native == cert.serial_number
    assert si["sid"].chosen["issuer"] == cert.issuer
    assert si["digest_algorithm"]["algorithm"].native == "sha256"
    assert si["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    # RFC 5758 3.2: ecdsa-with-SHA256 has no parameters.
    assert si["signature_algorithm"]["parameters"].native is None
    attrs = {a["type"].native for a in si["signed_attrs"]}
    assert attrs == {"content_type", "message_digest", "signing_certificate_v2"}


# --- nonce, certReq, ESSCertIDv2, TSTInfo fields ------------------------------------------------

def test_rfc3161_2_4_2_nonce_is_echoed(pki: TsaPki) -> None:
    query = openssl_query(pki, "-sha256")
    sent = tsp.TimeStampReq.load(query.read_bytes())["nonce"].native
    assert sent is not None
    assert tst_info_of(respond(pki, query.read_bytes()))["nonce"].native == sent
    odd = query_der(nonce=-(2 ** 70) + 1)
    assert tst_info_of(respond(pki, odd))["nonce"].native == -(2 ** 70) + 1


def test_rfc3161_2_4_2_no_nonce_in_token_when_query_has_none(pki: TsaPki) -> None:
    query = openssl_query(pki, "-sha256", "-no_nonce", "-cert")
    der = respond(pki, query.read_bytes())
    assert tst_info_of(der)["nonce"].native is None
    v = openssl_verify(pki, save(pki, der), query)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr


def test_rfc3161_2_4_1_cert_req_true_sends_the_tsa_certificate_and_chain(pki: TsaPki) -> None:
    sd = token_of(respond(pki, openssl_query(pki, "-sha256", "-cert").read_bytes()))
    sent = {c.chosen.dump() for c in sd["certificates"]}
    assert sent == {pki.unit.cert_der, *pki.unit.chain_der}


def test_rfc3161_2_4_1_cert_req_false_sends_no_certificates(pki: TsaPki) -> None:
    query = openssl_query(pki, "-sha256", "-no_nonce")  # no -cert: certReq absent (FALSE)
    der = respond(pki, query.read_bytes())
    assert token_of(der)["certificates"].native is None
    # openssl finds the TSA certificate among the -untrusted ones instead.
    v = openssl_verify(pki, save(pki, der), query)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr


def test_rfc5816_2_2_1_ess_cert_id_v2_hashes_the_tsa_certificate_with_sha256(pki: TsaPki) -> None:
    si = token_of(respond(pki, query_der(cert_req=True)))["signer_infos"][0]
    found = [a for a in si["signed_attrs"] if a["type"].native == "signing_certificate_v2"]
    assert len(found) == 1 and not [a for a in si["signed_attrs"] if a["type"].native == "signing_certificate"]
    ess = found[0]["values"][0]["certs"][0]
    assert ess["hash_algorithm"]["algorithm"].native == "sha256"
    assert ess.contents[0] == 0x04  # DER leaves the DEFAULT sha256 out: certHash (OCTET STRING) comes first
    assert ess["cert_hash"].native == hashlib.sha256(pki.unit.cert_der).digest()
    cert = ax509.Certificate.load(pki.unit.cert_der)
    assert ess["issuer_serial"]["serial_number"].native == cert.serial_number
    assert ess["issuer_serial"]["issuer"][0].chosen == cert.issuer


def test_rfc3161_2_4_2_accuracy_policy_and_tsa_name_are_in_the_token(pki: TsaPki) -> None:
    reply = save(pki, respond(pki, openssl_query(pki, "-sha256").read_bytes()))
    r = run(["openssl", "ts", "-reply", "-in", str(reply), "-text"])
    assert r.returncode == 0, r.stderr
    assert "Status: Granted." in r.stdout
    assert f"Policy OID: {POLICY}" in r.stdout
    assert "Accuracy: unspecified seconds, 0x01F4 millis, unspecified micros" in r.stdout
    assert "Ordering: no" in r.stdout
    assert "TSA: DirName:/C=TH/O=govca Test/CN=govca Test TSA" in r.stdout
    assert "Time stamp: " in r.stdout and ".123 " in r.stdout


def test_rfc3161_2_4_2_accuracy_uses_seconds_and_millis_fields() -> None:
    assert build_accuracy(500).native == {"seconds": None, "millis": 500, "micros": None}
    assert build_accuracy(1500).native == {"seconds": 1, "millis": 500, "micros": None}
    assert build_accuracy(2000).native == {"seconds": 2, "millis": None, "micros": None}


def test_rfc3161_2_4_2_gen_time_is_utc_generalized_time_to_the_millisecond(pki: TsaPki) -> None:
    bangkok = dt.timezone(dt.timedelta(hours=7))
    local = dt.datetime(2569 - 543, 3, 4, 12, 30, 45, 120_987, tzinfo=bangkok)
    assert build_gen_time(local) == dt.datetime(2026, 3, 4, 5, 30, 45, 120_000, tzinfo=dt.timezone.utc)
    der = build_response(query_der(), pki.unit, local, new_serial())
    # RFC 3161 2.4.2: trailing zeros of the fraction are removed; "Z", never an offset.
    assert tst_info_of(der)["gen_time"].contents == b"20260304053045.12Z"
    whole = build_response(query_der(), pki.unit, local.replace(microsecond=999), new_serial())
    assert tst_info_of(whole)["gen_time"].contents == b"20260304053045Z"
    with pytest.raises(ValueError):
        build_gen_time(dt.datetime(2026, 3, 4))


def test_rfc3161_2_4_2_serial_numbers_are_unique_positive_and_within_160_bits(pki: TsaPki) -> None:
    serials = [tst_info_of(respond(pki, query_der()))["serial_number"].native for _ in range(200)]
    assert len(set(serials)) == 200
    assert all(0 < s and 128 <= s.bit_length() <= 160 for s in serials)


# --- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("digest", ["sha1", "md5"])
def test_rfc3161_2_4_1_weak_imprint_hash_is_refused_bad_alg(pki: TsaPki, client: FlaskClient, digest: str) -> None:
    query = openssl_query(pki, f"-{digest}", "-cert").read_bytes()
    assert status_of(respond(pki, query)) == ("rejection", {"bad_alg"})
    r = client.post("/tsa", data=query, content_type="application/timestamp-query")
    assert r.status_code == 200 and status_of(r.data) == ("rejection", {"bad_alg"})
    with pytest.raises(TsaRejection) as refused:
        parse_query(query)
    assert refused.value.fail_info is FailInfo.BAD_ALG


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element (short-form length: the test bodies stay under 128 bytes)."""
    assert len(content) < 128
    return bytes([tag, len(content)]) + content


def test_rfc5754_2_hash_parameters_other_than_absent_or_null_are_refused_bad_data_format(pki: TsaPki) -> None:
    sha256 = tlv(0x06, bytes.fromhex("608648016503040201"))

    def query_with(params: bytes) -> bytes:
        imprint = tlv(0x30, tlv(0x30, sha256 + params) + tlv(0x04, b"\x00" * 32))
        return tlv(0x30, tlv(0x02, b"\x01") + imprint)

    assert status_of(respond(pki, query_with(b"")))[0] == "granted"
    assert status_of(respond(pki, query_with(b"\x05\x00")))[0] == "granted"
    for params in (b"\x04\x00", b"\x01\x01\xff", b"\x05\x01\x00"):
        assert status_of(respond(pki, query_with(params))) == ("rejection", {"bad_data_format"}), params


def test_rfc3161_2_4_1_wrong_policy_is_refused_unaccepted_policy(pki: TsaPki) -> None:
    query = openssl_query(pki, "-sha256", "-tspolicy", OTHER_POLICY).read_bytes()
    assert status_of(respond(pki, query)) == ("rejection", {"unaccepted_policy"})


def test_rfc3161_2_4_1_the_units_own_policy_is_granted(pki: TsaPki) -> None:
    query = openssl_query(pki, "-sha256", "-tspolicy", POLICY, "-cert")
    der = respond(pki, query.read_bytes())
    v = openssl_verify(pki, save(pki, der), query)
    assert v.returncode == 0 and "Verification: OK" in v.stdout, v.stdout + v.stderr


def test_rfc3161_2_4_1_imprint_length_must_match_the_algorithm(pki: TsaPki) -> None:
    for name, digest in (("sha256", b"\x01" * 20), ("sha512", b"\x01" * 32), ("sha384", b"")):
        assert status_of(respond(pki, query_der(name, digest))) == ("rejection", {"bad_data_format"}), name


def test_rfc3161_2_4_1_request_extensions_are_refused_unaccepted_extension(pki: TsaPki) -> None:
    for critical in (False, True):
        query = query_der(extensions=[{"extn_id": "1.3.6.1.4.1.32473.1", "critical": critical,
                                       "extn_value": b"\x05\x00"}])
        assert status_of(respond(pki, query)) == ("rejection", {"unaccepted_extensions"})
    # RFC 5280 4.1: Extensions is SIZE (1..MAX), so an empty list is malformed rather than unrecognised.
    assert status_of(respond(pki, query_der(extensions=[]))) == ("rejection", {"bad_data_format"})


def test_rfc3161_2_4_1_version_other_than_1_is_refused_bad_data_format(pki: TsaPki) -> None:
    assert status_of(respond(pki, query_der(version=2))) == ("rejection", {"bad_data_format"})


GOOD = query_der(nonce=12345, cert_req=True)
MALFORMED = {
    "empty": b"",
    "garbage": b"GET / HTTP/1.1\r\n\r\n",
    "truncated": GOOD[:-7],
    "trailing-bytes": GOOD + b"\x00\x00",
    "wrong-type": tsp.TSTInfo({"version": "v1", "policy": POLICY, "message_imprint": tsp.MessageImprint.load(
        tsp.TimeStampReq.load(GOOD)["message_imprint"].dump()), "serial_number": 1,
        "gen_time": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}).dump(),
    "integer": b"\x02\x01\x01",
    # RFC 3161 3.4: DER only, so BER forms are refused.
    "indefinite-length": b"\x30\x80" + GOOD[2:] + b"\x00\x00",
    "cert-req-false-encoded": GOOD[:-1] + b"\x00",
    "boolean-true-as-01": GOOD[:-1] + b"\x01",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_rfc3161_3_4_malformed_query_is_rejected_bad_data_format_with_http_200(
        pki: TsaPki, client: FlaskClient, body: bytes) -> None:
    status, fail = status_of(respond(pki, body))
    assert status == "rejection" and fail == {"bad_data_format"}
    r = client.post("/tsa", data=body, content_type="application/timestamp-query")
    assert r.status_code == 200 and r.mimetype == TIMESTAMP_REPLY
    assert status_of(r.data) == ("rejection", {"bad_data_format"})
    assert TimeStampResp.load(r.data)["time_stamp_token"].native is None  # RFC 3161 2.4.2: no token


def test_rfc3161_2_4_2_rejection_carries_status_string_and_one_fail_info_bit() -> None:
    der = rejection("unacceptedPolicy", "policy 1.2.3 is not served")
    resp = TimeStampResp.load(der, strict=True)
    assert resp["status"]["status"].native == "rejection"
    assert resp["status"]["status_string"].native == ["policy 1.2.3 is not served"]
    assert resp["status"]["fail_info"].native == {"unaccepted_policy"}
    assert der == rejection(FailInfo.UNACCEPTED_POLICY, "policy 1.2.3 is not served")


# --- the HTTP edge -----------------------------------------------------------------------------

def test_rfc3161_3_4_any_content_type_is_read_as_a_query(client: FlaskClient, pki: TsaPki) -> None:
    query = openssl_query(pki, "-sha256").read_bytes()
    for content_type in (None, "application/octet-stream", "application/x-www-form-urlencoded"):
        r = client.post("/tsa", data=query, content_type=content_type)
        assert r.status_code == 200 and status_of(r.data)[0] == "granted", content_type
        assert r.headers["Cache-Control"] == "no-store"
    r = client.post("/tsa", data=b"a=1&b=2", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and status_of(r.data) == ("rejection", {"bad_data_format"})


def test_rfc3161_3_4_body_over_64_kib_is_413(client: FlaskClient) -> None:
    r = client.post("/tsa", data=b"\x30" * (MAX_QUERY + 1), content_type="application/timestamp-query")
    assert r.status_code == 413
    assert r.get_json()["status"] == 413 and set(r.get_json()) == {"type", "title", "status", "detail"}
    r = client.post("/tsa", data=b"\x30" * MAX_QUERY, content_type="application/timestamp-query")
    assert r.status_code == 200 and status_of(r.data) == ("rejection", {"bad_data_format"})


def test_tsa_not_configured_answers_503_problem() -> None:
    app = Flask(__name__)
    app.register_blueprint(tsa_blueprint(lambda: None, lambda: dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)))
    r = app.test_client().post("/tsa", data=query_der(), content_type="application/timestamp-query")
    assert r.status_code == 503
    body = r.get_json()
    assert set(body) == {"type", "title", "status", "detail"} and body["status"] == 503


def test_rfc3161_2_4_2_hsm_failure_answers_system_failure_and_is_logged(
        pki: TsaPki, caplog: pytest.LogCaptureFixture) -> None:
    real: HsmKey = pki.unit.key
    # The same token and public key, but the private key object is gone from the token.
    gone = HsmKey(real.token, KeyUri(real.uri.token, "tsa-destroyed", b"\x00" * 16), real.key_type, real.public_key)
    broken = TsaUnit(pki.unit.cert_der, pki.unit.chain_der, gone, POLICY, ACCURACY_MS)
    app = Flask(__name__)
    app.register_blueprint(tsa_blueprint(lambda: broken, lambda: pki.now))
    with caplog.at_level(logging.ERROR, logger="govca.tsa"):
        r = app.test_client().post("/tsa", data=query_der(), content_type="application/timestamp-query")
    assert r.status_code == 200 and status_of(r.data) == ("rejection", {"system_failure"})
    assert any("KeyNotFoundError" in rec.getMessage() for rec in caplog.records)


def test_rfc3161_2_4_2_time_source_failure_answers_time_not_available(pki: TsaPki) -> None:
    def no_time() -> dt.datetime:
        raise OSError("time source unreachable")

    app = Flask(__name__)
    app.register_blueprint(tsa_blueprint(lambda: pki.unit, no_time))
    r = app.test_client().post("/tsa", data=query_der(), content_type="application/timestamp-query")
    assert r.status_code == 200 and status_of(r.data) == ("rejection", {"time_not_available"})


def test_rfc3161_2_3_unit_needs_a_critical_time_stamping_only_certificate_and_its_key(pki: TsaPki) -> None:
    issuing_der = pki.unit.chain_der[0]  # a CA certificate: no timeStamping EKU
    with pytest.raises(ValueError, match="RFC 3161 2.3"):
        TsaUnit(issuing_der, pki.unit.chain_der, pki.unit.key, POLICY, ACCURACY_MS)
    with pytest.raises(ValueError, match="accuracy"):
        TsaUnit(pki.unit.cert_der, pki.unit.chain_der, pki.unit.key, POLICY, 0)


# --- pyHanko --------------------------------------------------------------------------------------

def test_pyhanko_timestamper_and_validator_accept_the_token(pki: TsaPki) -> None:
    from pyhanko.sign.timestamps.api import TimeStamper
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    class InProcessTimeStamper(TimeStamper):
        """pyHanko's client, with the TSA called in-process (docs/architecture.md: no HTTP to itself)."""

        async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
            return tsp.TimeStampResp.load(respond(pki, req.dump()))

    digest = hashlib.sha256(b"a PAdES signature value").digest()
    token = asyncio.run(InProcessTimeStamper().async_timestamp(digest, "sha256"))  # checks status and nonce
    ctx = ValidationContext(trust_roots=[ax509.Certificate.load(pki.unit.chain_der[1])],
                            other_certs=[ax509.Certificate.load(pki.unit.chain_der[0])],
                            allow_fetching=False, revocation_mode="soft-fail")
    kwargs = asyncio.run(validate_tst_signed_data(token["content"], ctx, lambda algo: digest))
    status = TimestampSignatureStatus(**kwargs)
    assert status.intact and status.valid and status.trusted, status
    assert status.timestamp == build_gen_time(pki.now)


# --- fuzzing ----------------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("tsa-fuzz")
    cli = Cli(make_home(tmp))
    create_hierarchy(cli)
    pki = make_tsa(cli, tmp)
    return {"client": make_client(pki), "seed": openssl_query(pki, "-sha256", "-cert").read_bytes()}


def check_reply(status_code: int, mimetype: str, body: bytes) -> str:
    """Only ever HTTP 200 with a well-formed TimeStampResp: granted with a token, or a rejection without."""
    assert status_code == 200 and mimetype == TIMESTAMP_REPLY, status_code
    resp = TimeStampResp.load(body, strict=True)
    resp.native  # noqa: B018 - the whole response must decode
    status = resp["status"]["status"].native
    assert status in {"granted", "rejection"}
    if status == "granted":
        assert resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed["version"].native == "v1"
    else:
        assert resp["time_stamp_token"].native is None and len(resp["status"]["fail_info"].native) == 1
    return status


@FUZZ
@given(body=st.binary(max_size=600))
def test_fuzz_rfc3161_3_4_random_bodies_get_well_formed_replies(fuzz_target: dict, body: bytes) -> None:
    r = fuzz_target["client"].post("/tsa", data=body, content_type="application/timestamp-query")
    check_reply(r.status_code, r.mimetype, r.data)


@FUZZ
@given(data=st.data())
def test_fuzz_rfc3161_3_4_mutated_queries_get_well_formed_replies(fuzz_target: dict, data: st.DataObject) -> None:
    body = bytearray(fuzz_target["seed"])
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, max(0, len(body) - 1)))
        if op == "flip" and body:
            body[pos] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            body[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and body:
            del body[pos]
        else:
            del body[pos:]
    r = fuzz_target["client"].post("/tsa", data=bytes(body), content_type="application/timestamp-query")
    check_reply(r.status_code, r.mimetype, r.data)


@FUZZ
@given(version=st.sampled_from([1, 1, 1, 0, 2]),
       hash_name=st.sampled_from(["sha256", "sha384", "sha512", "sha1", "md5", "sha224", "sha3_256", "1.2.3.4"]),
       digest=st.one_of(st.none(), st.binary(max_size=80)),
       policy=st.sampled_from([None, POLICY, OTHER_POLICY]),
       nonce=st.one_of(st.none(), st.integers(-(2 ** 80), 2 ** 300)),
       cert_req=st.booleans(),
       extension=st.booleans())
def test_fuzz_rfc3161_2_4_structured_queries_are_granted_exactly_when_acceptable(
        fuzz_target: dict, version: int, hash_name: str, digest: bytes | None, policy: str | None,
        nonce: int | None, cert_req: bool, extension: bool) -> None:
    lengths = {"sha256": 32, "sha384": 48, "sha512": 64}
    if digest is None:
        digest = b"\x5a" * lengths.get(hash_name, 20)
    fields: dict[str, object] = {"version": version, "cert_req": cert_req}
    if policy is not None:
        fields["req_policy"] = policy
    if nonce is not None:
        fields["nonce"] = nonce
    if extension:
        fields["extensions"] = [{"extn_id": "1.3.6.1.4.1.32473.2", "critical": False, "extn_value": b"\x05\x00"}]
    body = query_der(hash_name, digest, **fields)
    r = fuzz_target["client"].post("/tsa", data=body, content_type="application/timestamp-query")
    status = check_reply(r.status_code, r.mimetype, r.data)
    acceptable = (version == 1 and len(digest) == lengths.get(hash_name) and policy in (None, POLICY)
                  and not extension)
    assert (status == "granted") == acceptable
    if acceptable:
        sd = token_of(r.data)
        info = sd["encap_content_info"]["content"].parsed
        assert info["nonce"].native == nonce
        assert info["message_imprint"]["hashed_message"].native == digest
        assert (sd["certificates"].native is not None) == cert_req
