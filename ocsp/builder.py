"""Pure construction of OCSP responses (RFC 6960 4.2): ResponseData in, DER out.

The responder signs the DER of ResponseData with its HSM key and the signature is spliced
into a BasicOCSPResponse; nothing here touches the token, the database or the clock.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import ocsp as aocsp
from asn1crypto import x509 as ax509

from .interfaces import CertState, StatusInfo
from .request import CertIdRequest

NONCE_OID = "1.3.6.1.5.5.7.48.1.2"
# RFC 6960 4.2.1 OCSPResponseStatus values for unsuccessful responses: responseBytes absent.
_STATUS_CODES = {"malformed_request": 1, "internal_error": 2, "try_later": 3, "sig_required": 5, "unauthorized": 6}
_REASONS = {
    "unspecified": "unspecified", "keyCompromise": "key_compromise", "cACompromise": "ca_compromise",
    "affiliationChanged": "affiliation_changed", "superseded": "superseded",
    "cessationOfOperation": "cessation_of_operation", "certificateHold": "certificate_hold",
    "privilegeWithdrawn": "privilege_withdrawn", "aACompromise": "aa_compromise",
}
_SIG_ALGS = {("ec", "sha256"): "sha256_ecdsa", ("ec", "sha384"): "sha384_ecdsa",
             ("rsa", "sha256"): "sha256_rsa", ("rsa", "sha384"): "sha384_rsa"}


def error_response(status: str) -> bytes:
    """An unsuccessful OCSPResponse: SEQUENCE { ENUMERATED status } (RFC 6960 4.2.1)."""
    return bytes([0x30, 0x03, 0x0A, 0x01, _STATUS_CODES[status]])


@dataclass(frozen=True)
class Responder:
    """The delegated responder: its certificate and the signature algorithm of its key."""

    cert_der: bytes
    key_algo: str  # "ec" | "rsa"
    hash_name: str  # "sha256" | "sha384"

    @property
    def key_hash(self) -> bytes:
        # RFC 6960 4.2.1 ResponderID byKey: SHA-1 of the subjectPublicKey BIT STRING value.
        return ax509.Certificate.load(self.cert_der).public_key.sha1


def _single(cid: CertIdRequest, status: StatusInfo, this_update: dt.datetime, next_update: dt.datetime) -> dict:
    if status.state is CertState.REVOKED:
        info = {"revocation_time": status.revoked_at}
        if status.reason and status.reason != "unspecified":
            info["revocation_reason"] = _REASONS[status.reason]
        cert_status = aocsp.CertStatus(name="revoked", value=aocsp.RevokedInfo(info))
    else:
        cert_status = aocsp.CertStatus(name=status.state.value, value=core.Null())
    return {"cert_id": aocsp.CertId.load(cid.der), "cert_status": cert_status,
            "this_update": this_update, "next_update": next_update}


def build_response_data(*, responder: Responder, answers: list[tuple[CertIdRequest, StatusInfo]],
                        produced_at: dt.datetime, this_update: dt.datetime, next_update: dt.datetime,
                        nonce_value: bytes | None) -> bytes:
    """DER of ResponseData: byKey responder id, producedAt, one SingleResponse per CertID, the nonce echoed."""
    data = {
        "responder_id": aocsp.ResponderId(name="by_key", value=responder.key_hash),
        "produced_at": produced_at,
        "responses": [_single(cid, st, this_update, next_update) for cid, st in answers],
    }
    if nonce_value is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "critical": False,
                                        "extn_value": core.ParsableOctetString(nonce_value)}]
    return aocsp.ResponseData(data).dump()


def assemble(*, response_data_der: bytes, responder: Responder, signature: bytes) -> bytes:
    """A successful OCSPResponse with a BasicOCSPResponse carrying the responder certificate."""
    basic = aocsp.BasicOCSPResponse({
        "tbs_response_data": aocsp.ResponseData.load(response_data_der),
        "signature_algorithm": {"algorithm": _SIG_ALGS[(responder.key_algo, responder.hash_name)]},
        "signature": signature,
        "certs": [ax509.Certificate.load(responder.cert_der)],
    })
    return aocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
    }).dump()
