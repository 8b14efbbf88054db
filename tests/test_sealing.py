"""The sealing API (issue 4): acceptance 1 (offline B-LTA validation), 4 (who may seal with
which seal), 6 (bad input) and the API's contract, in-process through the WSGI app."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as ax509
from sqlalchemy import create_engine, text

from cli.config import load_config
from cli.web import create_app
from conftest import Cli, make_home
from sealing_helpers import DOC_ID, bearer, sample_pdf, setup_sealing


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("sealing")
    cli = Cli(make_home(tmp))
    info = setup_sealing(cli, tmp)
    info.update(cli=cli, client=create_app(cli.home).test_client(), pdf=sample_pdf(), tmp=tmp)
    return info


def seal(env: dict, pdf: bytes | None = None, options: dict | None = None, agency: str = "A"):  # type: ignore[no-untyped-def]
    data = {"file": (io.BytesIO(env["pdf"] if pdf is None else pdf), "doc.pdf", "application/pdf")}
    if options is not None:
        data["options"] = json.dumps(options)
    return env["client"].post("/api/v1/sign", data=data, headers=bearer(env["tokens"][agency]),
                              content_type="multipart/form-data")


def _count(env: dict, table: str, where: str = "1=1") -> int:
    engine = create_engine(load_config(env["cli"].home).database_url)
    with engine.connect() as c:
        n = c.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {where}")).scalar_one()
    engine.dispose()
    return n


def _root(env: dict) -> ax509.Certificate:
    return ax509.Certificate.load(pem.unarmor(env["files"]["root"].read_bytes())[2])


def test_acceptance1_en_319_142_1_b_lta_validates_offline_from_the_dss_against_the_root_only(env: dict) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko_certvalidator import ValidationContext  # noqa: F401 - the type offline() returns

    r = seal(env)  # default level B-LTA
    assert r.status_code == 200, r.data[:300]
    reader = PdfFileReader(io.BytesIO(r.data))
    dss = DocumentSecurityStore.read_dss(reader)
    # OCSP answers for the seal, the TSA and (the root's responder) the issuing CA; no CRL is
    # needed and none is embedded (issue 13, docs/ltv.md).
    assert dss.ocsps and dss.certs and not dss.crls

    def offline() -> ValidationContext:
        # Nothing may be fetched: the chain and revocation data must come from the DSS alone.
        return dss.as_validation_context({"trust_roots": [_root(env)], "allow_fetching": False,
                                          "revocation_mode": "hard-fail"})

    signature, doc_ts = reader.embedded_signatures
    status = validate_pdf_signature(signature, signer_validation_context=offline(), ts_validation_context=offline())
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted  # signature timestamp
    assert signature.docmdp_level is not None and status.docmdp_ok  # certification signature (DocMDP)
    ts_status = validate_pdf_timestamp(doc_ts, validation_context=offline())
    assert ts_status.intact and ts_status.valid and ts_status.trusted, ts_status.pretty_print_details()
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"


def test_api_returns_document_id_location_and_registry_record(env: dict) -> None:
    r = seal(env, options={"level": "B-B", "reason": "ออกใบอนุญาต", "location": "Bangkok"})
    assert r.status_code == 200 and r.content_type == "application/pdf"
    doc_id = r.headers["X-Document-Id"]
    assert DOC_ID.match(doc_id) and r.headers["Location"].endswith(f"/verify/{doc_id}")
    record = env["client"].get(f"/api/v1/documents/{doc_id}", headers=bearer(env["tokens"]["A"])).json
    assert record["sha256"] == hashlib.sha256(r.data).hexdigest()
    assert record["agency"]["name_th"] == "กรมพัฒนาธุรกิจการค้า" and record["level"] == "B-B"
    assert record["seal_serial"] == env["seals"]["A"]
    other = env["client"].get(f"/api/v1/documents/{doc_id}", headers=bearer(env["tokens"]["B"]))
    assert other.status_code == 403
    spec = env["client"].get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.1") and "/api/v1/sign" in spec["paths"]
    raw = env["client"].post("/api/v1/sign", data=env["pdf"], headers={**bearer(env["tokens"]["A"]),
                                                                       "Content-Type": "application/pdf"})
    assert raw.status_code == 200 and raw.headers["X-Document-Id"] != doc_id


def _audit_tail(env: dict, n: int = 1) -> list[dict]:
    return json.loads(env["cli"]("audit", "list", "--limit", str(n), "--json").stdout)


def test_acceptance4_another_agencys_seal_is_forbidden_and_audited(env: dict) -> None:
    r = seal(env, options={"seal": env["seals"]["B"], "level": "B-B"})
    assert r.status_code == 403 and "may not use the seal of agency B" in r.json["detail"]
    last = _audit_tail(env)[0]
    assert last["action"] == "seal.sign" and last["outcome"] == "refused" and last["details"]["status"] == 403


def test_acceptance4_no_or_bad_token_is_401_and_audited(env: dict) -> None:
    r = env["client"].post("/api/v1/sign", data=env["pdf"], content_type="application/pdf")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert _audit_tail(env)[0]["action"] == "seal.authenticate"
    token = env["tokens"]["A"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    r = env["client"].post("/api/v1/sign", data=env["pdf"], content_type="application/pdf", headers=bearer(forged))
    assert r.status_code == 401 and token.split("_", 2)[2] not in json.dumps(_audit_tail(env, 3))


def test_acceptance4_revoked_seal_or_client_cannot_sign(tmp_path: Path) -> None:
    cli = Cli(make_home(tmp_path))
    env = setup_sealing(cli, tmp_path)
    env.update(cli=cli, client=create_app(cli.home).test_client(), pdf=sample_pdf())
    cli("cert", "revoke", "--ca", "issuing", env["seals"]["A"], "--reason", "keyCompromise")
    before = _count(env, "documents")
    r = seal(env, options={"level": "B-B"})
    assert r.status_code == 403 and "is revoked" in r.json["detail"] and "cannot sign" in r.json["detail"]
    assert _count(env, "documents") == before
    assert _audit_tail(env)[0]["outcome"] == "refused"
    client_id = int(env["tokens"]["B"].split("_")[1])
    cli("apiclient", "revoke", str(client_id))
    r = seal(env, options={"level": "B-B"}, agency="B")
    assert r.status_code == 401 and "revoked" in r.json["detail"]


def _encrypted_pdf() -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(sample_pdf())))
    writer.encrypt("owner-secret", "user-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _certified_no_changes() -> bytes:
    """A PDF certified with DocMDP P=1 by a throwaway software key (test input only)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "someone else")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    signer = SimpleSigner(ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
                          __import__("asn1crypto.keys", fromlist=["PrivateKeyInfo"]).PrivateKeyInfo.load(
                              key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption())), SimpleCertificateStore())
    meta = signers.PdfSignatureMetadata(field_name="Other", certify=True, docmdp_permissions=fields.MDPPerm.NO_CHANGES)
    out = io.BytesIO()
    signers.PdfSigner(meta, signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(sample_pdf())), output=out)
    return out.getvalue()


def _broken_xref() -> bytes:
    pdf = sample_pdf()
    at = pdf.rindex(b"startxref")
    return pdf[:at] + b"startxref\n999999\n%%EOF\n"


BAD = {
    "not a PDF": (lambda: b"PK\x03\x04 this is a zip file", None, 415, "not a PDF"),
    "empty": (lambda: b"", None, 400, "empty"),
    "encrypted": (_encrypted_pdf, None, 400, "encrypted"),
    "broken xref": (_broken_xref, None, 400, "cross-reference"),
    "certified, no changes": (_certified_no_changes, {"certify": False, "level": "B-B"}, 409, "P=1"),
    "unknown option": (sample_pdf, {"colour": "red"}, 400, "Additional properties"),
    "bad level": (sample_pdf, {"level": "B-Z"}, 400, "level"),
    "page out of range": (sample_pdf, {"page": 7, "level": "B-B"}, 400, "page 7 does not exist"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_acceptance6_bad_input_is_a_precise_4xx_and_registers_nothing(env: dict, case: str) -> None:
    make, options, status, message = BAD[case]
    before = _count(env, "documents")
    r = seal(env, pdf=make(), options=options)
    assert r.status_code == status, (case, r.status_code, r.data[:300])
    assert r.content_type == "application/problem+json" and message in r.json["detail"], r.json
    assert _count(env, "documents") == before


def test_acceptance6_over_the_size_limit_is_413(tmp_path: Path) -> None:
    cli = Cli(make_home(tmp_path))
    config = cli.home / "govca.toml"
    config.write_text(config.read_text().replace("max_pdf_mb = 50", "max_pdf_mb = 1"))
    env = setup_sealing(cli, tmp_path)
    env.update(cli=cli, client=create_app(cli.home).test_client())
    big = sample_pdf() + b"%" + b"x" * (1024 * 1024 + 10) + b"\n"
    r = seal(env, pdf=big, options={"level": "B-B"})
    assert r.status_code == 413 and "limit is 1,048,576 bytes" in r.json["detail"]
    assert _count(env, "documents") == 0


def test_already_certified_document_gets_an_approval_seal_not_a_second_certification(env: dict) -> None:
    first = seal(env, options={"level": "B-B"})
    again = seal(env, pdf=first.data, options={"level": "B-B"})
    assert again.status_code == 409 and "certify=false" in again.json["detail"]
    approval = seal(env, pdf=first.data, options={"level": "B-B", "certify": False, "field_name": "Second"})
    assert approval.status_code == 200
