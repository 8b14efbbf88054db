"""XAdES unsigned properties for B-T, B-LT and B-LTA (ETSI EN 319 132-1 6.3-6.5), added to a B-B
signature from sign.py. Time-stamps come from govca's TSA in-process (``timestamp``: a
TimeStampReq DER in, a TimeStampResp DER out) and revocation data from the same in-process source
PAdES uses; nothing is fetched over HTTP (docs/architecture.md).

- B-T: xades:SignatureTimeStamp over the canonicalised ds:SignatureValue element (5.3).
- B-LT: xades:CertificateValues (every certificate of the seal's and the TSA's chains, 5.4.1) and
  xades:RevocationValues (their OCSP responses and CRLs, 5.4.2).
- B-LTA: xadesv141:ArchiveTimeStamp (5.5.2) over the input of model.archive_timestamp_input.
Each time-stamp names exclusive C14N in its ds:CanonicalizationMethod.
"""
from __future__ import annotations

import hashlib
import secrets
from typing import Callable

from asn1crypto import cms, tsp
from lxml import etree

from ..errors import UnavailableError
from ..revinfo import RevocationData
from ..tsa.authority import TimeStampResp
from . import model
from .model import EXC_C14N, NS, q

TimeStamp = Callable[[bytes], bytes]


def timestamp_token(signed_input: bytes, hash_name: str, timestamp: TimeStamp) -> bytes:
    """An RFC 3161 token (ContentInfo DER) over ``signed_input`` from ``timestamp``; the answer's
    status, imprint and nonce are checked (RFC 3161 2.4.2)."""
    digest = hashlib.new(hash_name, signed_input).digest()
    nonce = secrets.randbits(63)
    query = tsp.TimeStampReq({"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": hash_name},
                                                                 "hashed_message": digest},
                              "nonce": nonce, "cert_req": True})
    resp = TimeStampResp.load(timestamp(query.dump()))
    if resp["status"]["status"].native not in ("granted", "granted_with_mods"):
        raise UnavailableError(f"the TSA refused the time-stamp: {resp['status'].native}")
    token = resp["time_stamp_token"]
    info = token["content"]["encap_content_info"]["content"].parsed
    if info["message_imprint"]["hashed_message"].native != digest or info["nonce"].native != nonce:
        raise UnavailableError("the TSA answered a time-stamp for another request")
    return cms.ContentInfo.load(token.dump()).dump()


def _timestamp_element(parent: etree._Element, tag: str, token: bytes, ident: str) -> etree._Element:
    nsmap = {"xades141": model.XADES141} if tag == q("xades141", "ArchiveTimeStamp") else None
    node = etree.SubElement(parent, tag, Id=ident, nsmap=nsmap)
    etree.SubElement(node, q("ds", "CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(node, q("xades", "EncapsulatedTimeStamp")).text = model.b64(token)
    return node


def add_signature_timestamp(sig: etree._Element, hash_name: str, timestamp: TimeStamp) -> None:
    """B-T (EN 319 132-1 5.3): xades:SignatureTimeStamp over the canonical ds:SignatureValue."""
    usp = model.unsigned_signature_properties(sig, create=True)
    node = _timestamp_element(usp, q("xades", "SignatureTimeStamp"), b"", f"{sig.get('Id')}-SignatureTimeStamp")
    token = timestamp_token(model.signature_timestamp_input(sig, node), hash_name, timestamp)
    node.find("xades:EncapsulatedTimeStamp", NS).text = model.b64(token)


def add_validation_data(sig: etree._Element, certificates: list[bytes], revocation: RevocationData) -> None:
    """B-LT (EN 319 132-1 5.4.1, 5.4.2): the certificates and their status, each once."""
    usp = model.unsigned_signature_properties(sig, create=True)
    values = etree.SubElement(usp, q("xades", "CertificateValues"))
    for der in dict.fromkeys(certificates):
        etree.SubElement(values, q("xades", "EncapsulatedX509Certificate")).text = model.b64(der)
    rev = etree.SubElement(usp, q("xades", "RevocationValues"))
    if revocation.ocsps:
        ocsps = etree.SubElement(rev, q("xades", "OCSPValues"))
        for der in revocation.ocsps:
            etree.SubElement(ocsps, q("xades", "EncapsulatedOCSPValue")).text = model.b64(der)
    if revocation.crls:
        crls = etree.SubElement(rev, q("xades", "CRLValues"))
        for der in revocation.crls:
            etree.SubElement(crls, q("xades", "EncapsulatedCRLValue")).text = model.b64(der)


def add_archive_timestamp(sig: etree._Element, references: list[bytes], hash_name: str, timestamp: TimeStamp) -> None:
    """B-LTA (EN 319 132-1 5.5.2): xadesv141:ArchiveTimeStamp over the references' octets (as
    signxml's verifier processed them), SignedInfo, SignatureValue, KeyInfo, the unsigned
    properties before it and the other ds:Objects."""
    usp = model.unsigned_signature_properties(sig, create=True)
    node = _timestamp_element(usp, q("xades141", "ArchiveTimeStamp"), b"", f"{sig.get('Id')}-ArchiveTimeStamp")
    token = timestamp_token(model.archive_timestamp_input(sig, node, references), hash_name, timestamp)
    node.find("xades:EncapsulatedTimeStamp", NS).text = model.b64(token)
