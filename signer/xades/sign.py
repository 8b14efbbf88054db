"""XAdES baseline B-B (ETSI EN 319 132-1 6.2) with signxml; the one raw signature is made in the HSM.

- Enveloped (default): ds:Signature becomes the last child of the root; its data reference is
  ``URI=""`` with the enveloped-signature transform then exclusive C14N (XMLDSig 1.1 6.6.4, 6.6.2).
- Detached: the result is a ds:Signature document whose data reference is ``URI="<file name>"``
  (a relative URI, XMLDSig 1.1 4.4.3.1) with exclusive C14N; xmlsec1 resolves it against the
  directory it runs in, signxml and govca's verifier are handed the file (docs/xades.md).
- The SignedProperties and KeyInfo references name exclusive C14N as an explicit transform, so
  every verifier canonicalises them the same way (without one, XMLDSig 4.4.3.2 would mean
  inclusive Canonical XML 1.0, which signxml does not apply).
- Signed properties (EN 319 132-1 5.2): SigningTime (govca's clock), SigningCertificateV2 (the
  seal certificate first, then its chain) and DataObjectFormat with the MIME type.
- ds:KeyInfo carries the seal certificate and its chain (ds:X509Data), no KeyValue.

signxml signs with a ``cryptography`` private key object: the HSM key goes in through
``hsm.as_cryptography_key`` (hsm/adapters.py), whose ``sign`` is the token's; no key leaves it.
"""
from __future__ import annotations

import datetime as dt
from base64 import b64encode
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod, methods
from signxml.signer import SignatureReference
from signxml.util import ds_tag, xades_tag
from signxml.xades import XAdESDataObjectFormat, XAdESSigner

from hsm import Mechanism, as_cryptography_key, default_mechanism

from ..errors import BadInputError
from .model import EXC_C14N, NS

# The mechanism rule (hsm.default_mechanism) in XMLDSig identifiers (RFC 9231 2.2.2, 2.3.6).
SIGNATURE_METHODS = {
    Mechanism.ECDSA_SHA256: SignatureMethod.ECDSA_SHA256,
    Mechanism.ECDSA_SHA384: SignatureMethod.ECDSA_SHA384,
    Mechanism.RSA_PKCS1V15_SHA256: SignatureMethod.RSA_SHA256,
}
DIGESTS = {"sha256": DigestAlgorithm.SHA256, "sha384": DigestAlgorithm.SHA384, "sha512": DigestAlgorithm.SHA512}


@dataclass(frozen=True)
class XmlMaterial:
    """A seal certificate, its chain (issuing CA, root) and its HSM key (only ``sign`` is used)."""

    cert_der: bytes
    chain_der: tuple[bytes, ...]
    key: Any


class HsmXadesSigner(XAdESSigner):
    """signxml's XAdESSigner with govca's clock for SigningTime and explicit exclusive C14N on
    the references to SignedProperties and KeyInfo."""

    def __init__(self, signing_time: dt.datetime, mime_type: str, description: str, **kwargs: Any) -> None:
        super().__init__(data_object_format=XAdESDataObjectFormat(Description=description, MimeType=mime_type),
                         **kwargs)
        self.signing_time = signing_time

    def add_signing_time(self, signed_signature_properties: Any, sig_root: Any, signing_settings: Any) -> None:
        """EN 319 132-1 5.2.1 SigningTime: xsd:dateTime in UTC."""
        node = etree.SubElement(signed_signature_properties, xades_tag("SigningTime"), nsmap=self.namespaces)
        node.text = self.signing_time.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")

    def _add_reference_to_signed_info(self, sig_root: Any, node_to_reference: Any, **attrs: Any) -> None:
        signed_info = self._find(sig_root, "SignedInfo")
        reference = etree.SubElement(signed_info, ds_tag("Reference"), nsmap=self.namespaces)
        reference.set("URI", f"#{node_to_reference.get('Id')}")
        for name, value in attrs.items():
            reference.set(name, value)
        transforms = etree.SubElement(reference, ds_tag("Transforms"))
        etree.SubElement(transforms, ds_tag("Transform"), Algorithm=self.c14n_alg.value)
        etree.SubElement(reference, ds_tag("DigestMethod"), nsmap=self.namespaces, Algorithm=self.digest_alg.value)
        value = etree.SubElement(reference, ds_tag("DigestValue"), nsmap=self.namespaces)
        value.text = b64encode(self._get_digest(self._c14n(node_to_reference, algorithm=self.c14n_alg),
                                                algorithm=self.digest_alg)).decode()


def _signing_key(key: Any) -> Any:
    """The HSM key as a ``cryptography`` private key (hsm/adapters.py): signxml signs through it,
    and the signature is made in the token."""
    return as_cryptography_key(key)


FILE_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def check_file_name(name: str) -> str:
    """A detached signature's reference URI: a plain file name (a relative URI with no path,
    RFC 3986 4.2), so a verifier resolves it next to the signature and nowhere else."""
    if not (1 <= len(name) <= 128) or not set(name) <= FILE_NAME_CHARS or name.startswith(".") \
            or not name[0].isalnum():
        raise BadInputError(f"invalid options: the file name {name[:80]!r} of a detached signature must be 1-128 "
                            "letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def sign_bb(root: etree._Element, material: XmlMaterial, now: dt.datetime, *, detached_name: str | None = None,
            mime_type: str = "application/xml", description: str = "XML document") -> etree._Element:
    """The XAdES B-B signature of the document ``root`` (EN 319 132-1 6.2): the document with its
    enveloped ds:Signature, or with ``detached_name`` a detached ds:Signature referencing that file.
    ``root`` is not modified."""
    mechanism = default_mechanism(material.key.key_type)
    signer = HsmXadesSigner(
        now, mime_type, description,
        method=methods.detached if detached_name else methods.enveloped,
        signature_algorithm=SIGNATURE_METHODS[mechanism], digest_algorithm=DIGESTS[mechanism.hash_name],
        c14n_algorithm=EXC_C14N)
    certs = [x509.load_der_x509_certificate(d) for d in (material.cert_der, *material.chain_der)]
    reference = [SignatureReference(URI=detached_name)] if detached_name else None
    signed = signer.sign(root, key=_signing_key(material.key), cert=certs, reference_uri=reference,
                         always_add_key_value=False)
    return signed


def signature_of(signed: etree._Element) -> etree._Element:
    """The ds:Signature govca just made: the root (detached) or the root's last child (enveloped)."""
    if signed.tag == ds_tag("Signature"):
        return signed
    sig = signed[-1]
    assert sig.tag == ds_tag("Signature") and sig.find("ds:SignedInfo", NS) is not None
    return sig


def serialise(signed: etree._Element) -> bytes:
    """The signed document as UTF-8 with an XML declaration, nothing re-indented (a changed
    whitespace node inside the signed content would break the enveloped reference)."""
    return etree.tostring(signed.getroottree(), xml_declaration=True, encoding="UTF-8")
