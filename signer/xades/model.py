"""What XAdES signing and verification share: namespaces, levels, where the properties live and
the exact octets each time-stamp covers. Holds no key and imports nothing that does (the
verification context imports this module; import-linter contract ``verification-keyless``).

Canonicalisation is lxml's (``etree.tostring(method="c14n")``), never hand-written.
"""
from __future__ import annotations

import base64
from typing import Iterable

from lxml import etree

from ..levels import Level

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
XADES141 = "http://uri.etsi.org/01903/v1.4.1#"
NS = {"ds": DS, "xades": XADES, "xades141": XADES141}

# XMLDSig 1.1 6.5: the algorithm identifiers govca writes.
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"  # XMLDSig 4.4.3.2: the default
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"

# (exclusive, with comments) of each canonicalisation algorithm lxml implements.
C14N_METHODS = {
    C14N_10: (False, False), C14N_10 + "#WithComments": (False, True),
    EXC_C14N: (True, False), EXC_C14N + "WithComments": (True, True),
}

SUBFILTERS = {"enveloped": "xades-enveloped", "detached": "xades-detached"}
"""The registry's subfilter column for an XML seal (the PDF ones are ETSI.CAdES.detached ...)."""


XadesLevel = Level
"""XAdES baseline levels (ETSI EN 319 132-1 6.2-6.5): the same four as PAdES (signer/levels.py)."""


def q(prefix: str, local: str) -> str:
    """Clark notation of ``prefix:local`` (``q("ds", "Signature")``)."""
    return f"{{{NS[prefix]}}}{local}"


def c14n(node: etree._Element, algorithm: str = EXC_C14N) -> bytes:
    """``node`` canonicalised with ``algorithm`` (one of :data:`C14N_METHODS`) by lxml."""
    if algorithm not in C14N_METHODS:
        raise ValueError(f"canonicalisation {algorithm!r} is not supported")
    exclusive, comments = C14N_METHODS[algorithm]
    return etree.tostring(node, method="c14n", exclusive=exclusive, with_comments=comments)


def c14n_method(parent: etree._Element) -> str:
    """The ds:CanonicalizationMethod a time-stamp element names, else XMLDSig's default
    (Canonical XML 1.0, EN 319 132-1 5.3 / 5.5.2)."""
    node = parent.find("ds:CanonicalizationMethod", NS)
    return node.get("Algorithm", C14N_10) if node is not None else C14N_10


def signatures(root: etree._Element) -> list[etree._Element]:
    """The document's own ds:Signature elements: the root itself (detached), or the root's
    ds:Signature children (enveloped; a signature inside the content is part of the content)."""
    if root.tag == q("ds", "Signature"):
        return [root]
    return root.findall("ds:Signature", NS)


def qualifying_properties(sig: etree._Element) -> etree._Element | None:
    return sig.find("ds:Object/xades:QualifyingProperties", NS)


def unsigned_signature_properties(sig: etree._Element, create: bool = False) -> etree._Element | None:
    """xades:UnsignedProperties/xades:UnsignedSignatureProperties (EN 319 132-1 4.3), made on request."""
    qp = qualifying_properties(sig)
    if qp is None:
        return None
    found = qp.find("xades:UnsignedProperties/xades:UnsignedSignatureProperties", NS)
    if found is None and create:
        unsigned = qp.find("xades:UnsignedProperties", NS)
        if unsigned is None:
            unsigned = etree.SubElement(qp, q("xades", "UnsignedProperties"))
        found = etree.SubElement(unsigned, q("xades", "UnsignedSignatureProperties"))
    return found


def encapsulated(node: etree._Element) -> bytes:
    return base64.b64decode("".join((node.text or "").split()), validate=True)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def signature_timestamp_input(sig: etree._Element, ts: etree._Element) -> bytes:
    """EN 319 132-1 5.3 xades:SignatureTimeStamp: the ds:SignatureValue element, canonicalised
    with the algorithm the time-stamp names."""
    return c14n(sig.find("ds:SignatureValue", NS), c14n_method(ts))


def archive_timestamp_input(sig: etree._Element, ats: etree._Element, references: Iterable[bytes]) -> bytes:
    """EN 319 132-1 5.5.2.2 (xadesv141:ArchiveTimeStamp, not distributed case): the octets
    ``references`` that each ds:Reference's processing yielded (in SignedInfo order), then
    ds:SignedInfo, ds:SignatureValue and ds:KeyInfo, then every unsigned signature property before
    this time-stamp, in order, then every ds:Object other than the one holding the
    QualifyingProperties; each element canonicalised with the time-stamp's algorithm."""
    method = c14n_method(ats)
    parts = list(references)
    for name in ("SignedInfo", "SignatureValue", "KeyInfo"):
        node = sig.find(f"ds:{name}", NS)
        if node is not None:
            parts.append(c14n(node, method))
    usp = ats.getparent()
    for prop in usp:
        if prop is ats:
            break
        if isinstance(prop.tag, str):
            parts.append(c14n(prop, method))
    for obj in sig.findall("ds:Object", NS):
        if obj.find("xades:QualifyingProperties", NS) is None:
            parts.append(c14n(obj, method))
    return b"".join(parts)


def level_of(sig: etree._Element) -> XadesLevel:
    """The baseline level a signature's unsigned properties reach (EN 319 132-1 6.2-6.5):
    B-T a signature time-stamp, B-LT certificate and revocation values, B-LTA an archive time-stamp."""
    usp = unsigned_signature_properties(sig)
    if usp is None or usp.find("xades:SignatureTimeStamp", NS) is None:
        return XadesLevel.B_B
    if usp.find("xades:CertificateValues", NS) is None or usp.find("xades:RevocationValues", NS) is None:
        return XadesLevel.B_T
    return XadesLevel.B_LTA if usp.find("xades141:ArchiveTimeStamp", NS) is not None else XadesLevel.B_LT


def certificate_values(sig: etree._Element) -> list[bytes]:
    """DER of every xades:CertificateValues/EncapsulatedX509Certificate (EN 319 132-1 5.4.1)."""
    usp = unsigned_signature_properties(sig)
    if usp is None:
        return []
    return [encapsulated(n) for n in usp.findall("xades:CertificateValues/xades:EncapsulatedX509Certificate", NS)]


def revocation_values(sig: etree._Element) -> tuple[list[bytes], list[bytes]]:
    """(OCSP responses, CRLs) of xades:RevocationValues (EN 319 132-1 5.4.2), DER."""
    usp = unsigned_signature_properties(sig)
    if usp is None:
        return [], []
    ocsps = [encapsulated(n) for n in usp.findall("xades:RevocationValues/xades:OCSPValues/"
                                                  "xades:EncapsulatedOCSPValue", NS)]
    crls = [encapsulated(n) for n in usp.findall("xades:RevocationValues/xades:CRLValues/"
                                                 "xades:EncapsulatedCRLValue", NS)]
    return ocsps, crls


def key_info_certificates(sig: etree._Element) -> list[bytes]:
    """DER of the ds:KeyInfo/ds:X509Data certificates (XMLDSig 1.1 4.5.4), in document order."""
    return [encapsulated(n) for n in sig.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)]
