"""XML sealing in tests: an e-Receipt, the /api/v1/sign-xml call, xmlsec1 and signxml as outside
verifiers, and the registry count."""
from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
from decimal import Decimal
from pathlib import Path

from sealing_helpers import bearer

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"


def receipt(amount: str = "1250.00") -> bytes:
    from signer.docdata.schemas import ReceiptData, ereceipt_xml

    return ereceipt_xml(ReceiptData(
        number="RC-2569-000123", issued_on=dt.date(2026, 12, 6), agency_code="A", agency_th="กรมพัฒนาธุรกิจการค้า",
        agency_en="Department of Business Development", payer="บริษัท ตัวอย่าง จำกัด", payer_id="0105569000001",
        items=(("ค่าธรรมเนียมจดทะเบียน", Decimal(amount)), ("ค่าคัดสำเนา", Decimal("50.00")))))


def sign_xml(env: dict, body: bytes, options: dict | None = None, agency: str = "A",
             filename: str = "receipt.xml", content_type: str | None = None):  # type: ignore[no-untyped-def]
    """POST /api/v1/sign-xml: multipart (file + options) unless ``content_type`` asks for a raw body."""
    headers = bearer(env["tokens"][agency])
    if content_type is not None:
        return env["client"].post("/api/v1/sign-xml", data=body, headers={**headers, "Content-Type": content_type})
    data = {"file": (io.BytesIO(body), filename, "application/xml")}
    if options is not None:
        data["options"] = json.dumps(options)
    return env["client"].post("/api/v1/sign-xml", data=data, headers=headers, content_type="multipart/form-data")


def xmlsec1(workdir: Path, signed: bytes, root_pem: Path,  # type: ignore[no-untyped-def]
            detached: tuple[str, bytes] | None = None):
    """Debian's xmlsec1 --verify trusting only ``root_pem``; the chain comes from ds:KeyInfo.
    A detached signature's file lies next to the signature (its URI is a relative file name)."""
    workdir.mkdir(parents=True, exist_ok=True)
    sig = workdir / "signature.xml"
    sig.write_bytes(signed)
    if detached is not None:
        (workdir / detached[0]).write_bytes(detached[1])
    return subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(root_pem),
         "--id-attr:Id", f"{XADES_NS}:SignedProperties", "--id-attr:Id", f"{DS_NS}:KeyInfo", str(sig)],
        capture_output=True, text=True, timeout=120, cwd=workdir)


def signxml_verify(signed: bytes, root_pem: Path, detached: bytes | None = None) -> list:
    """signxml's XAdESVerifier with the test root as its only CA (raises on any failure)."""
    from lxml import etree
    from signxml.xades import XAdESVerifier

    resolver = None
    if detached is not None:
        resolver = lambda _uri: etree.fromstring(detached)  # noqa: E731
    return XAdESVerifier().verify(signed, ca_pem_file=str(root_pem), uri_resolver=resolver)


def trust_of(root_pem: Path):  # type: ignore[no-untyped-def]
    from asn1crypto import pem

    from signer.verification.verify import TrustSettings

    return TrustSettings((pem.unarmor(root_pem.read_bytes())[2],))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def foreign_chain():  # type: ignore[no-untyped-def]
    """A throwaway software root and e-seal-like leaf (foreign, untrusted material only):
    (root DER, leaf certificate, leaf key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = utcnow()
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Foreign Test Root")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name).public_key(root_key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Foreign Seal")]))
            .issuer_name(root_name).public_key(leaf_key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=10))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    return root.public_bytes(serialization.Encoding.DER), leaf, leaf_key
