"""Issue 13: long-term validation data that does not grow with revocations.

A B-LTA seal embeds, for each certificate of its chains, the status its issuer publishes: govca's
OCSP answers for the seal, the TSA and (from the root's responder) the issuing CA, and never the
issuing CA's full CRL (ETSI EN 319 142-1 5.4 B-LT; RFC 6960; RFC 5280 5.2.5). It validates offline,
hard-fail, in pyHanko and in pdfsig, and its size does not move when the issuing CA revokes a few
hundred more certificates. With adbe.pkcs7.detached the revocation data rides inside the CMS, and
the space reserved for the CMS follows what it holds (ISO 32000-1 12.8.1: a hexadecimal string).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import secrets

import pytest
from asn1crypto import crl as acrl
from asn1crypto import ocsp as aocsp
from asn1crypto import pem
from asn1crypto import x509 as ax509
from cryptography import x509
from sqlalchemy import create_engine, text

from cli.config import load_config
from cli.web import create_app
from conftest import (Cli, _drop_pg_database, _pg_database, _pg_state, _used_databases, make_home, pg_available, run,
                      tool)
from sealing_helpers import bearer, sample_pdf, setup_sealing

SUBFILTERS = ("ETSI.CAdES.detached", "adbe.pkcs7.detached")
REVOKED = 300  # enough for a full CRL of ~10 KB; large N values live in bench/revocation.py
SIZE_BOUND = 2048  # the issue's bound on the growth of a seal between the two states


def _database(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        _used_databases.add("SQLite")
        return None, None
    if not pg_available():
        pytest.skip(f"PostgreSQL run skipped ({_pg_state.get('why')})")
    _used_databases.add("PostgreSQL")
    return _pg_database()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ltv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Root and issuing CA with responders, a TSA, agency A's seal; B-LTA seals in both subfilters
    made before and after the issuing CA revokes REVOKED more certificates (rows inserted in this
    test's own database, then `govca crl publish` and `crl generate`: the newest full CRL is large)."""
    name, url = _database(request)
    tmp = tmp_path_factory.mktemp(f"ltv-{request.param}")
    cli = Cli(make_home(tmp, url))
    env = setup_sealing(cli, tmp)
    env.update(cli=cli, tmp=tmp, app=create_app(cli.home).test_client())
    try:
        env["before"] = {sf: seal(env, sf) for sf in SUBFILTERS}
        env["full_crl_before"] = env["app"].get("/crl/issuing.crl").data
        revoke_many(env, REVOKED)
        env["full_crl_after"] = env["app"].get("/crl/issuing.crl").data
        env["after"] = {sf: seal(env, sf) for sf in SUBFILTERS}
        yield env
    finally:
        if name is not None:
            _drop_pg_database(name)


def seal(env: dict, subfilter: str, level: str = "B-LTA") -> bytes:
    data = {"file": (io.BytesIO(sample_pdf()), "doc.pdf", "application/pdf"),
            "options": json.dumps({"level": level, "subfilter": subfilter})}
    r = env["app"].post("/api/v1/sign", data=data, headers=bearer(env["tokens"]["A"]),
                        content_type="multipart/form-data")
    assert r.status_code == 200, r.data[:400]
    return r.data


def revoke_many(env: dict, n: int) -> None:
    """A fast path for a TEST: revoked rows of the issuing CA inserted directly, in the seal's own
    partition (the CRL its distribution point names grows too), then every CRL published."""
    engine = create_engine(load_config(env["cli"].home).database_url)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    try:
        with engine.begin() as c:
            ca_id, partition, der = c.execute(text(
                "SELECT c.ca_id, c.crl_partition, c.der FROM certificates c JOIN cas ON cas.id = c.ca_id "
                "WHERE cas.name = 'issuing' AND c.serial_hex = :s"), {"s": env["seals"]["A"]}).one()
            rows = [{"serial": "7F" + secrets.token_hex(15).upper(), "ca": ca_id, "der": der, "now": now,
                     "after": now + dt.timedelta(days=365), "partition": partition} for _ in range(n)]
            c.execute(text(
                "INSERT INTO certificates (serial_hex, ca_id, profile, subject, not_before, not_after, der, key_uri, "
                "status, revoked_at, revocation_reason, invalidity_date, issued_at, crl_partition) VALUES (:serial, "
                ":ca, 'eseal', 'CN=revoked in a test', :now, :after, :der, NULL, 'revoked', :now, 'keyCompromise', "
                "NULL, :now, :partition)"), rows)
    finally:
        engine.dispose()
    env["cli"]("crl", "publish")
    env["cli"]("crl", "generate", "--ca", "issuing")


# --- what a seal carries ------------------------------------------------------------------------
def _reader(pdf: bytes):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.reader import PdfFileReader

    return PdfFileReader(io.BytesIO(pdf))


def dss_of(pdf: bytes) -> tuple[list[bytes], list[bytes]]:
    """The DSS's OCSP responses and CRLs (DER)."""
    from pyhanko.pdf_utils.decode_limits import DecodePurpose
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    dss = DocumentSecurityStore.read_dss(_reader(pdf))
    return ([o.get_object().read_data(DecodePurpose.OCSP_RESPONSE) for o in dss.ocsps],
            [c.get_object().read_data(DecodePurpose.CRL) for c in dss.crls])


def cms_archive(pdf: bytes) -> tuple[list[bytes], list[bytes]] | None:
    """adbe-revocationInfoArchival (a signed attribute of the seal's CMS): OCSP responses and CRLs."""
    info = _reader(pdf).embedded_signatures[0].signer_info
    for attr in info["signed_attrs"]:
        if attr["type"].native == "adobe_revocation_info_archival":
            value = attr["values"][0]
            return [o.dump() for o in value["ocsp"] or []], [c.dump() for c in value["crl"] or []]
    return None


def covered(ocsps: list[bytes]) -> set[int]:
    """The serial numbers the OCSP responses answer for (RFC 6960 4.2.1 SingleResponse certID)."""
    out = set()
    for der in ocsps:
        basic = aocsp.OCSPResponse.load(der).basic_ocsp_response
        out |= {r["cert_id"]["serial_number"].native for r in basic["tbs_response_data"]["responses"]}
    return out


def serials(env: dict, pdf: bytes) -> dict[str, int]:
    """The seal's, the TSA's (signer of the document time-stamp) and the issuing CA's serials."""
    seal_sig, doc_ts = _reader(pdf).embedded_signatures
    issuing = x509.load_pem_x509_certificate(env["files"]["issuing"].read_bytes())
    return {"seal": seal_sig.signer_cert.serial_number, "tsa": doc_ts.signer_cert.serial_number,
            "issuing CA": issuing.serial_number}


def root_of(env: dict) -> ax509.Certificate:
    return ax509.Certificate.load(pem.unarmor(env["files"]["root"].read_bytes())[2])


def validate_offline(env: dict, pdf: bytes, archive_only: bool = False) -> None:
    """pyHanko on the document alone: the root is the one anchor, nothing is fetched, missing
    revocation data fails (hard-fail). ``archive_only``: the seal is judged with the CMS's own
    revocation archive only (no DSS), as an adbe.pkcs7.detached validator reads it."""
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko_certvalidator import ValidationContext

    reader = _reader(pdf)
    dss = DocumentSecurityStore.read_dss(reader)
    settings = {"trust_roots": [root_of(env)], "allow_fetching": False, "revocation_mode": "hard-fail"}

    def offline():  # type: ignore[no-untyped-def]
        if archive_only:
            ocsps, crls = cms_archive(pdf)  # type: ignore[misc]
            return ValidationContext(**settings, ocsps=[aocsp.OCSPResponse.load(o) for o in ocsps],
                                     crls=[acrl.CertificateList.load(c) for c in crls])
        return dss.as_validation_context(settings)

    signature, doc_ts = reader.embedded_signatures
    status = validate_pdf_signature(signature, signer_validation_context=offline(), ts_validation_context=offline())
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    if not archive_only:
        ts_status = validate_pdf_timestamp(doc_ts, validation_context=offline())
        assert ts_status.intact and ts_status.valid and ts_status.trusted, ts_status.pretty_print_details()


def pdfsig_accepts(env: dict, pdf: bytes, name: str) -> None:
    db = env["tmp"] / "nssdb"
    if not db.exists():
        db.mkdir()
        for args in (["-N", "--empty-password"],
                     ["-A", "-n", "govca-root", "-t", "CT,C,C", "-a", "-i", str(env["files"]["root"])]):
            r = run([tool("certutil"), args[0], "-d", f"sql:{db}", *args[1:]])
            assert r.returncode == 0, r.stdout + r.stderr
    path = env["tmp"] / name
    path.write_bytes(pdf)
    r = run([tool("pdfsig"), "-nssdir", f"sql:{db}", "-no-ocsp", str(path)])  # offline
    assert r.returncode == 0, r.stdout + r.stderr
    block = re.split(r"^Signature #\d+:$", r.stdout, flags=re.M)[1]
    assert "Signature Validation: Signature is Valid." in block, block
    assert "Certificate Validation: Certificate is Trusted." in block, block


# --- the tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("subfilter", SUBFILTERS)
def test_issue13_en_319_142_1_b_lta_embeds_ocsp_for_seal_tsa_and_issuing_ca_and_no_full_crl(
        ltv: dict, subfilter: str) -> None:
    pdf = ltv["after"][subfilter]
    ocsps, crls = dss_of(pdf)
    # RFC 6960: govca's OCSP answers for the seal and the TSA (end entities) and, from the root's
    # responder, the status the parent publishes for the issuing CA's certificate.
    wanted = serials(ltv, pdf)
    missing = {k: v for k, v in wanted.items() if v not in covered(ocsps)}
    assert not missing, f"no OCSP answer for {missing} in the DSS"
    # Never the issuing CA's full CRL (it lists every revocation of the CA's history), nor, since
    # everything here has an OCSP answer, any CRL at all.
    assert ltv["full_crl_after"] not in crls and ltv["full_crl_before"] not in crls
    assert crls == [], [acrl.CertificateList.load(c)["tbs_cert_list"]["issuer"].human_friendly for c in crls]
    if subfilter == "adbe.pkcs7.detached":
        archive = cms_archive(pdf)
        assert archive is not None, "adbe.pkcs7.detached B-LTA without adbe-revocationInfoArchival"
        assert not set(wanted.values()) - {wanted["tsa"]} - covered(archive[0])
        assert archive[1] == [], "a CRL inside the CMS"
        validate_offline(ltv, pdf, archive_only=True)
    validate_offline(ltv, pdf)
    pdfsig_accepts(ltv, pdf, f"after-{subfilter}.pdf")


def test_issue13_the_seal_size_does_not_grow_with_revocations(ltv: dict) -> None:
    before, after = len(ltv["full_crl_before"]), len(ltv["full_crl_after"])
    assert after > before + 20 * REVOKED, ("the full CRL did not grow: nothing was revoked", before, after)
    for subfilter in SUBFILTERS:
        grew = len(ltv["after"][subfilter]) - len(ltv["before"][subfilter])
        assert abs(grew) < SIZE_BOUND, (f"{subfilter}: the seal grew by {grew} bytes with {REVOKED} revocations "
                                        f"(the full CRL grew by {after - before})")
        validate_offline(ltv, ltv["before"][subfilter])
        pdfsig_accepts(ltv, ltv["before"][subfilter], f"before-{subfilter}.pdf")


def test_issue13_b_lt_validates_offline_too(ltv: dict) -> None:
    for subfilter in SUBFILTERS:
        pdf = seal(ltv, subfilter, "B-LT")
        ocsps, crls = dss_of(pdf) if subfilter == "ETSI.CAdES.detached" else cms_archive(pdf)  # type: ignore[misc]
        assert len(covered(ocsps)) >= 3 and crls == []
        from pyhanko.sign.validation import validate_pdf_signature
        from pyhanko_certvalidator import ValidationContext

        # The revocation data where this subfilter puts it (the DSS, or the CMS's archive) alone.
        context = ValidationContext(trust_roots=[root_of(ltv)], allow_fetching=False, revocation_mode="hard-fail",
                                    ocsps=[aocsp.OCSPResponse.load(o) for o in ocsps])
        status = validate_pdf_signature(_reader(pdf).embedded_signatures[0], signer_validation_context=context,
                                        ts_validation_context=context)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        pdfsig_accepts(ltv, pdf, f"b-lt-{subfilter}.pdf")


def _contents(pdf: bytes) -> tuple[int, int]:
    """(bytes reserved for the seal's CMS, the CMS's DER length) (ISO 32000-1 12.8.1 /Contents)."""
    content = _reader(pdf).embedded_signatures[0].pkcs7_content
    length = content[1]
    if length & 0x80:
        k = length & 0x7F
        length = 2 + k + int.from_bytes(content[2:2 + k], "big")
    else:
        length += 2
    return len(content), length


def test_issue13_adbe_reservation_follows_the_embedded_data(ltv: dict) -> None:
    """The seal key from the HSM signs through govca's library with small revocation data (today's
    OCSP answers) and with large (plus the issuing CA's full CRL of REVOKED entries): the reserved
    CMS space grows by what is embedded, not twice it, and the slack stays under a small bound."""
    from verify_helpers import LibrarySigner
    from signer.revinfo import RevocationData, validation_context
    from signer.sealing.pades import Level, SigningMaterial, SignOptions, sign_pdf

    library = LibrarySigner(ltv["cli"].home, ltv["seals"]["A"])
    small = library.revocation_data()
    large = small + RevocationData((), (ltv["full_crl_after"],))
    s, u = library.seal, library.unit
    material = SigningMaterial(s.cert_der, s.chain_der, library.svc.keys.get_key(s.key_uri))
    sizes = {}
    for name, data in (("small", small), ("large", large)):
        context = validation_context((s.chain_der[-1],), s.chain_der + u.chain_der + (u.cert_der,), data,
                                     library.svc.clock())
        pdf = sign_pdf(sample_pdf(), material, SignOptions(level=Level.B_LT, stamp=False,
                                                          subfilter="adbe.pkcs7.detached"),
                       timestamper=library.svc._timestamper, context=context)
        reserved, used = _contents(pdf)
        assert used <= reserved
        assert reserved - used < 1200, (name, reserved, used)  # the documented margin and estimates
        sizes[name] = reserved, used, data.size
    grew = sizes["large"][0] - sizes["small"][0]
    embedded = sizes["large"][2] - sizes["small"][2]
    assert embedded <= grew < embedded + 64, (sizes, "the reservation should grow by what is embedded, once")


# --- the largest realistic input; a CA without a responder; a renewed TSA ---------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def big(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An RSA-4096 root with no OCSP responder (its status is its ARL) and RSA-4096 issuing CA
    with an RSA-3072 responder; agency A's RSA-3072 seal under it; a second issuing CA with no
    responder (agency B's seal: its status is its partition CRL); the TSA (EC P-256) on the first."""
    name, url = _database(request)
    tmp = tmp_path_factory.mktemp(f"ltv-big-{request.param}")
    cli = Cli(make_home(tmp, url))
    cli("ca", "create-root", "--name", "root", "--subject", "/C=TH/O=govca Test/CN=govca Test Root RSA-4096",
        "--key-type", "rsa4096")
    cli("ca", "create-issuing", "--name", "issuing", "--parent", "root", "--subject",
        "/C=TH/O=govca Test/CN=govca Test Issuing CA RSA-4096", "--key-type", "rsa4096")
    cli("ca", "create-issuing", "--name", "norespond", "--parent", "root", "--subject",
        "/C=TH/O=govca Test/CN=govca Test Issuing CA without a responder", "--key-type", "ec-p384")
    cli("ocsp", "setup", "--ca", "issuing", "--key-type", "rsa3072")
    cli("tsa", "setup", "--ca", "issuing")
    files, tokens, seals = {"root": tmp / "root.pem"}, {}, {}
    cli("ca", "export", "root", "--out", str(files["root"]))
    for code, ca, key, jid in (("A", "issuing", "rsa3072", "0994000159889"), ("B", "norespond", "ec-p256",
                                                                               "0994000165510")):
        cli("agency", "add", "--code", code, "--name-th", "กรมพัฒนาธุรกิจการค้า", "--name-en", f"Agency {code}",
            "--juristic-id", jid)
        seals[code] = json.loads(cli("agency", "seal", "issue", "--agency", code, "--ca", ca, "--key-type", key,
                                     "--json").stdout)["serial"]
        tokens[code] = json.loads(cli("apiclient", "create", "--agency", code, "--name", f"{code} system",
                                      "--json").stdout)["token"]
    cli("ocsp", "refresh")
    try:
        yield {"cli": cli, "tmp": tmp, "files": files, "tokens": tokens, "seals": seals,
               "app": create_app(cli.home).test_client()}
    finally:
        if name is not None:
            _drop_pg_database(name)


def _seal_as(env: dict, agency: str, subfilter: str, level: str = "B-LTA") -> bytes:
    return seal({**env, "tokens": {"A": env["tokens"][agency]}}, subfilter, level)


def _crl_scope(der: bytes) -> tuple[str, list[str] | None]:
    """(the CRL issuer's common name, the URLs of its issuingDistributionPoint or None: a full CRL)."""
    crl = x509.load_der_x509_crl(der)
    cn = crl.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    try:
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return str(cn), None
    return str(cn), [n.value for n in idp.full_name or ()]


def _cdp(cert: ax509.Certificate) -> list[str]:
    return [dp.url for dp in cert.crl_distribution_points]


@pytest.mark.parametrize("subfilter", SUBFILTERS)
def test_issue13_rsa_4096_chain_reserves_enough_and_a_root_without_responder_gives_its_arl(
        big: dict, subfilter: str) -> None:
    """RFC 5280 5.2.5/6.3.3: the issuing CA's certificate is covered by the root's ARL (the root's
    full CRL: CA certificates only); the seal and the TSA by OCSP answers of an RSA-3072 responder.
    pyHanko raises when the reserved space is too small: every level signs."""
    for level in ("B-T", "B-LT", "B-LTA"):
        pdf = _seal_as(big, "A", subfilter, level)
        reserved, used = _contents(pdf)
        assert used <= reserved and reserved - used < 1200, (level, reserved, used)
    ocsps, crls = dss_of(pdf)
    seal_sig, doc_ts = _reader(pdf).embedded_signatures
    assert {seal_sig.signer_cert.serial_number, doc_ts.signer_cert.serial_number} <= covered(ocsps)
    assert [_crl_scope(c) for c in crls] == [("govca Test Root RSA-4096", None)]
    if subfilter == "adbe.pkcs7.detached":
        archive = cms_archive(pdf)
        assert archive is not None and [_crl_scope(c) for c in archive[1]] == [("govca Test Root RSA-4096", None)]
        validate_offline(big, pdf, archive_only=True)
    validate_offline(big, pdf)
    pdfsig_accepts(big, pdf, f"rsa-{subfilter}.pdf")


@pytest.mark.parametrize("subfilter", SUBFILTERS)
def test_issue13_rfc5280_5_2_5_no_responder_embeds_the_partition_crl_not_the_full_crl(
        big: dict, subfilter: str) -> None:
    pdf = _seal_as(big, "B", subfilter)
    ocsps, crls = dss_of(pdf)
    seal_cert = _reader(pdf).embedded_signatures[0].signer_cert
    partition_url = [u for u in _cdp(seal_cert) if re.search(r"/crl/norespond/\d{8}\.crl$", u)]
    assert partition_url, _cdp(seal_cert)
    scopes = sorted(_crl_scope(c) for c in crls)
    # The seal's partition CRL (its IDP names the seal's CDP) and the root's ARL; never the full CRL
    # of the CA without a responder.
    assert scopes == [("govca Test Issuing CA without a responder", partition_url),
                      ("govca Test Root RSA-4096", None)], scopes
    assert big["app"].get("/crl/norespond.crl").data not in crls
    validate_offline(big, pdf)
    pdfsig_accepts(big, pdf, f"partition-{subfilter}.pdf")


def test_issue13_a_renewed_bigger_tsa_is_sized_by_its_own_token(big: dict) -> None:
    """The sealing service's time-stamper keeps a sizing token: after `govca tsa setup` renews the
    TSA with an RSA-3072 key (a bigger token than the EC one sized first), the reservation follows
    it (pyHanko would raise on a too-small one) and the new TSA's status is the one embedded."""
    from verify_helpers import LibrarySigner
    from signer.revinfo import validation_context
    from signer.sealing.pades import Level, SigningMaterial, SignOptions, sign_pdf

    library = LibrarySigner(big["cli"].home, big["seals"]["A"])
    svc = library.svc

    def sign() -> bytes:
        s, u = library.seal, svc.tsa_unit()
        pairs = [(s.cert_der, s.chain_der[0]), (u.cert_der, u.chain_der[0]), *zip(s.chain_der, s.chain_der[1:])]
        context = validation_context((s.chain_der[-1],), s.chain_der + u.chain_der + (u.cert_der,),
                                     svc.revocation(pairs), svc.clock())
        material = SigningMaterial(s.cert_der, s.chain_der, svc.keys.get_key(s.key_uri))
        return sign_pdf(sample_pdf(), material, SignOptions(level=Level.B_LTA, stamp=False,
                                                            subfilter="adbe.pkcs7.detached"),
                        timestamper=svc._timestamper, context=context)

    first = sign()
    big["cli"]("tsa", "setup", "--ca", "issuing", "--key-type", "rsa3072")
    big["cli"]("ocsp", "refresh")
    svc._tsa = (-1e9, None)  # the minute after which the service re-reads its TSA has passed
    second = sign()
    tsa_keys = [_reader(pdf).embedded_signatures[1].signer_cert.public_key.algorithm for pdf in (first, second)]
    assert tsa_keys == ["ec", "rsa"], tsa_keys
    reserved, used = _contents(second)
    assert used <= reserved and reserved - used < 1200, (reserved, used)
    validate_offline(big, second)
