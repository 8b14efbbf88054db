"""The external parent's OCSP answer for one of our CA certificates (`govca ca refresh-parent`):
the request, with a SHA-1 CertID as RFC 5019 2.1.1 requires, and the checks of the answer that
RFC 6960 asks of a client: a successful response (4.2.1), signed by the parent or by a delegated
responder the parent certified for id-kp-OCSPSigning (4.2.2.2), for the CertID asked about
(3.2 (1)), with a signature that verifies (3.2 (2)), thisUpdate not ahead (3.2 (4)) and
nextUpdate, when present, not passed (3.2 (5))."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from policies.status import CertStatus

from .errors import ExternalDataError
from .external_crl import CLOCK_SKEW

MAX_OCSP_BYTES = 1024 * 1024


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """An RFC 6960 request for one certificate, its CertID hashed with SHA-1 (RFC 5019 2.1.1)."""
    return ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build().public_bytes(Encoding.DER)


def _verify_signature(key, signature: bytes, data: bytes, algorithm) -> bool:  # type: ignore[no-untyped-def]
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def _key_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey BIT STRING's value (RFC 6960 4.1.1 CertID issuerKeyHash,
    4.2.1 ResponderID byKey)."""
    from asn1crypto import x509 as ax509

    return ax509.Certificate.load(cert.public_bytes(Encoding.DER)).public_key.sha1


def _signer(resp: ocsp.OCSPResponse, issuer: x509.Certificate, now: dt.datetime) -> x509.Certificate:
    """The certificate that signed ``resp``: the issuer itself, or a delegated responder the
    issuer certified for id-kp-OCSPSigning (RFC 6960 4.2.2.2)."""
    def named(cert: x509.Certificate) -> bool:
        if resp.responder_name is not None:
            return cert.subject == resp.responder_name
        return resp.responder_key_hash == _key_hash(cert)

    if named(issuer):
        return issuer
    for cert in resp.certificates:
        if not named(cert):
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise ExternalDataError("the OCSP response is signed by a responder certificate the parent did not "
                                    "issue (RFC 6960 4.2.2.2)") from None
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = []
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            raise ExternalDataError("the OCSP responder certificate lacks id-kp-OCSPSigning in its extended key "
                                    "usage (RFC 6960 4.2.2.2)")
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise ExternalDataError("the OCSP responder certificate is outside its validity period")
        return cert
    raise ExternalDataError("the OCSP response is signed neither by the parent nor by a responder certificate it "
                            "carries (RFC 6960 4.2.2.2)")


@dataclass(frozen=True)
class CheckedOcsp:
    der: bytes
    status: CertStatus
    this_update: dt.datetime
    next_update: dt.datetime | None


def check_ocsp(data: bytes, cert: x509.Certificate, issuer: x509.Certificate, now: dt.datetime) -> CheckedOcsp:
    """Verify ``data`` as the parent's OCSP answer for ``cert``; ExternalDataError if not."""
    try:
        resp = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise ExternalDataError(f"not a DER OCSP response ({str(exc).splitlines()[0][:120]})") from None
    if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise ExternalDataError(f"the responder answered {resp.response_status.name.lower()} (RFC 6960 4.2.1)")
    if resp.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
        raise ExternalDataError("the OCSP response is signed with RSASSA-PSS, which govca does not verify here; "
                                "ask the parent for PKCS#1 v1.5 or ECDSA")
    signer = _signer(resp, issuer, now)
    if not _verify_signature(signer.public_key(), resp.signature, resp.tbs_response_bytes,
                             resp.signature_hash_algorithm):
        raise ExternalDataError("the OCSP response's signature does not verify (RFC 6960 3.2 (2))")
    wanted = (cert.serial_number, hashlib.sha1(cert.issuer.public_bytes()).digest(), _key_hash(issuer))
    single = None
    for one in resp.responses:
        ids = (one.serial_number, one.issuer_name_hash, one.issuer_key_hash)
        if isinstance(one.hash_algorithm, hashes.SHA1) and ids == wanted:
            single = one
    if single is None:
        raise ExternalDataError("the OCSP response does not answer for the certificate asked about "
                                "(CertID mismatch, RFC 6960 3.2 (1))")
    this_update, next_update = single.this_update_utc, single.next_update_utc
    if this_update > now + CLOCK_SKEW:
        raise ExternalDataError(f"the OCSP response's thisUpdate {this_update:%Y-%m-%d %H:%M:%S}Z lies in the "
                                "future (RFC 6960 3.2 (4))")
    if next_update is not None and next_update <= now:
        raise ExternalDataError(f"the OCSP response's nextUpdate {next_update:%Y-%m-%d %H:%M:%S}Z has passed "
                                "(RFC 6960 3.2 (5))")
    if single.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
        raise ExternalDataError("the responder does not know the certificate (status unknown, RFC 6960 2.2)")
    status = CertStatus.REVOKED if single.certificate_status is ocsp.OCSPCertStatus.REVOKED else CertStatus.VALID
    return CheckedOcsp(data, status, this_update, next_update)
