"""Issue 6: the CSC v2 API (field names and error model of v2.0.0.2) and signatures/signDoc."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from pathlib import Path

import pyotp
import pytest
from asn1crypto import pem
from asn1crypto import x509 as ax509

from cli.web import create_app
from conftest import Cli
from sealing_helpers import sample_pdf, setup_sealing
from test_csc import enrol, wrong_otp


@pytest.fixture
def env(cli: Cli, tmp_path: Path) -> dict:
    info = setup_sealing(cli, tmp_path)
    oid, seed, pin = enrol(cli, tmp_path)
    return {**info, "cli": cli, "client": create_app(cli.home).test_client(), "cred": f"official-{oid}",
            "seed": seed, "pin": pin, "step": -1}


def call(env: dict, method: str, body: dict):  # type: ignore[no-untyped-def]
    return env["client"].post(f"/csc/v2/{method}", json=body, headers={"Authorization": f"Bearer {env['tokens']['A']}"})


def otp(env: dict) -> str:
    env["step"] += 1
    assert env["step"] <= 1
    return pyotp.TOTP(env["seed"]).at(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30 * env["step"]))


def authorize(env: dict, hashes: list[bytes], code: str | None = None):  # type: ignore[no-untyped-def]
    return call(env, "credentials/authorize", {
        "credentialID": env["cred"], "numSignatures": len(hashes), "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
        "hashes": [base64.b64encode(h).decode() for h in hashes],
        "authData": [{"id": "PIN", "value": env["pin"]}, {"id": "OTP", "value": code or otp(env)}]})


def test_v2_info_and_credential_auth_objects(env: dict) -> None:
    info = call(env, "info", {}).json
    assert info["specs"] == "2.0.0.2" and "signatures/signDoc" in info["methods"]
    listed = call(env, "credentials/list", {"credentialInfo": True, "certificates": "chain"}).json
    mine = next(c for c in listed["credentialInfos"] if c["credentialID"] == env["cred"])
    assert mine["auth"]["mode"] == "explicit" and [o["id"] for o in mine["auth"]["objects"]] == ["PIN", "OTP"]
    assert mine["SCAL"] == "2" and len(mine["cert"]["certificates"]) == 3


def test_v2_authorize_and_sign_hash_with_v2_field_names(env: dict) -> None:
    h = hashlib.sha256(b"v2").digest()
    sad = authorize(env, [h]).json["SAD"]
    r = call(env, "signatures/signHash", {"credentialID": env["cred"], "SAD": sad, "signAlgo": "1.2.840.10045.4.3.2",
                                          "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                                          "hashes": [base64.b64encode(h).decode()]})
    assert r.status_code == 200 and len(r.json["signatures"]) == 1


def test_v2_error_model_invalid_authentication_data_then_credential_locked(env: dict) -> None:
    h = hashlib.sha256(b"lock").digest()
    wrong = wrong_otp(env["seed"])
    for _ in range(5):
        r = authorize(env, [h], code=wrong)
        assert r.status_code == 400 and r.json["error"] == "invalid_authentication_data"
    r = authorize(env, [h])
    assert r.status_code == 400 and r.json["error_description"] == "Credential locked"


def test_v2_sign_doc_signs_exactly_the_authorised_pdf_with_the_officials_key(env: dict) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    pdf = sample_pdf()
    sad = authorize(env, [hashlib.sha256(pdf).digest()]).json["SAD"]
    other = call(env, "signatures/signDoc", {"credentialID": env["cred"], "SAD": sad, "documents": [
        {"document": base64.b64encode(pdf + b"\n%changed\n").decode(), "signature_format": "P",
         "signAlgo": "1.2.840.10045.4.3.2"}]})
    assert other.status_code == 403 and other.json["error"] == "invalid_hash"
    r = call(env, "signatures/signDoc", {"credentialID": env["cred"], "SAD": sad, "documents": [
        {"document": base64.b64encode(pdf).decode(), "signature_format": "P", "conformance_level": "Ades-B-T",
         "signAlgo": "1.2.840.10045.4.3.2", "signed_envelope_property": "Revision"}]})
    assert r.status_code == 200, r.json
    signed = base64.b64decode(r.json["DocumentWithSignature"][0])
    root = ax509.Certificate.load(pem.unarmor(env["files"]["root"].read_bytes())[2])
    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    status = validate_pdf_signature(sig, signer_validation_context=ValidationContext(trust_roots=[root]))
    assert status.intact and status.valid and status.trusted and status.timestamp_validity is not None
    assert sig.signer_cert.subject.native["common_name"] == "วิชัย รักษ์ไทย"
    again = call(env, "signatures/signDoc", {"credentialID": env["cred"], "SAD": sad, "documents": [
        {"document": base64.b64encode(pdf).decode(), "signature_format": "P", "signAlgo": "1.2.840.10045.4.3.2"}]})
    assert again.status_code in (400, 403)  # the SAD is spent


def test_v2_sign_doc_refuses_a_broken_pdf_before_spending_the_sad(env: dict) -> None:
    """A document that is not a readable PDF gets the CSC error with the reason (never a 5xx),
    and the SAD stays unspent, so the same authorisation can sign the corrected document."""
    broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer garbage"
    good = sample_pdf()
    sad = authorize(env, [hashlib.sha256(broken).digest(), hashlib.sha256(good).digest()]).json["SAD"]
    r = call(env, "signatures/signDoc", {"credentialID": env["cred"], "SAD": sad, "documents": [
        {"document": base64.b64encode(broken).decode(), "signature_format": "P"}]})
    assert r.status_code == 400 and r.json["error"] == "invalid_request", r.json
    assert "PDF" in r.json["error_description"]
    ok = call(env, "signatures/signDoc", {"credentialID": env["cred"], "SAD": sad, "documents": [
        {"document": base64.b64encode(good).decode(), "signature_format": "P"}]})
    assert ok.status_code == 200, ok.json


def test_iso_19005_3_6_2_4_3_sign_doc_with_a_seal_keeps_a_pdfa_claim_by_signing_invisibly(env: dict) -> None:
    """signDoc has no PDF/A option: a seal's stamp on a PDF/A document without an RGB output
    intent would break its claim (DeviceRGB, ISO 19005-2/-3 6.2.4.3), so the seal goes into an
    invisible field; with the output intent the stamp is drawn as usual."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from pdfa_helpers import elicense_pdfa3, variant

    seal = f"seal-{env['seals']['A']}"

    def widget_of(pdf: bytes):  # type: ignore[no-untyped-def]
        sad = call(env, "credentials/authorize", {"credentialID": seal, "numSignatures": 1}).json["SAD"]
        r = call(env, "signatures/signDoc", {"credentialID": seal, "SAD": sad, "documents": [
            {"document": base64.b64encode(pdf).decode(), "signature_format": "P"}]})
        assert r.status_code == 200, r.json
        reader = PdfFileReader(io.BytesIO(base64.b64decode(r.json["DocumentWithSignature"][0])))
        field = reader.root["/AcroForm"]["/Fields"][0]
        return field if "/Rect" in field else field["/Kids"][0]

    bare = widget_of(variant(elicense_pdfa3(), output_intent=False))
    assert [float(v) for v in bare["/Rect"]] == [0, 0, 0, 0] and "/AP" not in bare
    stamped = widget_of(elicense_pdfa3())
    assert [float(v) for v in stamped["/Rect"]] != [0, 0, 0, 0] and "/AP" in stamped
