"""PKCS#10 requests (RFC 2986): parse, verify proof of possession."""
from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from .errors import CsrError


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """Load a PEM or DER CSR and verify its self-signature (RFC 2986 3: proof of possession)."""
    if not data or not data.strip():
        raise CsrError("the CSR is empty")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise CsrError(f"malformed CSR: {exc}") from None
    del public_key
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CsrError(f"the CSR signature cannot be checked: {exc}") from None
    if not valid:
        raise CsrError("the CSR signature does not verify (RFC 2986 3: the requester must prove possession of the key)")
    return csr
