"""XAdES for XML documents (issue 14): POST /api/v1/sign-xml at B-B..B-LTA, checked by Debian's
xmlsec1, signxml's XAdESVerifier and govca's own verifier (signer/verification/xades.py); unsafe
or wrong input refused, audited, registering nothing."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from lxml import etree

from cli.web import create_app
from conftest import Cli, make_home
from sealing_helpers import DOC_ID, bearer, registered_documents, setup_sealing
from xades_helpers import (DS_NS, XADES_NS, receipt, sign_xml, signxml_verify, trust_of, utcnow,
                           xmlsec1)

XADES141_NS = "http://uri.etsi.org/01903/v1.4.1#"
NS = {"ds": DS_NS, "xades": XADES_NS, "xades141": XADES141_NS}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("xades")
    cli = Cli(make_home(tmp))
    info = setup_sealing(cli, tmp)
    info.update(cli=cli, client=create_app(cli.home).test_client(), tmp=tmp)
    return info


def _audit_tail(env: dict, n: int = 1) -> list[dict]:
    return json.loads(env["cli"]("audit", "list", "--limit", str(n), "--json").stdout)


def _verify(env: dict, signed: bytes, detached: dict[str, bytes] | None = None) -> dict:
    """govca's verifier offline: the test root only, no in-process status, nothing fetched."""
    from signer.verification.xades import verify_xades

    return verify_xades(signed, trust_of(env["files"]["root"]), utcnow, None, detached=detached)


def _sealed(env: dict, level: str, packaging: str = "enveloped") -> bytes:
    r = sign_xml(env, receipt(), {"level": level, "packaging": packaging})
    assert r.status_code == 200, r.data[:400]
    return r.data


def test_en_319_132_1_b_b_enveloped_verifies_with_xmlsec1_signxml_and_govca(env: dict) -> None:
    """EN 319 132-1 6.2 (B-B), XMLDSig 1.1 6.6.4 (enveloped-signature transform): the sealed
    e-Receipt is the receipt with ds:Signature as the root's last child."""
    r = sign_xml(env, receipt(), {"level": "B-B"})
    assert r.status_code == 200 and r.content_type == "application/xml", r.data[:400]
    assert DOC_ID.match(r.headers["X-Document-Id"]) and r.headers["Location"].endswith(r.headers["X-Document-Id"])
    root = etree.fromstring(r.data)
    assert etree.QName(root).localname == "eReceipt" and root[-1].tag == f"{{{DS_NS}}}Signature"
    refs = root[-1].findall("ds:SignedInfo/ds:Reference", NS)
    transforms = [t.get("Algorithm") for t in refs[0].findall("ds:Transforms/ds:Transform", NS)]
    assert refs[0].get("URI") == "" and transforms == ["http://www.w3.org/2000/09/xmldsig#enveloped-signature",
                                                       "http://www.w3.org/2001/10/xml-exc-c14n#"]
    props = root[-1].find("ds:Object/xades:QualifyingProperties/xades:SignedProperties", NS)
    assert props.find("xades:SignedSignatureProperties/xades:SigningCertificateV2", NS) is not None
    assert props.findtext("xades:SignedDataObjectProperties/xades:DataObjectFormat/xades:MimeType", None, NS) \
        == "application/xml"
    assert root[-1].find("ds:KeyInfo/ds:KeyValue", NS) is None  # the certificate only (X509Data)
    checked = xmlsec1(env["tmp"] / "bb", r.data, env["files"]["root"])
    assert checked.returncode == 0 and "OK" in checked.stdout + checked.stderr, checked.stderr
    assert len(signxml_verify(r.data, env["files"]["root"])) == 3
    report = _verify(env, r.data)
    assert report["verdict"] == "valid", report
    sig = report["signatures"][0]
    assert sig["xades_level"] == "B-B" and sig["subfilter"] == "xades-enveloped"
    assert sig["signing_time_source"] == "claimed"
    names = [c["subject"].get("common_name") for c in sig["chain"]]  # as the PDF report: signer first
    assert names == [sig["signer"]["common_name"], "govca Test Issuing CA", "govca Test Root"]


def _tamper_amount(signed: bytes) -> bytes:
    assert signed.count(b"<Amount>1250.00</Amount>") == 1
    return signed.replace(b"<Amount>1250.00</Amount>", b"<Amount>9250.00</Amount>")


@pytest.mark.parametrize("level", ["B-B", "B-LTA"])
def test_xmldsig_4_4_3_a_changed_amount_is_refused_by_xmlsec1_signxml_and_govca(env: dict, level: str) -> None:
    """XMLDSig 1.1 3.2.1 reference validation: one byte of the signed content changed."""
    from signxml.exceptions import InvalidDigest

    bad = _tamper_amount(_sealed(env, level))
    checked = xmlsec1(env["tmp"] / f"tampered-{level}", bad, env["files"]["root"])
    assert checked.returncode != 0 and "failed" in (checked.stdout + checked.stderr).lower()
    with pytest.raises(InvalidDigest):
        signxml_verify(bad, env["files"]["root"])
    report = _verify(env, bad)
    assert report["verdict"] == "invalid" and report["signatures"][0]["reason"]["code"] == "altered"


def test_en_319_132_1_b_lta_validates_offline_from_its_own_validation_data(env: dict) -> None:
    """EN 319 132-1 6.5 (B-LTA): SignatureTimeStamp (5.3), CertificateValues and RevocationValues
    (5.4) and an ArchiveTimeStamp (5.5.2); validated with the root only, no in-process status."""
    signed = _sealed(env, "B-LTA")
    sig = etree.fromstring(signed)[-1]
    usp = sig.find("ds:Object/xades:QualifyingProperties/xades:UnsignedProperties/"
                   "xades:UnsignedSignatureProperties", NS)
    assert [etree.QName(c).localname for c in usp] == ["SignatureTimeStamp", "CertificateValues", "RevocationValues",
                                                       "ArchiveTimeStamp"]
    assert usp.findall("xades:RevocationValues/xades:OCSPValues/xades:EncapsulatedOCSPValue", NS)
    assert len(usp.findall("xades:CertificateValues/xades:EncapsulatedX509Certificate", NS)) >= 4  # seal, TSA, CAs
    checked = xmlsec1(env["tmp"] / "lta", signed, env["files"]["root"])
    assert checked.returncode == 0, checked.stderr
    signxml_verify(signed, env["files"]["root"])
    report = _verify(env, signed)
    assert report["verdict"] == "valid", report
    entry = report["signatures"][0]
    assert entry["xades_level"] == "B-LTA" and entry["signing_time_source"] == "timestamp"
    assert entry["certificate"]["at_signing"] == "good" and entry["tsa"]
    assert len(entry["archive_timestamps"]) == 1 and entry["archive_timestamps"][0]["trusted"]
    note = next(n for n in entry["notes"] if n["code"] == "archive_timestamp")
    tsa = entry["archive_timestamps"][0]["tsa"]["common_name"]
    assert f"by {tsa} covers" in note["en"] and f"โดย {tsa} ยืนยัน" in note["th"]  # the TSA by its name, not its DN


def test_en_319_132_1_5_5_2_archive_timestamp_covers_the_validation_data(env: dict) -> None:
    """EN 319 132-1 5.5.2.2: the archive time-stamp covers the unsigned properties before it; an
    OCSP response swapped afterwards (the signature itself untouched) makes the signature invalid."""
    signed = _sealed(env, "B-LTA")
    root = etree.fromstring(signed)
    value = root.find(".//xades:EncapsulatedOCSPValue", NS)
    der = bytearray(base64.b64decode(value.text))
    der[-1] ^= 0x01  # the OCSP response's last signature byte
    value.text = base64.b64encode(bytes(der)).decode()
    report = _verify(env, etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert report["verdict"] == "invalid" and report["signatures"][0]["reason"]["code"] == "timestamp_altered"


@pytest.mark.parametrize("level", ["B-T", "B-LT"])
def test_en_319_132_1_b_t_and_b_lt_levels_are_reported_as_such(env: dict, level: str) -> None:
    """EN 319 132-1 6.3 (B-T: a signature time-stamp), 6.4 (B-LT: certificate and revocation values)."""
    report = _verify(env, _sealed(env, level))
    entry = report["signatures"][0]
    assert report["verdict"] == "valid" and entry["xades_level"] == level
    assert entry["signing_time_source"] == "timestamp"


def test_xmldsig_detached_b_b_references_the_file_by_name(env: dict) -> None:
    """XMLDSig 1.1 4.4.3.1: a detached signature references the receipt by its file name; xmlsec1
    reads it next to the signature, signxml and govca are handed it; a changed amount fails."""
    data = receipt()
    r = sign_xml(env, data, {"level": "B-B", "packaging": "detached"}, filename="receipt-000123.xml")
    assert r.status_code == 200, r.data[:400]
    sig = etree.fromstring(r.data)
    assert sig.tag == f"{{{DS_NS}}}Signature"
    assert sig.find("ds:SignedInfo/ds:Reference", NS).get("URI") == "receipt-000123.xml"
    ok = xmlsec1(env["tmp"] / "detached", r.data, env["files"]["root"], ("receipt-000123.xml", data))
    assert ok.returncode == 0, ok.stderr
    signxml_verify(r.data, env["files"]["root"], detached=data)
    assert _verify(env, r.data, {"receipt-000123.xml": data})["verdict"] == "valid"
    missing = _verify(env, r.data)
    assert missing["verdict"] == "indeterminate" and missing["signatures"][0]["reason"]["code"] == "detached_missing"
    bad = _tamper_amount(data)
    refused = xmlsec1(env["tmp"] / "detached-bad", r.data, env["files"]["root"], ("receipt-000123.xml", bad))
    assert refused.returncode != 0
    assert _verify(env, r.data, {"receipt-000123.xml": bad})["verdict"] == "invalid"


def test_detached_b_lta_validates_offline(env: dict) -> None:
    """EN 319 132-1 5.5.2.2 with a detached reference: the archive time-stamp covers the file's octets."""
    data = receipt()
    signed = _sealed(env, "B-LTA", "detached")
    report = _verify(env, signed, {"receipt.xml": data})
    assert report["verdict"] == "valid" and report["signatures"][0]["xades_level"] == "B-LTA", report


def test_an_untrusted_root_is_indeterminate(env: dict, tmp_path: Path) -> None:
    """EN 319 102-1 5.2.6 (X.509 certificate validation): no path to a trust anchor -> INDETERMINATE."""
    from signer.verification.verify import TrustSettings
    from signer.verification.xades import verify_xades

    signed = _sealed(env, "B-B")
    report = verify_xades(signed, TrustSettings(()), utcnow)
    assert report["verdict"] == "indeterminate" and report["signatures"][0]["reason"]["code"] == "untrusted"


BILLION_LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
                  b'<lolz>&lol3;</lolz>')
XXE = b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<r>&xxe;</r>'
BAD = {
    "XXE": (XXE, None, 400, "DOCTYPE"),
    "billion laughs": (BILLION_LAUGHS, None, 400, "DOCTYPE"),
    "doctype": (b'<!DOCTYPE eReceipt SYSTEM "http://example.com/r.dtd">\n<eReceipt/>', None, 400, "DOCTYPE"),
    "malformed": (b"<eReceipt><Total>1</eReceipt>", None, 400, "not well-formed XML"),
    "empty": (b"", None, 400, "is empty"),
    "wrong content type": (b"%PDF-1.7 not xml", "application/pdf", 415, "not application/pdf"),
    "unknown option": (None, {"colour": "red"}, 400, "Additional properties"),
    "bad level": (None, {"level": "B-Z"}, 400, "level"),
    "bad file name": (None, {"packaging": "detached", "file_name": "../etc/passwd"}, 400, "file_name"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_precise_4xx_audited_and_registers_nothing(env: dict, case: str) -> None:
    """OWASP XXE prevention / XML 1.0 2.8: no DOCTYPE accepted; every refusal is a problem
    document, audited as seal.sign-xml refused, and nothing is registered."""
    body, extra, status, message = BAD[case]
    before = registered_documents(env["cli"].home)
    if isinstance(extra, str):
        r = sign_xml(env, body, content_type=extra)
    elif body is None:
        r = sign_xml(env, receipt(), extra)
    else:
        r = sign_xml(env, body, content_type="application/xml")
    assert r.status_code == status, (case, r.status_code, r.data[:300])
    assert r.content_type == "application/problem+json" and message in r.json["detail"], r.json
    last = _audit_tail(env)[0]
    assert last["action"] == "seal.sign-xml" and last["outcome"] == "refused" and last["details"]["status"] == status
    assert registered_documents(env["cli"].home) == before


def test_a_body_over_the_size_limit_is_413_audited_and_registers_nothing(env: dict) -> None:
    """The XML limit is the PDF one ([signer] max_pdf_mb): 413 before anything is parsed."""
    config = env["cli"].home / "govca.toml"
    original = config.read_text()
    config.write_text(original.replace("max_pdf_mb = 50", "max_pdf_mb = 1"))
    try:
        client = create_app(env["cli"].home).test_client()
    finally:
        config.write_text(original)
    big = receipt().replace(b"</eReceipt>", b"<!--" + b"x" * (1024 * 1024 + 10) + b"--></eReceipt>")
    before = registered_documents(env["cli"].home)
    r = client.post("/api/v1/sign-xml", data=big, headers={**bearer(env["tokens"]["A"]),
                                                           "Content-Type": "application/xml"})
    assert r.status_code == 413 and "1,048,576-byte limit" in r.json["detail"], r.json
    last = _audit_tail(env)[0]
    assert last["action"] == "seal.sign-xml" and last["outcome"] == "refused" and last["details"]["status"] == 413
    assert registered_documents(env["cli"].home) == before


def test_another_agencys_seal_is_forbidden_and_audited(env: dict) -> None:
    before = registered_documents(env["cli"].home)
    r = sign_xml(env, receipt(), {"level": "B-B", "seal": env["seals"]["B"]})
    assert r.status_code == 403 and "may not use the seal of agency B" in r.json["detail"]
    last = _audit_tail(env)[0]
    assert last["action"] == "seal.sign-xml" and last["outcome"] == "refused" and last["details"]["status"] == 403
    assert registered_documents(env["cli"].home) == before


def test_raw_text_xml_body_and_the_openapi_entry(env: dict) -> None:
    r = env["client"].post("/api/v1/sign-xml", data=receipt(), headers={**bearer(env["tokens"]["A"]),
                                                                        "Content-Type": "text/xml"})
    assert r.status_code == 200
    fmt = etree.fromstring(r.data).find(".//xades:DataObjectFormat/xades:MimeType", NS)
    assert fmt.text == "text/xml"
    assert r.data.count(b"SignatureTimeStamp") and r.data.count(b"ArchiveTimeStamp")  # default level B-LTA
    spec = env["client"].get("/api/v1/openapi.json").json
    assert "/api/v1/sign-xml" in spec["paths"] and "XmlSignOptions" in spec["components"]["schemas"]
    assert env["client"].post("/api/v1/sign-xml", data=receipt(), content_type="application/xml").status_code == 401


def test_registration_on_sqlite_and_postgresql(any_home: Path, tmp_path: Path) -> None:
    """The sealed XML is registered like a PDF (id, SHA-256, level, subfilter xades-*), audited as
    seal.sign-xml success, on both databases."""
    import hashlib

    cli = Cli(any_home)
    info = setup_sealing(cli, tmp_path)
    info.update(cli=cli, client=create_app(any_home).test_client())
    before = registered_documents(any_home)
    r = sign_xml(info, receipt(), {"level": "B-LT"})
    assert r.status_code == 200, r.data[:300]
    assert registered_documents(any_home) == before + 1
    record = info["client"].get(f"/api/v1/documents/{r.headers['X-Document-Id']}",
                                headers=bearer(info["tokens"]["A"])).json
    assert record["sha256"] == hashlib.sha256(r.data).hexdigest() and record["level"] == "B-LT"
    assert record["subfilter"] == "xades-enveloped" and record["size"] == len(r.data)
    last = json.loads(cli("audit", "list", "--limit", "1", "--json").stdout)[0]
    assert last["action"] == "seal.sign-xml" and last["outcome"] == "success"
    assert last["details"]["document"] == r.headers["X-Document-Id"]


def test_xmldsig_8_1_3_a_signature_over_part_of_the_document_is_not_confirmed_for_it() -> None:
    """XMLDSig 1.1 8.1.3 (see what is signed): a foreign XAdES signature whose only data reference
    is one element (#part) proves nothing about the rest the page would show: INDETERMINATE."""
    from signxml.xades import XAdESSigner

    from signer.verification.verify import TrustSettings
    from signer.verification.xades import verify_xades
    from xades_helpers import foreign_chain

    root_der, leaf, key = foreign_chain()
    doc = etree.fromstring(b'<doc><part Id="part"><Amount>1.00</Amount></part><Amount>999.00</Amount></doc>')
    signer = XAdESSigner(signature_algorithm="ecdsa-sha256", c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    signed = signer.sign(
        doc, key=key, cert=[leaf], reference_uri=["#part"], always_add_key_value=False)
    report = verify_xades(etree.tostring(signed), TrustSettings((root_der,)), utcnow)
    assert report["verdict"] == "indeterminate" and report["signatures"][0]["reason"]["code"] == "partial", report


@pytest.mark.parametrize("key_type, method", [("rsa2048", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
                                              ("ec-p384", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384")])
def test_hash_rule_rsa_and_p384_seals_sign_with_their_mechanism(env: dict, key_type: str, method: str) -> None:
    """hsm.default_mechanism (docs/profile.md common rules) in XMLDSig identifiers (RFC 9231 2.3.6,
    2.2.2): an RSA seal signs rsa-sha256 (PKCS #1 v1.5), a P-384 seal ecdsa-sha384; both verify with
    xmlsec1 and offline at B-LTA. The seals are agency B's, so agency A's default seal is unchanged."""
    serial = json.loads(env["cli"]("agency", "seal", "issue", "--agency", "B", "--ca", "issuing", "--key-type",
                                   key_type, "--json").stdout)["serial"]
    env["cli"]("ocsp", "refresh")
    r = sign_xml(env, receipt(), {"level": "B-LTA", "seal": serial}, agency="B")
    assert r.status_code == 200, r.data[:400]
    sig = etree.fromstring(r.data)[-1]
    assert sig.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm") == method
    checked = xmlsec1(env["tmp"] / f"seal-{key_type}", r.data, env["files"]["root"])
    assert checked.returncode == 0, checked.stderr
    report = _verify(env, r.data)
    assert report["verdict"] == "valid" and report["signatures"][0]["xades_level"] == "B-LTA", report


def test_an_already_sealed_document_is_a_conflict_and_registers_nothing(env: dict) -> None:
    """EN 319 132-1 6.2: govca makes one enveloped signature per document; a second would not be
    the root's only ds:Signature and no counter-signature is offered: 409, audited, nothing registered."""
    sealed = _sealed(env, "B-B")
    before = registered_documents(env["cli"].home)
    r = sign_xml(env, sealed, {"level": "B-B"})
    assert r.status_code == 409 and "already carries a signature" in r.json["detail"], r.json
    last = _audit_tail(env)[0]
    assert last["action"] == "seal.sign-xml" and last["outcome"] == "refused" and last["details"]["status"] == 409
    assert registered_documents(env["cli"].home) == before


def test_en_319_102_1_a_revocation_after_the_time_stamp_leaves_b_lta_valid_and_b_b_invalid(env: dict) -> None:
    """EN 319 102-1 5.6.2.4 (past signature validation): a B-LTA seal whose certificate was revoked
    after its signature time-stamp stays valid (with a note when today's status is known); a B-B seal,
    judged now, is invalid once today's status says revoked."""
    import time

    from ca.storage.db import Database
    from cli.compose import service_token
    from cli.config import load_config
    from cli.ocsp_wiring import build_responder
    from cli.signer_wiring import InProcessRevocation
    from signer.verification.xades import verify_xades

    serial = json.loads(env["cli"]("agency", "seal", "issue", "--agency", "B", "--ca", "issuing",
                                   "--json").stdout)["serial"]
    env["cli"]("ocsp", "refresh")
    docs = {}
    for level in ("B-LTA", "B-B"):
        r = sign_xml(env, receipt(), {"level": level, "seal": serial}, agency="B")
        assert r.status_code == 200, r.data[:300]
        docs[level] = r.data
    time.sleep(1.1)  # revocation times are whole seconds: after the time-stamp's second
    env["cli"]("cert", "revoke", "--ca", "issuing", serial, "--reason", "keyCompromise")
    cfg = load_config(env["cli"].home)
    db = Database(cfg.database_url)
    try:
        responder, reader = build_responder(cfg, db)
        today = InProcessRevocation(responder, reader)
        trust = trust_of(env["files"]["root"])
        assert _verify(env, docs["B-LTA"])["verdict"] == "valid"  # offline: the embedded status
        lta = verify_xades(docs["B-LTA"], trust, utcnow, today)
        entry = lta["signatures"][0]
        assert lta["verdict"] == "valid" and entry["certificate"]["today"] == "revoked", lta
        assert any(n["code"] == "revoked_later" for n in entry["notes"])
        bb = verify_xades(docs["B-B"], trust, utcnow, today)
        assert bb["verdict"] == "invalid" and bb["signatures"][0]["reason"]["code"] == "revoked", bb
    finally:
        db.dispose()
    assert sign_xml(env, receipt(), {"level": "B-B", "seal": serial}, agency="B").status_code == 403


def test_en_319_132_1_5_3_a_signature_time_stamp_of_another_signature_proves_no_time(env: dict) -> None:
    """EN 319 132-1 5.3: the token's imprint must be the digest of this signature's canonical
    ds:SignatureValue. Another document's token (valid in itself) is not used: the time is the
    claimed one. An unreadable token makes the signature INDETERMINATE, never an error."""
    first, second = (etree.fromstring(_sealed(env, "B-T")) for _ in range(2))
    path = ".//xades:SignatureTimeStamp/xades:EncapsulatedTimeStamp"
    first.find(path, NS).text = second.find(path, NS).text
    report = _verify(env, etree.tostring(first, xml_declaration=True, encoding="UTF-8"))
    entry = report["signatures"][0]
    assert entry["signing_time_source"] == "claimed" and any(n["code"] == "claimed_time" for n in entry["notes"])
    first.find(path, NS).text = "bm90IGEgdG9rZW4="  # "not a token"
    broken = _verify(env, etree.tostring(first, xml_declaration=True, encoding="UTF-8"))
    assert broken["verdict"] == "indeterminate" and broken["signatures"][0]["reason"]["code"] == "indeterminate"


def test_xmldsig_4_4_3_3_comments_around_the_root_are_kept_and_a_processing_instruction_refused(env: dict) -> None:
    """XMLDSig 1.1 4.4.3.3: URI="" is the whole document without comments. A comment before the
    root is kept and the seal still verifies with xmlsec1; a processing instruction outside the root
    (which that reference would cover, and signxml cannot sign) is a 400 that registers nothing."""
    commented = receipt().replace(b"<eReceipt", b"<!-- issued by the agency's system -->\n<eReceipt", 1)
    r = sign_xml(env, commented, {"level": "B-B"})
    assert r.status_code == 200 and b"<!-- issued by the agency's system --><eReceipt" in r.data  # no text node there
    assert xmlsec1(env["tmp"] / "commented", r.data, env["files"]["root"]).returncode == 0
    assert _verify(env, r.data)["verdict"] == "valid"
    before = registered_documents(env["cli"].home)
    styled = receipt().replace(b"<eReceipt", b'<?xml-stylesheet href="r.xsl" type="text/xsl"?>\n<eReceipt', 1)
    refused = sign_xml(env, styled, {"level": "B-B"})
    assert refused.status_code == 400 and "processing instruction outside its root" in refused.json["detail"]
    assert registered_documents(env["cli"].home) == before
