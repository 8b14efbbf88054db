"""The signed transcript of a key ceremony (docs/ceremony.md): a JSON body, then an armoured
signature block made with the root key in the HSM over the body's exact bytes.

    {                                   <- the body: UTF-8 JSON, ends with "\\n"; signed as is
      ...
    }
    -----BEGIN GOVCA CEREMONY SIGNATURE-----
    <base64 of the signature: DER ECDSA-Sig-Value (RFC 3279 2.2.3) or RSASSA-PKCS1-v1_5
     (RFC 8017 8.2), 64 characters a line, the last shorter or equal>
    -----END GOVCA CEREMONY SIGNATURE-----

The armour is parsed strictly (exact lines, canonical base64, one final newline and nothing
after it), so that any byte changed anywhere in the file breaks the transcript: a body byte
breaks the signature, an armour byte the parse. A third party checks it with OpenSSL alone:
the body is every line before the BEGIN line, the signature the base64 between the markers,
the digest the one the body names (``signature.digest``):

    openssl dgst -sha384 -verify root-public.pem -signature signature.der body.json
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from hsm import HsmKey, as_cryptography_key

from .builders import hash_for_key
from .errors import ExternalDataError

FORMAT = "govca-ceremony-transcript/1"
BEGIN = b"-----BEGIN GOVCA CEREMONY SIGNATURE-----"
END = b"-----END GOVCA CEREMONY SIGNATURE-----"
_MARKER = b"\n" + BEGIN + b"\n"
_B64_LINE = re.compile(rb"^[A-Za-z0-9+/]{1,64}={0,2}$")
_DIGESTS = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


class TranscriptError(ExternalDataError):
    """The transcript is malformed, unsigned, or its signature does not verify."""


@dataclass(frozen=True)
class VerifiedTranscript:
    content: dict
    root_certificate: x509.Certificate
    body: bytes


def body_bytes(content: dict) -> bytes:
    """The exact bytes that are signed: indented JSON, one final newline."""
    return (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def signature_info(key: HsmKey) -> dict:
    """What the body says of its own signature (signed with it, so it cannot be swapped)."""
    digest = hash_for_key(key.public_key)
    algorithm = (f"ecdsa-with-{digest.name.upper()}" if isinstance(key.public_key, ec.EllipticCurvePublicKey)
                 else f"{digest.name}WithRSAEncryption")
    return {"algorithm": algorithm, "digest": digest.name, "key_uri": str(key.uri)}


def sign(content: dict, key: HsmKey) -> bytes:
    """The transcript of ``content`` (whose ``signature`` is :func:`signature_info`), signed in the HSM."""
    body = body_bytes(content)
    private = as_cryptography_key(key)
    digest = hash_for_key(key.public_key)
    if isinstance(private, rsa.RSAPrivateKey):
        signature = private.sign(body, padding.PKCS1v15(), digest)
    else:
        signature = private.sign(body, ec.ECDSA(digest))
    text = base64.b64encode(signature)
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return body + b"\n".join([BEGIN, *lines, END]) + b"\n"


def unsigned(content: dict) -> bytes:
    """A transcript without a signature: a ceremony stopped before any root key existed."""
    return body_bytes(content)


def _split(data: bytes) -> tuple[bytes, bytes]:
    count = data.count(_MARKER)
    if count == 0:
        raise TranscriptError("the transcript carries no signature block (" + BEGIN.decode() + "): " +
                              _why_unsigned(data))
    if count > 1:
        raise TranscriptError("the transcript has more than one signature block")
    at = data.index(_MARKER) + 1
    body, armour = data[:at], data[at:]
    if not armour.endswith(b"\n") or armour.endswith(b"\n\n"):
        raise TranscriptError("the signature block must end with its END line and one newline, nothing after it")
    lines = armour[:-1].split(b"\n")
    if len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise TranscriptError("the signature block's armour is malformed (BEGIN line, base64 lines, END line)")
    payload = lines[1:-1]
    if any(not _B64_LINE.match(line) for line in payload) or any(len(line) != 64 for line in payload[:-1]):
        raise TranscriptError("the signature block holds a line that is not base64 of 64 characters "
                              "(the last one at most 64)")
    joined = b"".join(payload)
    try:
        signature = base64.b64decode(joined, validate=True)
    except (binascii.Error, ValueError):
        raise TranscriptError("the signature block is not valid base64") from None
    if base64.b64encode(signature) != joined:
        raise TranscriptError("the signature block's base64 is not canonical")
    return body, signature


def _why_unsigned(data: bytes) -> str:
    try:
        content = json.loads(data.decode("utf-8"))
        stop = content.get("stopped") or {}
        return (f"the ceremony stopped before a root key existed (step {stop.get('step')}: {stop.get('error')})"
                if stop else "it is not a signed govca ceremony transcript")
    except (UnicodeDecodeError, ValueError, AttributeError):
        return "it is not a govca ceremony transcript"


def verify(data: bytes, expected_root: bytes | None = None) -> VerifiedTranscript:
    """Check ``data`` byte for byte: the armour, then the signature over the body with the root
    certificate the body names (and, given ``expected_root`` DER, that it is that certificate)."""
    body, signature = _split(data)
    try:
        content = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise TranscriptError(f"the transcript body is not UTF-8 JSON ({str(exc)[:80]})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise TranscriptError(f"the transcript body is not a {FORMAT} document")
    if body != body_bytes(content):
        raise TranscriptError("the transcript body is not in its canonical form")
    try:
        root = content["root"]
        der = base64.b64decode(root["certificate"], validate=True)
        cert = x509.load_der_x509_certificate(der)
        digest = _DIGESTS[content["signature"]["digest"]]()
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise TranscriptError("the transcript body does not name its root certificate and digest") from None
    if hashlib.sha256(der).hexdigest() != root.get("certificate_sha256"):
        raise TranscriptError("the root certificate's SHA-256 does not match the one the transcript states")
    if expected_root is not None and der != expected_root:
        raise TranscriptError(f"the transcript is signed by root {cert.subject.rfc4514_string()!r} (SHA-256 "
                              f"{root['certificate_sha256']}), not the expected root certificate")
    public = cert.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, body, padding.PKCS1v15(), digest)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, body, ec.ECDSA(digest))
        else:
            raise TranscriptError("the root certificate's key is neither RSA nor EC")
    except InvalidSignature:
        raise TranscriptError("the transcript's signature does not verify with its root certificate's key: "
                              "the transcript was changed after it was signed") from None
    return VerifiedTranscript(content, cert, body)
