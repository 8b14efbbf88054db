"""Pure construction of OCSP responses (RFC 6960 4.2) from pre-encoded DER parts.

The responder signs the DER of ResponseData with its HSM key and the signature is spliced into
a BasicOCSPResponse; nothing here touches the token, the database or the clock. The shapes are
written directly (ocsp/der.py) because building them with asn1crypto costs more than the HSM
signature; the tests parse every shape back with asn1crypto, cryptography, openssl and pkilint.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass

from asn1crypto import x509 as ax509

from hsm.mechanisms import Mechanism

from .der import generalized_time, length, seq, tlv
from .interfaces import CertStatus, StatusInfo
from .request import CertIdRequest

NONCE_OID_DER = bytes.fromhex("06092b0601050507300102")  # id-pkix-ocsp-nonce, RFC 6960 4.4.1
BASIC_OID_DER = bytes.fromhex("06092b0601050507300101")  # id-pkix-ocsp-basic, RFC 6960 4.2.1
# RFC 6960 4.2.1 OCSPResponseStatus values for unsuccessful responses: responseBytes absent.
_STATUS_CODES = {"malformed_request": 1, "internal_error": 2, "try_later": 3, "sig_required": 5, "unauthorized": 6}
# RFC 5280 5.3.1 CRLReason values.
_REASONS = {"unspecified": 0, "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3, "superseded": 4,
            "cessationOfOperation": 5, "certificateHold": 6, "privilegeWithdrawn": 9, "aACompromise": 10}
_SIG_ALGS = {  # AlgorithmIdentifier DER; RFC 5758 3.2 (ECDSA: parameters absent), RFC 4055 5 (RSA: NULL)
    Mechanism.ECDSA_SHA256: bytes.fromhex("300a06082a8648ce3d040302"),
    Mechanism.ECDSA_SHA384: bytes.fromhex("300a06082a8648ce3d040303"),
    Mechanism.RSA_PKCS1V15_SHA256: bytes.fromhex("300d06092a864886f70d01010b0500"),
    Mechanism.RSA_PKCS1V15_SHA384: bytes.fromhex("300d06092a864886f70d01010c0500"),
}


def error_response(status: str) -> bytes:
    """An unsuccessful OCSPResponse: SEQUENCE { ENUMERATED status } (RFC 6960 4.2.1)."""
    return bytes([0x30, 0x03, 0x0A, 0x01, _STATUS_CODES[status]])


@dataclass(frozen=True)
class Responder:
    """The delegated responder: its certificate and how its key signs (hsm's ``default_mechanism``)."""

    cert_der: bytes
    mechanism: Mechanism

    @functools.cached_property
    def key_hash(self) -> bytes:
        # RFC 6960 4.2.1 KeyHash: SHA-1 of the subjectPublicKey BIT STRING value (without the unused-bits octet).
        spk = ax509.Certificate.load(self.cert_der).public_key["public_key"].contents[1:]
        return hashlib.sha1(spk).digest()

    @functools.cached_property
    def responder_id(self) -> bytes:
        return tlv(0xA2, tlv(0x04, self.key_hash))  # byKey [2] EXPLICIT

    @functools.cached_property
    def signature_algorithm(self) -> bytes:
        return _SIG_ALGS[self.mechanism]

    @functools.cached_property
    def certs(self) -> bytes:
        return tlv(0xA0, seq(self.cert_der))  # certs [0] EXPLICIT SEQUENCE OF Certificate


def _cert_status(status: StatusInfo) -> bytes:
    if status.status is CertStatus.GOOD:
        return b"\x80\x00"  # good [0] IMPLICIT NULL
    if status.status is CertStatus.UNKNOWN:
        return b"\x82\x00"  # unknown [2] IMPLICIT UnknownInfo (NULL)
    assert status.revoked_at is not None
    parts = [generalized_time(status.revoked_at)]
    if status.reason and status.reason != "unspecified":
        parts.append(tlv(0xA0, bytes([0x0A, 0x01, _REASONS[status.reason]])))  # [0] EXPLICIT CRLReason
    return tlv(0xA1, *parts)  # revoked [1] IMPLICIT RevokedInfo


def build_response_data(*, responder: Responder, answers: list[tuple[CertIdRequest, StatusInfo]],
                        produced_at: dt.datetime, this_update: dt.datetime, next_update: dt.datetime,
                        nonce_value: bytes | None) -> bytes:
    """DER of ResponseData: byKey responder id, producedAt, one SingleResponse per CertID (echoed
    as sent), nextUpdate always present, and the nonce's extnValue echoed as sent (RFC 8954)."""
    times = generalized_time(this_update) + tlv(0xA0, generalized_time(next_update))
    singles = b"".join(seq(cid.der, _cert_status(status), times) for cid, status in answers)
    parts = [responder.responder_id, generalized_time(produced_at), seq(singles)]
    if nonce_value is not None:
        parts.append(tlv(0xA1, seq(seq(NONCE_OID_DER, tlv(0x04, nonce_value)))))
    return seq(*parts)


def assemble(*, response_data_der: bytes, responder: Responder, signature: bytes) -> bytes:
    """A successful OCSPResponse with a BasicOCSPResponse carrying the responder certificate."""
    basic = seq(response_data_der, responder.signature_algorithm, tlv(0x03, b"\x00", signature), responder.certs)
    response_bytes = seq(BASIC_OID_DER, b"\x04" + length(len(basic)) + basic)
    return seq(b"\x0a\x01\x00", tlv(0xA0, response_bytes))
