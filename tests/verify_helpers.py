"""Helpers for the verification page tests (issue 5): HTTP calls without extra packages, page
steps (upload, language toggle, visible text), and the documents a citizen might upload: tampered, extended, form-filled, foreign or signed with a
revoked seal (made with govca's library, since the service itself refuses to)."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import select
import socket
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from pyhanko.pdf_utils import generic
from playwright.sync_api import Page, expect
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from sealing_helpers import bearer


def http(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def multipart(pdf: bytes, **fields: str) -> tuple[bytes, dict]:
    b = uuid.uuid4().hex
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="doc.pdf"\r\n'
                 f'Content-Type: application/pdf\r\n\r\n'.encode() + pdf + b"\r\n")
    return b"".join(parts) + f"--{b}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={b}"}


def api_seal(url: str, token: str, pdf: bytes, options: dict | None = None) -> tuple[bytes, str, str]:
    """Seals through POST /api/v1/sign; returns (sealed PDF, document id, Location)."""
    body, headers = multipart(pdf, options=json.dumps(options or {"level": "B-LTA"}))
    status, head, out = http(url + "/api/v1/sign", body, {**headers, **bearer(token)})
    assert status == 200, (status, out[:300])
    return out, head["X-Document-Id"], head["Location"]


def api_verify(url: str, pdf: bytes, document_id: str | None = None) -> tuple[int, dict, dict]:
    query = f"?document_id={document_id}" if document_id else ""
    status, head, out = http(url + "/api/v1/verify" + query, pdf, {"Content-Type": "application/pdf"})
    return status, head, json.loads(out)


def api_like_curl(url: str, data: bytes) -> tuple[int, bytes]:
    """POST /api/v1/verify as curl does: stop sending once the server has answered (it answers
    a 60 MB body with 413 without reading it), then read the answer."""
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=60) as s:
        s.sendall(f"POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/pdf\r\n"
                  f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode())
        for at in range(0, len(data), 1 << 16):
            if select.select([s], [], [], 0)[0]:
                break
            try:
                s.sendall(data[at:at + (1 << 16)])
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        while chunk := s.recv(1 << 16):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


# --- the page ---------------------------------------------------------------------------------
def upload(page: Page, env: dict, name: str, path: str = "/verify") -> int:
    """Opens ``path`` unless already there, chooses the file, submits; returns the HTTP status."""
    if urlsplit(page.url).path != path:
        page.goto(env["url"] + path)
    page.set_input_files("#file", str(env["files"][name]))
    with page.expect_navigation() as nav:
        page.click("button[type=submit]")
    return nav.value.status  # type: ignore[union-attr]


def shown(page: Page, selector: str) -> str:
    """The visible text (the other language is display:none)."""
    return page.locator(selector).first.inner_text()


def toggle(page: Page, lang: str) -> None:
    page.evaluate("window.__stayed = true")
    page.click("#lang-toggle")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert page.evaluate("window.__stayed === true"), "the toggle reloaded the page"
    expect(page.locator(".result, .match, .error").first).to_be_visible()


def report(env: dict, name: str) -> dict:
    status, _, body = api_verify(env["url"], env["docs"][name])
    assert status == 200, body
    return body


def check_both_languages(page: Page, rep: dict, verdict: tuple[str, str]) -> None:
    """The overall verdict and each signature's reason and notes, in Thai, then in English."""
    for i, lang in enumerate(("th", "en")):
        if lang == "en":
            toggle(page, "en")
        assert shown(page, ".result > h2 .verdict") == verdict[i]
        for sig, article in zip(rep["signatures"], page.locator(".sig").all()):
            text = article.inner_text()
            assert sig["reason"][lang] in text and all(n[lang] in text for n in sig["notes"]), (lang, text)


# --- documents ---------------------------------------------------------------------------------
def flip_byte(pdf: bytes) -> bytes:
    """One bit of the first page's compressed content stream (inside the signed byte range)."""
    at = pdf.index(b"stream\n") + 7 + 100
    return pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1:]


def without_certificates(pdf: bytes) -> bytes:
    """The first signature's CMS re-encoded without its certificates (they are optional in CMS):
    nobody can tell who signed, and the verifier cannot even start."""
    from asn1crypto import cms

    m = re.search(rb"/Contents\s*<([0-9a-fA-F]+)>", pdf)
    assert m is not None
    sd = cms.ContentInfo.load(bytes.fromhex(m.group(1).decode()), strict=False)["content"]
    keep = {k: sd[k] for k in ("version", "digest_algorithms", "encap_content_info", "signer_infos")}
    new = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(keep)}).dump().hex().encode()
    return pdf[:m.start(1)] + new.ljust(len(m.group(1)), b"0") + pdf[m.end(1):]


def _incremental(pdf: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stream(writer: IncrementalPdfFileWriter, text: str) -> generic.IndirectObject:
    return writer.add_object(generic.StreamObject(stream_data=f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode()))


def add_page(pdf: bytes) -> bytes:
    def change(w: IncrementalPdfFileWriter) -> None:
        w.insert_page(generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
            generic.pdf_name("/Contents"): _stream(w, "An extra page")}))
    return _incremental(pdf, change)


def change_text(pdf: bytes) -> bytes:
    def change(w: IncrementalPdfFileWriter) -> None:
        page = w.root["/Pages"]["/Kids"][0].get_object()
        page[generic.pdf_name("/Contents")] = _stream(w, "Licence revoked")
        w.update_container(page)
    return _incremental(pdf, change)


def with_empty_field(pdf: bytes, name: str = "Approval") -> bytes:
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    return _incremental(pdf, lambda w: append_signature_field(w, SigFieldSpec(name, on_page=0, box=(36, 36, 236, 96))))


def encrypted(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    writer.encrypt("owner-secret", "user-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def foreign_signed(pdf: bytes) -> bytes:
    """Signed by a throwaway self-signed key: a CA govca does not trust (test input only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Not a government CA"),
                      x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "Somebody Else")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    signer = signers.SimpleSigner(ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
                                  akeys.PrivateKeyInfo.load(der), SimpleCertificateStore())
    out = io.BytesIO()
    signers.PdfSigner(signers.PdfSignatureMetadata(field_name="Foreign"), signer).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


class LibrarySigner:
    """Signs with an agency seal's HSM key through govca's library, as the service's _seal does,
    but without its status check: for documents sealed after the seal was revoked."""

    def __init__(self, home: Path, seal_serial: str) -> None:
        from ca import Database
        from cli.compose import service_token
        from cli.config import load_config
        from cli.ocsp_wiring import build_responder
        from cli.signer_wiring import build_sealing_service

        cfg = load_config(home)
        db = Database(cfg.database_url)
        self.svc = build_sealing_service(cfg, db, service_token(cfg), *build_responder(cfg, db))
        self.seal, self.unit = self.svc.repo.get_seal(seal_serial), self.svc.tsa_unit()
        s, u = self.seal, self.unit
        self.pairs = [(s.cert_der, s.chain_der[0]), (u.cert_der, u.chain_der[0])]
        self.pairs += list(zip(s.chain_der, s.chain_der[1:]))

    def revocation_data(self):  # type: ignore[no-untyped-def]
        return self.svc.revocation(self.pairs)

    def sign(self, pdf: bytes, level: str, revocation=None) -> bytes:  # type: ignore[no-untyped-def]
        """``revocation``: the validation data to embed (B-LT/B-LTA); by default today's."""
        from signer.revinfo import validation_context
        from signer.sealing.pades import InProcessTimeStamper, Level, SigningMaterial, SignOptions, sign_pdf

        s, u = self.seal, self.unit
        material = SigningMaterial(s.cert_der, s.chain_der, self.svc.keys.get_key(s.key_uri))
        context = validation_context((s.chain_der[-1],), s.chain_der + u.chain_der + (u.cert_der,),
                                     revocation or self.revocation_data(), self.svc.clock())
        return sign_pdf(pdf, material, SignOptions(level=Level(level), stamp=False),
                        timestamper=InProcessTimeStamper(self.svc.timestamp), context=context)
