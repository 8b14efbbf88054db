"""One XML document sealed at an XAdES baseline level (ETSI EN 319 132-1 6.2-6.5): the plain
in-process function, with no registry, audit or HTTP around it (service.py adds those; the
benchmark calls this directly)."""
from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Callable

from cryptography import x509
from lxml import etree

from hsm import default_mechanism

from ..docdata.schemas import known_schema
from ..errors import BadInputError, ConflictError, UnavailableError
from ..revinfo import RevocationData
from . import ltv, model
from .model import XadesLevel
from .sign import XmlMaterial, check_file_name, serialise, sign_bb, signature_of


@dataclass(frozen=True)
class XmlOptions:
    level: XadesLevel = XadesLevel.B_LTA
    packaging: str = "enveloped"  # or "detached"
    file_name: str | None = None  # a detached signature's reference URI
    mime_type: str = "application/xml"  # xades:DataObjectFormat/MimeType (EN 319 132-1 5.2.4)

    @property
    def subfilter(self) -> str:
        from .model import SUBFILTERS

        return SUBFILTERS[self.packaging]


def check_signature(signed: etree._Element, material: XmlMaterial, now: dt.datetime,
                    detached: etree._Element | None) -> list[bytes]:
    """The check after sealing: signxml's XAdESVerifier on what was just made, with the seal
    certificate (XMLDSig core: every reference digest and the signature value; SigningCertificateV2).
    Returns each reference's octets as the verifier processed them (the archive time-stamp covers them)."""
    from signxml.xades import XAdESVerifier
    from signxml.xades.xades import XAdESSignatureConfiguration

    cert = x509.load_der_x509_certificate(material.cert_der)
    inside = min(max(now, cert.not_valid_before_utc), cert.not_valid_after_utc)
    config = XAdESSignatureConfiguration(verification_time=inside,
                                         location=".//" if detached is not None else "./")
    results = XAdESVerifier().verify(signed, x509_cert=cert, expect_config=config,
                                     uri_resolver=(lambda _uri: detached) if detached is not None else None)
    return [r.signed_data for r in results]


def _outside_root(root: etree._Element) -> tuple[list, list]:
    """The comments before and after the root element. A processing instruction there is refused:
    an enveloped reference ``URI=""`` covers it (XMLDSig 1.1 4.4.3.3, the whole document without
    comments), but signxml signs the root element only, so the signature would not verify elsewhere."""
    before, after = list(root.itersiblings(preceding=True))[::-1], list(root.itersiblings())
    for node in before + after:
        if isinstance(node, etree._ProcessingInstruction):
            raise BadInputError(f"the XML document has a processing instruction outside its root element "
                                f"(<?{node.target} ...?>); govca signs the whole document and cannot cover it: send "
                                "the document without it")
    return before, after


def seal_xml(root: etree._Element, material: XmlMaterial, options: XmlOptions, now: dt.datetime, *,
             timestamp: Callable[[bytes], bytes] | None = None, tsa_certs: tuple[bytes, ...] = (),
             revocation: RevocationData | None = None) -> bytes:
    """The sealed document (enveloped) or detached signature, serialised.

    ``timestamp``: RFC 3161 TimeStampReq DER -> TimeStampResp DER (``SealingService.timestamp``),
    needed from B-T. ``tsa_certs``: the TSA certificate and its chain; ``revocation``: OCSP
    responses and CRLs for every certificate of both chains, needed from B-LT."""
    level = options.level
    if level.timestamped and timestamp is None:
        raise UnavailableError(f"level {level.value} needs the TSA: run `govca tsa setup --ca NAME`")
    if level.long_term and (revocation is None or not (revocation.ocsps or revocation.crls)):
        raise UnavailableError(f"level {level.value} embeds the status of every certificate of the chains, and govca "
                               "holds none for them: an administrator runs `govca ocsp refresh`")
    if model.signatures(root):
        raise ConflictError("the XML document already carries a signature (a ds:Signature of its root); govca seals "
                            "an unsigned document once and adds no counter-signature")
    if root.xpath("//ds:Signature[@Id='placeholder']", namespaces=model.NS):
        # signxml would put the signature there instead of as the root's last child
        raise BadInputError("the XML document holds a ds:Signature placeholder (Id=\"placeholder\"); send the "
                            "document without it: govca appends the signature to the root")
    before, after = _outside_root(root)
    schema = known_schema(root)
    name = check_file_name(options.file_name or "") if options.packaging == "detached" else None
    signed = sign_bb(root, material, now, detached_name=name, mime_type=options.mime_type,
                     description=schema.title[1] if schema is not None else "XML document")
    if name is None:  # signxml signs a copy of the root element: the comments around it go back
        for node in before:
            signed.addprevious(copy.copy(node))
        for node in reversed(after):
            signed.addnext(copy.copy(node))
    octets = check_signature(signed, material, now, root if name else None)
    if level.timestamped:
        assert timestamp is not None
        sig = signature_of(signed)
        hash_name = default_mechanism(material.key.key_type).hash_name
        ltv.add_signature_timestamp(sig, hash_name, timestamp)
        if level.long_term:
            assert revocation is not None
            ltv.add_validation_data(sig, [material.cert_der, *material.chain_der, *tsa_certs], revocation)
        if level is XadesLevel.B_LTA:
            ltv.add_archive_timestamp(sig, octets, hash_name, timestamp)
    return serialise(signed)
