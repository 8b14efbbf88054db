"""The sealing API (issue 4) against tools nobody here wrote: acceptance 2 (poppler's pdfsig
with an NSS database trusts every level and subfilter), 5 (concurrent sealing against a live
`govca serve`) and 7 (the stamp: QR code and Thai text, through pdftoppm, zbarimg, pdftotext).

Everything is sealed over HTTP by `govca serve` (gunicorn, as in production) whose base URL is
127.0.0.1, so the OCSP and CA-issuer URLs in the certificates, which pdfsig follows, reach it.
The stamped page is left under test-output/sealing/ for a person to look at.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import secrets
import shutil
import threading
import time
import urllib.error
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from conftest import OUTPUT, Cli, make_home, run, tool
from ocsp_helpers import LiveServer, free_port
from sealing_helpers import DOC_ID, bearer, sample_pdf, setup_sealing

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
SUBFILTERS = ("ETSI.CAdES.detached", "adbe.pkcs7.detached")
ARTIFACTS = OUTPUT / "sealing"
AGENCY_TH = "กรมพัฒนาธุรกิจการค้า"
EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
BANGKOK = ZoneInfo("Asia/Bangkok")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("interop")
    port = free_port()
    cli = Cli(make_home(tmp, base_url=f"http://127.0.0.1:{port}"))
    info = setup_sealing(cli, tmp)
    server = LiveServer(cli.home, port)
    info.update(cli=cli, server=server, tmp=tmp, pdf=sample_pdf())
    try:
        yield info
    finally:
        server.stop()


def http(env: dict, path: str, data: bytes | None = None, headers: dict | None = None):  # type: ignore[no-untyped-def]
    req = urllib.request.Request(env["server"].url + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def sign(env: dict, options: dict | None = None):  # type: ignore[no-untyped-def]
    """POST /api/v1/sign: a raw PDF body without options, else multipart with an options part."""
    headers = bearer(env["tokens"]["A"])
    if options is None:
        return http(env, "/api/v1/sign", env["pdf"], {**headers, "Content-Type": "application/pdf"})
    b = "govca" + secrets.token_hex(8)
    body = (f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="doc.pdf"\r\n'
            f"Content-Type: application/pdf\r\n\r\n").encode() + env["pdf"] + (
            f'\r\n--{b}\r\nContent-Disposition: form-data; name="options"\r\n\r\n{json.dumps(options)}'
            f"\r\n--{b}--\r\n").encode()
    return http(env, "/api/v1/sign", body, {**headers, "Content-Type": f"multipart/form-data; boundary={b}"})


@pytest.fixture(scope="module")
def sealed(served: dict) -> dict[tuple[str, str], Path]:
    docs = {}
    for level in LEVELS:
        for subfilter in SUBFILTERS:
            status, _, body = sign(served, {"level": level, "subfilter": subfilter})
            assert status == 200, (level, subfilter, body[:300])
            docs[level, subfilter] = served["tmp"] / f"{level}-{subfilter}.pdf"
            docs[level, subfilter].write_bytes(body)
    return docs


def certutil(db: Path, *args: str) -> str:
    r = run([tool("certutil"), args[0], "-d", f"sql:{db}", *args[1:]])
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def nssdb(served: dict) -> Path:
    db = served["tmp"] / "nssdb"
    db.mkdir()
    certutil(db, "-N", "--empty-password")
    certutil(db, "-A", "-n", "govca-root", "-t", "CT,C,C", "-a", "-i", str(served["files"]["root"]))
    return db


def pdfsig(db: Path, pdf: Path, *extra: str) -> tuple[list[str], str]:
    """pdfsig's report, one block per signature, and its stderr."""
    r = run([tool("pdfsig"), "-nssdir", f"sql:{db}", *extra, str(pdf)])
    assert r.returncode == 0, r.stdout + r.stderr
    return re.split(r"^Signature #\d+:$", r.stdout, flags=re.M)[1:], r.stderr


def why_untrusted(served: dict, db: Path, pdf: Path, report: str) -> str:
    """What NSS itself says of the seal certificate, for the email-signer usage poppler asks
    CERT_PKIXVerifyCert for (certificateUsageEmailSigner), and the certificate's EKU."""
    signer = PdfFileReader(io.BytesIO(pdf.read_bytes())).embedded_signatures[0].signer_cert
    probe = db.parent / f"nssdb-probe-{secrets.token_hex(4)}"
    shutil.copytree(db, probe)
    (probe / "seal.der").write_bytes(signer.dump())
    certutil(probe, "-A", "-n", "issuing", "-t", ",,", "-a", "-i", str(served["files"]["issuing"]))
    certutil(probe, "-A", "-n", "seal", "-t", ",,", "-i", str(probe / "seal.der"))
    verdict = run([tool("certutil"), "-V", "-d", f"sql:{probe}", "-n", "seal", "-u", "S"])
    eku = signer.extended_key_usage_value
    return (f"pdfsig does not trust the seal:\n{report}\nNSS `certutil -V -u S` (email signer, the usage "
            f"poppler verifies with): {(verdict.stdout + verdict.stderr).strip()}\nseal certificate EKU: "
            f"{None if eku is None else [k.dotted for k in eku]}; NSS accepts an EKU only if it has emailProtection "
            f"{EMAIL_PROTECTION}")


@pytest.mark.parametrize("level,subfilter", [(lv, sf) for lv in LEVELS for sf in SUBFILTERS],
                         ids=[f"{lv}-{sf}" for lv in LEVELS for sf in SUBFILTERS])
def test_acceptance2_en_319_142_1_pdfsig_trusts_every_level_and_subfilter(
        served: dict, sealed: dict, nssdb: Path, level: str, subfilter: str) -> None:
    # pdfsig checks OCSP online (soft-fail) at the URL in the seal's AIA: the live server.
    blocks, stderr = pdfsig(nssdb, sealed[level, subfilter])
    seal = blocks[0]
    assert f"Signature Type: {subfilter}" in seal and f"Common Name: {AGENCY_TH}" in seal, seal
    assert "Signature Validation: Signature is Valid." in seal, seal
    if level == "B-LTA":
        # The document timestamp (ETSI.RFC3161). Poppler 22.12 lists it as "Signature Type:
        # unknown" and says "Unable to validate this type of signature"; a pdfsig that does
        # validate it must find it valid.
        assert len(blocks) == 2 and "Common Name: govca Time-Stamping Authority" in blocks[1], blocks
        assert ("Signature Validation: Signature is Valid." in blocks[1]
                or "Unable to validate this type of signature" in stderr), blocks[1] + stderr
    else:
        assert len(blocks) == 1, blocks  # pdfsig 22.12 does not report the signature timestamp (B-T+)
    # Poppler verifies the signer for NSS's email-signer usage, which refuses a certificate whose
    # EKU lacks emailProtection: the e-seal profile's EKU (Document Signing alone) fails here.
    assert "Certificate Validation: Certificate is Trusted." in seal, \
        why_untrusted(served, nssdb, sealed[level, subfilter], seal)


def tst_serial(token) -> int:  # type: ignore[no-untyped-def]
    """The serial number of an RFC 3161 token (a CMS ContentInfo over a TSTInfo)."""
    return token["content"]["encap_content_info"]["content"].parsed["serial_number"].native


def test_acceptance5_eight_concurrent_b_lta_seals_have_distinct_ids_and_tsa_serials(served: dict, nssdb: Path) -> None:
    barrier = threading.Barrier(8)

    def one(_: int):  # type: ignore[no-untyped-def]
        barrier.wait(timeout=30)
        started = time.monotonic()
        return (*sign(served), time.monotonic() - started)  # no options: B-LTA, the default

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    wall = time.monotonic() - started
    assert [r[0] for r in results] == [200] * 8, [r[2][:300] for r in results]
    ids = [r[1]["X-Document-Id"] for r in results]
    assert len(set(ids)) == 8 and all(DOC_ID.match(i) for i in ids), ids
    signature_serials, all_serials = set(), set()
    for (_, headers, body, _), doc_id in zip(results, ids):
        assert body.startswith(b"%PDF-") and headers["Location"] == f"{served['server'].url}/verify/{doc_id}"
        signature, doc_ts = PdfFileReader(io.BytesIO(body)).embedded_signatures  # B-LTA: seal, doc timestamp
        attrs = signature.signer_info["unsigned_attrs"]
        token = next(a["values"][0] for a in attrs if a["type"].native == "signature_time_stamp_token")
        signature_serials.add(tst_serial(token))
        all_serials |= {tst_serial(token), doc_ts.signed_data["encap_content_info"]["content"]
                        .parsed["serial_number"].native}
        status, _, raw = http(served, f"/api/v1/documents/{doc_id}", headers=bearer(served["tokens"]["A"]))
        record = json.loads(raw)
        assert status == 200 and record["id"] == doc_id and record["level"] == "B-LTA", record
        assert record["sha256"] == hashlib.sha256(body).hexdigest() and record["size"] == len(body)
        path = served["tmp"] / f"concurrent-{doc_id}.pdf"
        path.write_bytes(body)
        blocks, _ = pdfsig(nssdb, path, "-nocert")
        assert "Signature Validation: Signature is Valid." in blocks[0], blocks[0]
    assert len(signature_serials) == 8, signature_serials
    assert len(all_serials) == 16, all_serials  # and none shared with a document timestamp
    log = served["server"].log.read_text(errors="replace")
    assert not re.search(r"Traceback|\[(ERROR|CRITICAL)\]|WORKER TIMEOUT", log), log[-4000:]
    took = ", ".join(f"{r[3]:.2f}" for r in results)
    print(f"8 concurrent B-LTA seals: {wall:.2f} s wall, each {took} s")
    if max(r[3] for r in results) > 10:
        # Seen here: now and then one seal burns ~20 s of CPU in pyHanko's CMS packaging, when a
        # DER length's last byte is 0x80 and asn1crypto takes it for BER indefinite length
        # (wbond/asn1crypto#249) and re-encodes the SignerInfo. Reported, not asserted: it is
        # intermittent.
        warnings.warn(f"slow concurrent seals ({wall:.1f} s wall; each {took} s)", stacklevel=1)


def test_acceptance7_stamp_qr_is_the_location_url_and_text_has_thai_name_both_years_and_id(served: dict) -> None:
    status, headers, body = sign(served)
    assert status == 200, body[:300]
    doc_id, location = headers["X-Document-Id"], headers["Location"]
    assert location == f"{served['server'].url}/verify/{doc_id}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / "sealed-elicense.pdf"
    pdf.write_bytes(body)
    r = run([tool("pdftoppm"), "-r", "150", "-png", "-singlefile", "-f", "1", "-l", "1",
             str(pdf), str(ARTIFACTS / "sealed-elicense-page1")])
    assert r.returncode == 0, r.stderr
    png = ARTIFACTS / "sealed-elicense-page1.png"
    r = run([tool("zbarimg"), "--raw", "-q", str(png)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [location]

    # Only the stamp's box (the signature widget's /Rect): the e-License itself names the agency.
    reader = PdfFileReader(io.BytesIO(body))
    x1, y1, x2, y2 = (float(v) for v in reader.embedded_signatures[0].sig_field["/Rect"])
    page_height = float(reader.root["/Pages"]["/Kids"][0]["/MediaBox"][3])
    r = run([tool("pdftotext"), "-f", "1", "-l", "1", "-r", "72", "-x", str(int(x1)), "-y",
             str(int(page_height - y2)), "-W", str(int(x2 - x1) + 1), "-H", str(int(y2 - y1) + 1),
             "-enc", "UTF-8", str(pdf), "-"])
    assert r.returncode == 0, r.stderr
    record = json.loads(http(served, f"/api/v1/documents/{doc_id}", headers=bearer(served["tokens"]["A"]))[2])
    sealed_at = dt.datetime.fromisoformat(record["sealed_at"].replace("Z", "+00:00")).astimezone(BANGKOK)
    text = r.stdout
    (ARTIFACTS / "sealed-elicense-stamp.txt").write_text(text, encoding="utf-8")
    for expected in (AGENCY_TH, f"พ.ศ. {sealed_at.year + 543}", doc_id, "Department of Business Development"):
        assert expected in text, (expected, text)
    # The Gregorian year, apart from the Buddhist-era one.
    assert re.search(rf"\b{sealed_at.year}\b", text.replace(str(sealed_at.year + 543), "")), text
