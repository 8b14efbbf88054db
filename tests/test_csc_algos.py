"""CSC credentials/info advertises in key/algo exactly the signature algorithms signHash serves
(docs/csc.md interop rule 1): a client that picks any advertised OID can sign with it."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from signer.remote.csc import Credential, CscError, RemoteSigning


def _credential(key) -> Credential:  # type: ignore[no-untyped-def]
    # A throwaway software key only to make a certificate for this pure check; nothing is signed
    # with it by govca.
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "algo test")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return Credential("official-1", "official", "A", "t", "pkcs11:object=x", cert.public_bytes(Encoding.DER), (),
                      "2", 1, True, 1)


@pytest.mark.parametrize("key", [rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())],
                         ids=["rsa", "ec-p256"])
def test_every_algorithm_offered_in_key_algo_is_served_by_sign_hash(key) -> None:  # type: ignore[no-untyped-def]
    cred = _credential(key)
    offered = cred.key_info()["algo"]
    assert offered
    for oid in offered:
        RemoteSigning._mechanism(cred, oid, None)  # raises CscError for an algorithm not served
    with pytest.raises(CscError):
        RemoteSigning._mechanism(cred, "1.2.840.113549.1.1.10", None)  # RSASSA-PSS: not served, not offered
