"""Issue 12, acceptance 2: the external parent's status (`govca ca refresh-parent`) in long-term
signatures, on the verification page and in /metrics.

A stand-in national root made with OpenSSL alone (tests/external_helpers.py) certifies govca's
external issuing CA with a CRL distribution point served over HTTP on 127.0.0.1 and an OCSP URL
answered by `openssl ocsp` with a delegated responder (RFC 6960 4.2.2.2). A B-LTA seal made under
that CA must validate offline (pyHanko, fetching disabled, hard-fail) against the stand-in root
alone, and pdfsig must accept it; again after the root revokes an unrelated certificate.
"""
from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from asn1crypto import crl as acrl
from asn1crypto import pem
from asn1crypto import x509 as ax509
from cryptography import x509
from sqlalchemy import create_engine, text

from cli.config import load_config
from cli.web import create_app
from conftest import (Cli, _drop_pg_database, _pg_database, _pg_state, _used_databases, make_home, pg_available, run,
                      tool)
from external_helpers import ISSUING_SUBJECT, FileServer, StandInRoot, make_standin_root, trust
from ocsp_helpers import free_port
from sealing_helpers import bearer, sample_pdf

# The stand-in root's sections for govca's issuing CA with an OCSP URL, and for its delegated
# OCSP responder (RFC 6960 4.2.2.2: id-kp-OCSPSigning; 4.2.2.2.1: id-pkix-ocsp-nocheck).
EXTRA_SECTIONS = """
[issuing_ocsp_ext]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
crlDistributionPoints = URI:{crl_url}
authorityInfoAccess = OCSP;URI:{ocsp_url}
certificatePolicies = 2.5.29.32.0

[responder_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""
AGENCY = ("A", "กรมพัฒนาธุรกิจการค้า", "Department of Business Development", "0994000159889")


def _new_key_csr(dir: Path, name: str, subject: str) -> Path:
    r = run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(dir / f"{name}.key"), "-out", str(dir / f"{name}.csr"), "-subj", subject])
    assert r.returncode == 0, r.stderr
    return dir / f"{name}.csr"


class OpensslResponder:
    """`openssl ocsp` answering for the stand-in root with a delegated responder certificate."""

    def __init__(self, root: StandInRoot, dir: Path, port: int) -> None:
        csr = _new_key_csr(dir, "responder", "/C=TH/O=Stand-in National Root/CN=Stand-in NRCA OCSP Responder")
        root.certify(csr, dir / "responder.pem", days=30, extensions="responder_ext")
        self.cmd = ["openssl", "ocsp", "-index", str(root.dir / "index.txt"), "-port", str(port), "-rsigner",
                    str(dir / "responder.pem"), "-rkey", str(dir / "responder.key"), "-CA", str(root.cert),
                    "-ndays", "1"]
        self.log = dir / "ocsp.log"
        self.start()

    def start(self) -> None:
        import time

        ready = "waiting for OCSP client connections"
        before = self.log.read_text().count(ready) if self.log.exists() else 0
        self.proc = subprocess.Popen(self.cmd, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        for _ in range(200):  # until it says it listens (a readiness wait, nothing is timed; a probe
            if self.log.read_text().count(ready) > before:  # connection would hold its one thread)
                return
            time.sleep(0.05)
        raise RuntimeError("openssl ocsp did not come up: " + self.log.read_text())

    def restart(self) -> None:
        """`openssl ocsp` notices a changed index only after answering one more request from the
        old one: restarted, it answers from the index as it is."""
        self.stop()
        self.start()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ext(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """govca's issuing CA certified by the stand-in root, with an OCSP responder, a TSA and an
    agency seal under it; the root's CRL on a 127.0.0.1 HTTP server, its OCSP by `openssl ocsp`."""
    url, name = None, None
    if request.param == "postgresql":
        if not pg_available():
            pytest.skip(f"PostgreSQL run skipped ({_pg_state.get('why')})")
        name, url = _pg_database()
    _used_databases.add("PostgreSQL" if url else "SQLite")
    tmp = tmp_path_factory.mktemp(f"parent-{request.param}")
    repo = tmp / "repository"
    repo.mkdir()
    server = FileServer(repo)
    port = free_port()
    root = make_standin_root(tmp / "standin", server.url("root.crl"))
    with root.conf.open("a") as fh:
        fh.write(EXTRA_SECTIONS.format(crl_url=server.url("root.crl"), ocsp_url=f"http://127.0.0.1:{port}/"))
    crls = [root.crl(repo / "root.crl")]
    cli = Cli(make_home(tmp, url))
    csr, cert = tmp / "issuing.csr", tmp / "issuing.pem"
    cli("ca", "create-issuing", "--name", "issuing", "--external", "--subject", ISSUING_SUBJECT,
        "--key-type", "ec-p384", "--csr-out", str(csr))
    root.certify(csr, cert, extensions="issuing_ocsp_ext")
    trust(cli.home, root.cert)
    cli("ca", "import-certificate", "--name", "issuing", "--certificate", str(cert), "--chain", str(root.cert),
        "--parent-name", "nrca")
    responder = OpensslResponder(root, tmp, port)
    cli("ocsp", "setup")
    cli("tsa", "setup")
    code, th, en, jid = AGENCY
    cli("agency", "add", "--code", code, "--name-th", th, "--name-en", en, "--juristic-id", jid)
    seal = json.loads(cli("agency", "seal", "issue", "--agency", code, "--json").stdout)["serial"]
    token = json.loads(cli("apiclient", "create", "--agency", code, "--name", "A system", "--json").stdout)["token"]
    cli("ocsp", "refresh")
    env = {"cli": cli, "root": root, "repo": repo, "server": server, "crls": crls, "tmp": tmp, "token": token,
           "seal": seal, "issuing": cert, "responder": responder, "ocsp_url": f"http://127.0.0.1:{port}/", "crl_url": server.url("root.crl")}
    try:
        yield env
    finally:
        responder.stop()
        server.stop()
        if name is not None:
            _drop_pg_database(name)


def refresh(env: dict, ok: bool = True):  # type: ignore[no-untyped-def]
    r = env["cli"]("ca", "refresh-parent", "--json", ok=ok)
    return r, {o["kind"]: o for o in json.loads(r.stdout)}


def client(env: dict):  # type: ignore[no-untyped-def]
    if "client" not in env:
        env["client"] = create_app(env["cli"].home).test_client()
    return env["client"]


def seal_blta(env: dict) -> bytes:
    data = {"file": (io.BytesIO(sample_pdf()), "doc.pdf", "application/pdf"), "options": json.dumps({"level": "B-LTA"})}
    r = client(env).post("/api/v1/sign", data=data, headers=bearer(env["token"]), content_type="multipart/form-data")
    assert r.status_code == 200, r.data[:400]
    return r.data


def standin_root(env: dict) -> ax509.Certificate:
    return ax509.Certificate.load(pem.unarmor(env["root"].cert.read_bytes())[2])


def validate_offline(env: dict, pdf: bytes):  # type: ignore[no-untyped-def]
    """pyHanko on the document alone: the stand-in root is the one trust anchor, nothing is
    fetched, and missing revocation data fails (hard-fail). Returns the DSS."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    reader = PdfFileReader(io.BytesIO(pdf))
    dss = DocumentSecurityStore.read_dss(reader)

    def offline():  # type: ignore[no-untyped-def]
        return dss.as_validation_context({"trust_roots": [standin_root(env)], "allow_fetching": False,
                                          "revocation_mode": "hard-fail"})

    signature, doc_ts = reader.embedded_signatures
    status = validate_pdf_signature(signature, signer_validation_context=offline(), ts_validation_context=offline())
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    ts_status = validate_pdf_timestamp(doc_ts, validation_context=offline())
    assert ts_status.intact and ts_status.valid and ts_status.trusted, ts_status.pretty_print_details()
    return dss


def embedded_crls(dss) -> list[bytes]:  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.decode_limits import DecodePurpose

    return [acrl.CertificateList.load(c.get_object().read_data(DecodePurpose.CRL)).dump() for c in dss.crls]


def embedded_ocsps(dss) -> list[bytes]:  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.decode_limits import DecodePurpose

    return [c.get_object().read_data(DecodePurpose.OCSP_RESPONSE) for c in dss.ocsps]


def nssdb(env: dict) -> Path:
    """An NSS database trusting the stand-in root alone (pdfsig's trust store)."""
    db = env["tmp"] / "nssdb"
    if not db.exists():
        db.mkdir()
        for args in (["-N", "--empty-password"],
                     ["-A", "-n", "standin-root", "-t", "CT,C,C", "-a", "-i", str(env["root"].cert)]):
            r = run([tool("certutil"), args[0], "-d", f"sql:{db}", *args[1:]])
            assert r.returncode == 0, r.stdout + r.stderr
    return db


def pdfsig_accepts(env: dict, pdf: bytes, name: str) -> None:
    path = env["tmp"] / name
    path.write_bytes(pdf)
    # -no-ocsp: offline, as the acceptance asks; the trust comes from the NSS database alone.
    r = run([tool("pdfsig"), "-nssdir", f"sql:{nssdb(env)}", "-no-ocsp", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    seal = re.split(r"^Signature #\d+:$", r.stdout, flags=re.M)[1]
    assert "Signature Validation: Signature is Valid." in seal, seal
    assert "Certificate Validation: Certificate is Trusted." in seal, seal


def held(env: dict) -> dict:
    """What the database holds of the parent's status: the root's CRLs and the parent_status rows."""
    engine = create_engine(load_config(env["cli"].home).database_url)
    try:
        with engine.connect() as c:
            crls = c.execute(text("SELECT crls.crl_number, crls.der FROM crls JOIN cas ON cas.id = crls.ca_id "
                                  "WHERE cas.name = 'nrca' ORDER BY crls.crl_number")).all()
            rows = c.execute(text("SELECT kind, url, status, der, fetched_at, this_update FROM parent_status "
                                  "ORDER BY kind")).all()
    finally:
        engine.dispose()
    return {"crls": [(n, bytes(d)) for n, d in crls], "rows": {r[0]: (r[1], r[2], bytes(r[3]), r[4], r[5]) for r in rows}}


def metrics(env: dict) -> dict[str, str]:
    body = client(env).get("/metrics").data.decode()
    return dict(re.findall(r"^(govca_parent_status_\w+) (\S+)$", body, flags=re.M))


# --- acceptance 2 ------------------------------------------------------------------------------
def test_acceptance2_refresh_parent_then_b_lta_validates_offline_against_the_standin_root_alone(ext: dict) -> None:
    # Before any refresh the metrics say the status was never fetched (age +Inf), not "fresh".
    assert metrics(ext)["govca_parent_status_age_seconds"] == "+Inf"
    # Without the parent's status a long-term seal cannot be made (hard-fail: nothing to embed).
    data = {"file": (io.BytesIO(sample_pdf()), "doc.pdf", "application/pdf"), "options": json.dumps({"level": "B-LT"})}
    early = client(ext).post("/api/v1/sign", data=data, headers=bearer(ext["token"]), content_type="multipart/form-data")
    assert early.status_code == 503, ("a B-LT seal was made with no status of the CA certificate", early.json)
    assert "refresh-parent" in early.json["detail"] and "structure" not in early.json["detail"], early.json
    r, out = refresh(ext)
    assert r.exit_code == 0, r.output
    assert out["crl"]["ok"] and out["crl"]["status"] == "valid" and out["crl"]["url"] == ext["crl_url"]
    # RFC 6960 4.2.2.2: signed by the root's delegated responder (id-kp-OCSPSigning), verified.
    assert out["ocsp"]["ok"] and out["ocsp"]["status"] == "valid" and out["ocsp"]["url"] == ext["ocsp_url"]
    now = held(ext)
    assert now["crls"][-1][1] == ext["crls"][-1]  # stored under the parent, as fetched
    assert set(now["rows"]) == {"crl", "ocsp"}
    # /crl/<parent>.crl serves the parent's CRL.
    assert client(ext).get("/crl/nrca.crl").data == ext["crls"][-1]

    pdf = seal_blta(ext)
    dss = validate_offline(ext, pdf)
    assert ext["crls"][-1] in embedded_crls(dss)
    assert now["rows"]["ocsp"][2] in embedded_ocsps(dss)  # the parent's OCSP answer for our CA
    pdfsig_accepts(ext, pdf, "b-lta-first.pdf")

    # The stand-in root revokes an unrelated certificate and publishes a newer CRL.
    other = _new_key_csr(ext["tmp"], "unrelated", "/C=TH/O=Someone Else/CN=Unrelated Subscriber")
    root = ext["root"]
    root.certify(other, ext["tmp"] / "unrelated.pem", days=30, extensions="leaf_ext")
    root.revoke(ext["tmp"] / "unrelated.pem")
    ext["crls"].append(root.crl(ext["repo"] / "root.crl"))
    r, out = refresh(ext)
    assert r.exit_code == 0 and out["crl"]["stored"] and out["crl"]["status"] == "valid", r.output
    numbers = [n for n, _ in held(ext)["crls"]]
    assert len(numbers) == 2 and numbers[1] > numbers[0]
    pdf = seal_blta(ext)
    dss = validate_offline(ext, pdf)
    crls = embedded_crls(dss)
    assert ext["crls"][-1] in crls and ext["crls"][0] not in crls  # the newer CRL, not the old one
    pdfsig_accepts(ext, pdf, "b-lta-after-revocation.pdf")

    # The verification page/API trusts the configured external root: the seal is valid there.
    report = client(ext).post("/api/v1/verify", data=pdf, content_type="application/pdf").json
    assert report["verdict"] == "valid", json.dumps(report, ensure_ascii=False)[:2000]
    assert report["signatures"][0]["chain"][-1]["subject"]["common_name"] == "Stand-in NRCA G3"


def test_refresh_is_audited_per_url_and_metrics_show_the_age(ext: dict) -> None:
    refresh(ext)
    records = json.loads(ext["cli"]("audit", "list", "--action", "ca.refresh-parent", "--limit", "2", "--json").stdout)
    assert {(r["details"]["kind"], r["details"]["url"], r["outcome"]) for r in records} == {
        ("crl", ext["crl_url"], "success"), ("ocsp", ext["ocsp_url"], "success")}
    assert all(r["subject"] == "issuing" and r["details"]["status"] == "valid" for r in records)
    shown = metrics(ext)
    age = float(shown["govca_parent_status_age_seconds"])
    assert 0 <= age < 3600, shown  # just refreshed (a bound, not a timing: the refresh ran above)
    # The CRL's nextUpdate is 30 days out (default_crl_days); the OCSP answer's one day (-ndays 1):
    # the per-CA latest is the CRL's.
    assert 29 * 86400 < float(shown["govca_parent_status_next_update_seconds"]) <= 30 * 86400, shown


def test_metrics_have_no_parent_gauge_without_an_external_parent(home: Path) -> None:
    cli = Cli(home)
    cli("ca", "create-root", "--name", "root", "--subject", "/C=TH/O=govca Test/CN=Root", "--key-type", "ec-p384")
    # Safe to schedule everywhere: with no external parent there is nothing to fetch, exit 0.
    assert cli("ca", "refresh-parent").stdout.strip() == "no CA certificate here was issued by an external CA"
    body = create_app(home).test_client().get("/metrics").data.decode()
    assert "govca_crl_newest_age_seconds" in body and "govca_parent_status" not in body


# --- refusals: each a precise one-line message, nothing stored ----------------------------------
def _refused(env: dict, body: bytes, message: str) -> None:
    before = held(env)
    (env["repo"] / "root.crl").write_bytes(body)
    try:
        r, out = refresh(env, ok=False)
    finally:
        (env["repo"] / "root.crl").write_bytes(env["crls"][-1])
    assert r.exit_code == 1
    assert not out["crl"]["ok"] and message in out["crl"]["error"], out["crl"]
    assert out["ocsp"]["ok"]  # what succeeded is kept
    after = held(env)
    assert after["crls"] == before["crls"] and after["rows"]["crl"] == before["rows"]["crl"]
    last = json.loads(env["cli"]("audit", "list", "--action", "ca.refresh-parent", "--limit", "2",
                                 "--json").stdout)
    crl_record = next(a for a in last if a["details"]["kind"] == "crl")
    assert crl_record["outcome"] == "refused" and message in crl_record["details"]["error"]


def _crl_signed_by(key_pem: Path, issuer: x509.Certificate, number: int, this_update, next_update) -> bytes:  # type: ignore[no-untyped-def]
    """A CRL made with the given key (test input only): for the stale and the forged cases."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import Encoding

    key = serialization.load_pem_private_key(key_pem.read_bytes(), None)
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(this_update)
         .next_update(next_update).add_extension(x509.CRLNumber(number), critical=False))
    return b.sign(key, hashes.SHA384()).public_bytes(Encoding.DER)


def test_refused_crl_signed_by_another_key(ext: dict) -> None:
    refresh(ext)
    # RFC 5280 6.3.3 (g): same issuer name, another key (a second root made with the same subject).
    impostor = make_standin_root(ext["tmp"] / "impostor", ext["crl_url"])
    forged = impostor.crl()
    _refused(ext, forged, "signature does not verify")


def test_refused_stale_crl(ext: dict) -> None:
    import datetime as dt

    refresh(ext)
    root_cert = x509.load_pem_x509_certificate(ext["root"].cert.read_bytes())
    now = dt.datetime.now(dt.timezone.utc)
    stale = _crl_signed_by(ext["root"].dir / "root.key", root_cert, 10**6, now - dt.timedelta(days=2),
                           now - dt.timedelta(days=1))
    _refused(ext, stale, "has passed: it is stale (RFC 5280 6.3.3 (a)(1))")


def test_refused_older_crl_number_than_held(ext: dict) -> None:
    ext["crls"].append(ext["root"].crl(ext["repo"] / "root.crl"))
    r, out = refresh(ext)
    assert out["crl"]["stored"], out
    _refused(ext, ext["crls"][0], "is lower than the")


def test_refused_garbage_body(ext: dict) -> None:
    refresh(ext)
    _refused(ext, b"<html>Service temporarily unavailable</html>", "not a DER or PEM CRL")


def test_refused_missing_crl_is_the_http_status(ext: dict) -> None:
    refresh(ext)
    before = held(ext)
    (ext["repo"] / "root.crl").unlink()
    try:
        r, out = refresh(ext, ok=False)
    finally:
        (ext["repo"] / "root.crl").write_bytes(ext["crls"][-1])
    assert r.exit_code == 1 and out["crl"]["error"] == "HTTP 404 File not found", out["crl"]
    assert f"govca: error: crl {ext['crl_url']} (CA issuing): HTTP 404" in r.stderr
    assert held(ext)["crls"] == before["crls"]


def test_unreachable_and_non_http_urls_are_refused_without_fetching() -> None:
    from ca.parent_status import FetchError, http_fetch

    closed = f"http://127.0.0.1:{free_port()}/root.crl"
    with pytest.raises(FetchError, match=r"^unreachable \(.*[Rr]efused"):
        http_fetch(closed, None, 1024)
    for url in ("https://127.0.0.1/root.crl", "ldap://ldap.example.com/cn=root?certificateRevocationList",
                "file:///etc/passwd"):
        with pytest.raises(FetchError, match="not an http:// URL"):
            http_fetch(url, None, 1024)


def test_redirect_to_another_scheme_is_not_followed(tmp_path: Path) -> None:
    import http.server
    import threading

    from ca.parent_status import FetchError, http_fetch

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(302)
            self.send_header("Location", "https://127.0.0.1/root.crl" if "https" in self.path else "file:///etc/passwd")
            self.end_headers()

        def log_message(self, *a) -> None:  # type: ignore[no-untyped-def]
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        with pytest.raises(FetchError, match="redirected to https://127.0.0.1/root.crl: only http:// is followed"):
            http_fetch(f"{base}/https/root.crl", None, 1024)
        with pytest.raises(FetchError, match="HTTP 302 .*'file:///etc/passwd' is not allowed"):
            http_fetch(f"{base}/file/root.crl", None, 1024)  # urllib itself refuses a file:// target
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_size_cap(ext: dict) -> None:
    from ca.parent_status import FetchError, http_fetch

    with pytest.raises(FetchError, match="larger than the 16 bytes"):
        http_fetch(ext["crl_url"], None, 16)


# --- the parent's OCSP answer: each RFC 6960 check refuses (inputs made with test keys) -----------
@pytest.fixture(scope="module")
def ocsp_pki():  # type: ignore[no-untyped-def]
    """A parent, our CA certificate under it, and responder certificates (software keys: test input)."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def cert(subject, key, issuer_name, issuer_key, ca=False, eku=None):  # type: ignore[no-untyped-def]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca, None), critical=True))
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    keys = {n: ec.generate_private_key(ec.SECP256R1()) for n in ("parent", "child", "responder", "other")}
    parent = cert("Parent", keys["parent"], None, keys["parent"], ca=True)
    child = cert("Our CA", keys["child"], parent.subject, keys["parent"], ca=True)
    delegated = cert("Parent OCSP", keys["responder"], parent.subject, keys["parent"],
                     eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    no_eku = cert("Parent OCSP", keys["responder"], parent.subject, keys["parent"])
    foreign = cert("Parent OCSP", keys["responder"], parent.subject, keys["other"],
                   eku=[ExtendedKeyUsageOID.OCSP_SIGNING])
    return {"now": now, "keys": keys, "parent": parent, "child": child, "delegated": delegated, "no_eku": no_eku,
            "foreign": foreign}


def _response(pki: dict, *, signer: str = "parent", responder=None, status=None, this_update=None,  # type: ignore[no-untyped-def]
              next_update="default", serial_of=None) -> bytes:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp

    now = pki["now"]
    status = status or ocsp.OCSPCertStatus.GOOD
    b = ocsp.OCSPResponseBuilder().add_response(
        cert=serial_of or pki["child"], issuer=pki["parent"], algorithm=hashes.SHA1(), cert_status=status,
        this_update=this_update or now - dt.timedelta(minutes=1),
        next_update=now + dt.timedelta(hours=12) if next_update == "default" else next_update,
        revocation_time=now - dt.timedelta(hours=1) if status is ocsp.OCSPCertStatus.REVOKED else None,
        revocation_reason=None)
    if responder is None:
        b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, pki["parent"])
    else:
        b = b.responder_id(ocsp.OCSPResponderEncoding.NAME, responder).certificates([responder])
    return b.sign(pki["keys"][signer], hashes.SHA256()).public_bytes(Encoding.DER)


def test_rfc6960_4_2_2_2_answers_signed_by_the_parent_or_its_delegate_are_accepted(ocsp_pki: dict) -> None:
    from ca.parent_ocsp import check_ocsp
    from policies.status import CertStatus

    p = ocsp_pki
    assert check_ocsp(_response(p), p["child"], p["parent"], p["now"]).status is CertStatus.VALID
    got = check_ocsp(_response(p, signer="responder", responder=p["delegated"]), p["child"], p["parent"], p["now"])
    assert got.status is CertStatus.VALID and got.next_update is not None


def test_rfc6960_refusals_of_the_parents_ocsp_answer(ocsp_pki: dict) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp

    from ca.errors import ExternalDataError
    from ca.parent_ocsp import check_ocsp

    p, now = ocsp_pki, ocsp_pki["now"]
    other = p["delegated"]  # any other certificate of the parent: its CertID is not ours
    cases = {
        "RFC 6960 4.2.2.2: the delegate lacks id-kp-OCSPSigning":
            (_response(p, signer="responder", responder=p["no_eku"]), "lacks id-kp-OCSPSigning"),
        "RFC 6960 4.2.2.2: the delegate was not issued by the parent":
            (_response(p, signer="responder", responder=p["foreign"]), "the parent did not issue"),
        "RFC 6960 3.2 (2): a signature that does not verify (its last byte changed)":
            (_response(p)[:-1] + bytes([_response(p)[-1] ^ 1]), "signature does not verify"),
        "RFC 6960 3.2 (1): another certificate's CertID":
            (_response(p, serial_of=other), "CertID mismatch"),
        "RFC 6960 3.2 (4): thisUpdate in the future":
            (_response(p, this_update=now + dt.timedelta(hours=1)), "lies in the future"),
        "RFC 6960 3.2 (5): nextUpdate passed":
            (_response(p, this_update=now - dt.timedelta(days=2), next_update=now - dt.timedelta(days=1)),
             "has passed"),
        "RFC 6960 2.2: unknown": (_response(p, status=ocsp.OCSPCertStatus.UNKNOWN), "status unknown"),
        "RFC 6960 4.2.1: not successful": (ocsp.OCSPResponseBuilder.build_unsuccessful(
            ocsp.OCSPResponseStatus.TRY_LATER).public_bytes(Encoding.DER), "try_later"),
        "garbage": (b"\x30\x03\x02\x01", "not a DER OCSP response"),
    }
    for why, (data, message) in cases.items():
        with pytest.raises(ExternalDataError, match=re.escape(message)):
            check_ocsp(data, p["child"], p["parent"], now)
            pytest.fail(why)


def test_an_older_ocsp_answer_than_the_one_held_is_refused(ext: dict) -> None:
    """A replayed earlier "good" would hide a revocation: the stored answer is kept."""
    from ca.context import utcnow
    from ca.parent_status import http_fetch, refresh_parent_status
    from ca.storage.db import Database

    import time

    refresh(ext)
    first = held(ext)["rows"]["ocsp"]
    time.sleep(1.1)  # `openssl ocsp` signs each answer afresh, its thisUpdate to the second
    refresh(ext)
    second = held(ext)["rows"]["ocsp"]
    assert second[4] > first[4], (first[4], second[4])

    def replaying(url: str, body: bytes | None, cap: int) -> bytes:
        return first[2] if url == ext["ocsp_url"] else http_fetch(url, body, cap)

    db = Database(load_config(ext["cli"].home).database_url)
    try:
        out = {o.kind: o for o in refresh_parent_status(db, "test", utcnow, replaying)}
    finally:
        db.dispose()
    assert not out["ocsp"].ok and "older than the" in out["ocsp"].message, out["ocsp"]
    assert out["crl"].ok
    assert held(ext)["rows"]["ocsp"][2] == second[2]


def test_rfc5280_6_3_3_b_2_a_crl_for_end_entities_only_does_not_cover_a_ca_certificate(ocsp_pki: dict) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding

    from ca.errors import ExternalDataError
    from ca.parent_status import crl_status

    p, now = ocsp_pki, ocsp_pki["now"]

    def crl(idp: x509.IssuingDistributionPoint | None) -> bytes:
        b = (x509.CertificateRevocationListBuilder().issuer_name(p["parent"].subject).last_update(now)
             .next_update(now + dt.timedelta(days=1)).add_extension(x509.CRLNumber(1), critical=False))
        if idp is not None:
            b = b.add_extension(idp, critical=True)
        return b.sign(p["keys"]["parent"], hashes.SHA256()).public_bytes(Encoding.DER)

    def idp(users: bool = False, url: str | None = None) -> x509.IssuingDistributionPoint:
        return x509.IssuingDistributionPoint(
            full_name=[x509.UniformResourceIdentifier(url)] if url else None, relative_name=None,
            only_contains_user_certs=users, only_contains_ca_certs=False, only_some_reasons=None,
            indirect_crl=False, only_contains_attribute_certs=False)

    url = "http://repository.example.com/root.crl"
    assert crl_status(crl(None), p["child"], url).value == "valid"
    assert crl_status(crl(idp(url=url)), p["child"], url).value == "valid"
    with pytest.raises(ExternalDataError, match=re.escape("end-entity (or attribute) certificates only")):
        crl_status(crl(idp(users=True)), p["child"], url)
    with pytest.raises(ExternalDataError, match=re.escape("not this URL (RFC 5280 6.3.3 (b)(2)(i))")):
        crl_status(crl(idp(url="http://elsewhere.example.com/other.crl")), p["child"], url)


# --- the parent revokes our CA: loud (last: it ends this module's CA) ---------------------------
def test_zz_parent_revoking_our_ca_is_loud_audited_and_exit_1(ext: dict) -> None:
    ext["root"].revoke(ext["issuing"])
    ext["crls"].append(ext["root"].crl(ext["repo"] / "root.crl"))
    ext["responder"].restart()
    r, out = refresh(ext, ok=False)
    assert r.exit_code == 1
    assert out["crl"]["ok"] and out["crl"]["status"] == "revoked" and out["crl"]["stored"]
    assert out["ocsp"]["ok"] and out["ocsp"]["status"] == "revoked", out["ocsp"]["error"]
    assert "REVOKED: the parent nrca reports CA issuing's certificate revoked" in r.stderr
    last = json.loads(ext["cli"]("audit", "list", "--action", "ca.refresh-parent", "--limit", "2",
                                 "--json").stdout)
    assert all(a["outcome"] == "failed" and "revoked" in a["details"]["alert"] for a in last), last
    # What B-LT embeds now says revoked: the sealing service refuses to make a long-term seal
    # whose chain no longer validates (rather than embed a "good" it no longer has).
    data = {"file": (io.BytesIO(sample_pdf()), "doc.pdf", "application/pdf"), "options": json.dumps({"level": "B-LTA"})}
    resp = client(ext).post("/api/v1/sign", data=data, headers=bearer(ext["token"]), content_type="multipart/form-data")
    assert resp.status_code == 503 and "revoked" in resp.json["detail"], resp.data[:500]


def test_a_trickling_server_is_cut_off_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The socket timeout bounds each read only: a parent (or a man in the middle of its plain
    HTTP) sending a byte at a time must not hold `govca ca refresh-parent` for hours."""
    import http.server
    import threading
    import time

    import ca.parent_status as ps

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b"0")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

        def log_message(self, *a) -> None:  # type: ignore[no-untyped-def]
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(ps, "HTTP_DEADLINE", 1.0)
    try:
        with pytest.raises(ps.FetchError, match=r"did not arrive within 1 s \(a slow or trickling server\)"):
            ps.http_fetch(f"http://127.0.0.1:{httpd.server_address[1]}/root.crl", None, 1 << 20)
    finally:
        httpd.shutdown()
        httpd.server_close()
