"""Golden-DER tests of the pure builders (issue 13, acceptance 4): a change to a builder's output
shows up here as a byte diff, not only through SoftHSM and the CLI.

Each case calls one builder with a fixed ``now``, fixed serials, nonces and CRL numbers, a fixed
``PolicySettings`` (no base URL from a configuration) and fixed software keys (derived at run time
from their names by tests/golden_keys.py: no private key is committed; test input only, production
keys stay in the HSM), and compares the result byte for byte with
tests/golden/<case>.der:

- ca/builders.py ``build_certificate``, one case per profile (root-ca, issuing-ca,
  issuing-ca-offline-root, person, eseal, ocsp, tsa) and a person certificate whose CRL DP names
  its CRL partition (``crl_partition``): the whole certificate, signed with an RSA
  PKCS#1 v1.5 key (RFC 8017 8.2: deterministic); an EC-signed case compares the TBSCertificate
  only (ECDSA signatures are randomized);
- ca/crl_der.py ``build_tbs`` + ``assemble`` (the CRL writer ``govca crl publish`` uses): the full
  CRL with every entry shape (reasonCode, unspecified left out per RFC 5280 5.3.1, invalidityDate),
  an empty one, the root's ARL, and a partition with and without entries (issuingDistributionPoint,
  critical, onlyContainsUserCerts: RFC 5280 5.2.5), whole and RSA-signed;
- ocsp/builder.py ``build_response_data`` + ``assemble``: good, revoked with a reason, revoked
  unspecified, unknown, with and without a nonce (RFC 6960 4.2.1, RFC 8954), whole and RSA-signed;
- signer/tsa/authority.py ``build_tst_info``, ``build_signed_attributes``, ``build_token`` and
  ``build_response`` (granted with and without certReq, rejected), with a TsaUnit whose key is a
  software RSA key behind the same ``sign``/``key_type``/``public_key_der`` interface as an HsmKey.

The OCSP and TSA cases read the responder's and TSA's certificates from the certificate goldens, so
a certificate builder change fails the certificate cases only.

The test never writes a golden file. After an intended change to a builder (or to the shipped
profiles, which the certificate and CRL cases use), rewrite them by hand and review the diff:

    .venv/bin/python tests/golden/regenerate.py
    git diff --stat tests/golden     # then e.g. openssl asn1parse -inform DER -in tests/golden/<case>.der

``test_a_changed_input_changes_the_bytes`` shows that every case is sensitive: the same builder with
one input field moved by the smallest step (a serial, a CRL number, a time by one second) gives
bytes other than the golden. ``test_the_goldens_verify_with_openssl`` checks that the goldens are
valid to openssl (chain, CRL signatures and scope, OCSP responses, the TSA reply), so a regenerated
set cannot silently become garbage.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from asn1crypto import keys as akeys
from asn1crypto import ocsp as aocsp
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from ca.builders import IssuerInfo, build_certificate, hash_for_key
from ca.crl_checks import sign_tbs
from ca.crl_der import FULL, Entry, Scope, build_tbs
from ca.crl_der import assemble as assemble_crl
from ca.partitions import partition_url
from hsm import KeyType, Mechanism, default_mechanism
from ocsp.builder import Responder, assemble, build_response_data
from ocsp.interfaces import CertStatus, StatusInfo
from ocsp.request import CertIdRequest
from policies import PolicySettings
from policies.loader import load_profiles
from golden_keys import golden_key
from signer.tsa.authority import (TsaUnit, build_response, build_signed_attributes, build_tst_info, build_token,
                                  parse_query)

GOLDEN = Path(__file__).resolve().parent / "golden"
UTC = dt.timezone.utc
# Microseconds on purpose: certificates and CRLs drop them, TSA genTime keeps milliseconds (RFC 3161 2.4.2).
NOW = dt.datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
# A trailing slash on purpose: ca_urls strips it. Example domain and the RFC 5612 documentation arc.
SETTINGS = PolicySettings(base_url="http://pki.example.test/", agency_policy_oid="1.3.6.1.4.1.32473.764.1")
TSA_POLICY = "1.3.6.1.4.1.32473.764.3161"
ROOT_NAME, ISSUING_NAME, EC_ISSUING_NAME = "golden-root", "golden-issuing", "golden-issuing-ec"


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


ORG = ((NameOID.COUNTRY_NAME, "TH"), (NameOID.ORGANIZATION_NAME, "govca Golden"))
ROOT_SUBJECT = _name(*ORG, (NameOID.COMMON_NAME, "govca Golden Root"))
ISSUING_SUBJECT = _name(*ORG, (NameOID.COMMON_NAME, "govca Golden Issuing CA"))
EC_ISSUING_SUBJECT = _name(*ORG, (NameOID.COMMON_NAME, "govca Golden Issuing CA EC"))
# (profile, subject, subject key, issuer, serial); the issuer is None (self-signed), "root", "issuing" or "ec".
CERTIFICATES: dict[str, tuple[str, x509.Name, str, str | None, int]] = {
    "cert-root-ca": ("root-ca", ROOT_SUBJECT, "root-rsa3072", None, 0x1001),
    "cert-issuing-ca": ("issuing-ca", ISSUING_SUBJECT, "issuing-rsa3072", "root", 0x2002),
    "cert-issuing-ca-offline-root": ("issuing-ca-offline-root", ISSUING_SUBJECT, "issuing-rsa3072", "root", 0x2003),
    "cert-person": ("person", _name(
        (NameOID.COUNTRY_NAME, "TH"), (NameOID.GIVEN_NAME, "Somchai"), (NameOID.SURNAME, "Jaidee"),
        (NameOID.COMMON_NAME, "Somchai Jaidee"), (NameOID.SERIAL_NUMBER, "PNOTH-1234567890123")),
        "ee-p256", "issuing", 0x7E57_0001),
    "cert-eseal": ("eseal", _name(*ORG, (NameOID.ORGANIZATION_IDENTIFIER, "NTRTH-0994000000001"),
                                  (NameOID.COMMON_NAME, "govca Golden Seal")), "ee-rsa2048", "issuing", 0x7E57_0002),
    "cert-ocsp": ("ocsp", _name(*ORG, (NameOID.COMMON_NAME, "govca Golden OCSP")), "ee-rsa2048", "issuing",
                  0x7E57_0003),
    "cert-tsa": ("tsa", _name(*ORG, (NameOID.COMMON_NAME, "govca Golden TSA")), "ee-rsa2048", "issuing", 0x7E57_0004),
    # RFC 5280 4.2.1.13: its CRL DP names its partition of the issuing CA's CRL (ca/partitions.py).
    "cert-person-partitioned": ("person", _name(
        (NameOID.COUNTRY_NAME, "TH"), (NameOID.GIVEN_NAME, "Somsri"), (NameOID.SURNAME, "Rakthai"),
        (NameOID.COMMON_NAME, "Somsri Rakthai"), (NameOID.SERIAL_NUMBER, "PNOTH-3100000000003")),
        "ee-p256", "issuing", 0x7E57_0006),
    # Signed by a P-384 CA: ECDSA is randomized, so only the TBSCertificate is golden.
    "cert-person-ec-issuer.tbs": ("person", _name(
        (NameOID.COUNTRY_NAME, "TH"), (NameOID.GIVEN_NAME, "Malee"), (NameOID.SURNAME, "Srisuk"),
        (NameOID.COMMON_NAME, "Malee Srisuk"), (NameOID.SERIAL_NUMBER, "PNOTH-3100000000002")),
        "ee-p256", "ec", 0x7E57_0005),
}
PARTITION = "20280110"
PARTITIONED = {"cert-person-partitioned": PARTITION}
ISSUERS = {"root": (ROOT_NAME, ROOT_SUBJECT, "root-rsa3072"), "issuing": (ISSUING_NAME, ISSUING_SUBJECT, "issuing-rsa3072"),
           "ec": (EC_ISSUING_NAME, EC_ISSUING_SUBJECT, "issuing-p384")}


def key(name: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    return golden_key(name)


@functools.lru_cache(maxsize=None)
def profiles():  # noqa: ANN201 - policies.ProfileSet
    return load_profiles()


def ski(key_name: str) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(key(key_name).public_key()).digest


def golden(case: str) -> bytes:
    return (GOLDEN / f"{case}.der").read_bytes()


def sign(builder: x509.CertificateBuilder | x509.CertificateRevocationListBuilder, signer: str):  # noqa: ANN201
    private = key(signer)
    return builder.sign(private, hash_for_key(private.public_key()))


# --- certificates (ca/builders.py build_certificate) ------------------------------------------------
def certificate(case: str, tweak: bool = False) -> bytes:
    """``tweak`` moves the serial number by one."""
    profile_name, subject, subject_key, issuer_ref, serial = CERTIFICATES[case]
    issuer = None
    signer = subject_key
    if issuer_ref is not None:
        issuer_name, issuer_subject, signer = ISSUERS[issuer_ref]
        # IssuerInfo.not_after is the issuer's; the builder does not put it in the certificate.
        issuer = IssuerInfo(issuer_name, issuer_subject, ski(signer), NOW + dt.timedelta(days=3650))
    partition = {"crl_partition": PARTITIONED[case]} if case in PARTITIONED else {}
    builder = build_certificate(profile=profiles().get(profile_name), settings=SETTINGS, subject=subject,
                                public_key=key(subject_key).public_key(), serial=serial + tweak, now=NOW,
                                issuer=issuer, **partition)
    cert = sign(builder, signer)
    if case.endswith(".tbs"):
        return cert.tbs_certificate_bytes
    return cert.public_bytes(serialization.Encoding.DER)


# --- CRLs (ca/crl_der.py build_tbs + assemble) ---------------------------------------------------
# The header as ca/revocation.py publish makes it: thisUpdate now (seconds), nextUpdate from the CRL
# profile (ARL or end-entity CRL), unspecified reasons left out as the profile says (RFC 5280 5.3.1).
CRL_ENTRIES = [
    Entry(0x7E57_0101, dt.datetime(2026, 2, 1, 8, 0, tzinfo=UTC), "keyCompromise",
          invalidity_date=dt.datetime(2026, 1, 30, 0, 0, tzinfo=UTC)),
    Entry(0x7E57_0102, dt.datetime(2026, 2, 2, 8, 0, tzinfo=UTC), "unspecified"),
    Entry(0x7E57_0103, dt.datetime(2026, 2, 3, 8, 0, tzinfo=UTC), "superseded"),
    Entry(0x7E57_0104, dt.datetime(2026, 2, 4, 8, 0, tzinfo=UTC), "affiliationChanged"),
    Entry(0x7E57_0105, dt.datetime(2026, 2, 5, 8, 0, tzinfo=UTC), "certificateHold"),
    Entry(0x7E57_0106, dt.datetime(2026, 2, 6, 8, 0, tzinfo=UTC), "privilegeWithdrawn"),
]
ARL_ENTRIES = [Entry(0x2001, dt.datetime(2026, 2, 10, 12, 0, tzinfo=UTC), "cACompromise")]
# (entries, partition or None for the full CRL/ARL, is the root's ARL)
CRLS: dict[str, tuple[list[Entry], str | None, bool]] = {
    "crl-full": (CRL_ENTRIES, None, False),
    "crl-empty": ([], None, False),
    "crl-arl": (ARL_ENTRIES, None, True),
    "crl-partition": (CRL_ENTRIES[:3], PARTITION, False),  # RFC 5280 5.2.5: IDP critical, onlyContainsUserCerts
    "crl-partition-empty": ([], PARTITION, False),
}


def crl(case: str, tweak: bool = False) -> bytes:
    """``tweak`` moves the cRLNumber by one."""
    entries, partition, is_root = CRLS[case]
    subject, signer = (ROOT_SUBJECT, "root-rsa3072") if is_root else (ISSUING_SUBJECT, "issuing-rsa3072")
    profile = profiles().crl
    days = (profile.ca_next_update_days if is_root else profile.end_entity_next_update_days).value
    this_update = NOW.replace(microsecond=0)
    scope = FULL if partition is None else Scope(partition_url(SETTINGS.base_url, ISSUING_NAME, partition))
    mechanism = default_mechanism(key(signer).public_key())
    tbs = build_tbs(issuer_der=subject.public_bytes(), issuer_ski=ski(signer), crl_number=42 + tweak,
                    this_update=this_update, next_update=this_update + dt.timedelta(days=days), entries=iter(entries),
                    scope=scope, mechanism=mechanism, omit_unspecified=profile.reason_code.omit_unspecified)
    return assemble_crl(tbs, mechanism, sign_tbs(key(signer), mechanism, tbs))


# --- OCSP responses (ocsp/builder.py) -------------------------------------------------------------
NONCE = b"\x04\x10" + bytes(range(0x30, 0x40))  # extnValue contents: OCTET STRING of 16 octets (RFC 8954 2.1)
OCSP_CASES: dict[str, tuple[int, StatusInfo, bytes | None]] = {
    "ocsp-good": (0x7E57_0002, StatusInfo(CertStatus.GOOD), None),
    "ocsp-good-nonce": (0x7E57_0002, StatusInfo(CertStatus.GOOD), NONCE),
    "ocsp-revoked-keycompromise-nonce": (0x7E57_0101, StatusInfo(
        CertStatus.REVOKED, dt.datetime(2026, 2, 1, 8, 0, tzinfo=UTC), "keyCompromise"), NONCE),
    "ocsp-revoked-unspecified": (0x7E57_0102, StatusInfo(
        CertStatus.REVOKED, dt.datetime(2026, 2, 2, 8, 0, tzinfo=UTC), "unspecified"), None),
    "ocsp-unknown": (0x7E57_FFFF, StatusInfo(CertStatus.UNKNOWN), None),
}


def cert_id(serial: int) -> CertIdRequest:
    """A SHA-1 CertID (RFC 6960 4.1.1; RFC 5019 2.1.1) of the golden issuing CA."""
    spki = key("issuing-rsa3072").public_key().public_bytes(serialization.Encoding.DER,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    key_bits = akeys.PublicKeyInfo.load(spki)["public_key"].contents[1:]
    name_hash = hashlib.sha1(ISSUING_SUBJECT.public_bytes()).digest()
    key_hash = hashlib.sha1(key_bits).digest()
    der = aocsp.CertId({"hash_algorithm": {"algorithm": "sha1"}, "issuer_name_hash": name_hash,
                        "issuer_key_hash": key_hash, "serial_number": serial}).dump()
    return CertIdRequest("sha1", name_hash, key_hash, serial, der)


def ocsp_response(case: str, tweak: bool = False) -> bytes:
    """``tweak`` moves producedAt by one second."""
    serial, status, nonce = OCSP_CASES[case]
    signer = key("ee-rsa2048")
    responder = Responder(cert_der=golden("cert-ocsp"), mechanism=default_mechanism(signer.public_key()))
    produced = NOW.replace(microsecond=0)
    data = build_response_data(responder=responder, answers=[(cert_id(serial), status)],
                               produced_at=produced + dt.timedelta(seconds=tweak), this_update=produced,
                               next_update=produced + dt.timedelta(hours=12), nonce_value=nonce)
    assert responder.mechanism is Mechanism.RSA_PKCS1V15_SHA256
    signature = signer.sign(data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    return assemble(response_data_der=data, responder=responder, signature=signature)


# --- time-stamp tokens (signer/tsa/authority.py) ---------------------------------------------------
class SoftTsaKey:
    """A software RSA key behind the interface TsaUnit uses of an hsm.HsmKey (test input only)."""

    key_type = KeyType.RSA2048

    def __init__(self, private: rsa.RSAPrivateKey) -> None:
        self._private = private

    def sign(self, data: bytes, mechanism: Mechanism) -> bytes:
        assert mechanism is Mechanism.RSA_PKCS1V15_SHA256, mechanism
        return self._private.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def public_key_der(self) -> bytes:
        return self._private.public_key().public_bytes(serialization.Encoding.DER,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)


TSA_SERIAL = (1 << 127) | 0x0123_4567_89AB_CDEF_0011_2233_4455_6677


def tsa_unit() -> TsaUnit:
    return TsaUnit(cert_der=golden("cert-tsa"), chain_der=(golden("cert-issuing-ca"), golden("cert-root-ca")),
                   key=SoftTsaKey(key("ee-rsa2048")), policy_oid=TSA_POLICY, accuracy_ms=1500)  # type: ignore[arg-type]


def tsa_query(*, nonce: int | None = 0x5EED_0000_0000_0001, cert_req: bool = True, hash_name: str = "sha256") -> bytes:
    req: dict = {"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": hash_name},
        "hashed_message": hashlib.new(hash_name, b"golden document").digest()}, "cert_req": cert_req}
    if nonce is not None:
        req["nonce"] = nonce
    return tsp.TimeStampReq(req).dump()


def tsa(case: str, tweak: bool = False) -> bytes:
    """``tweak`` moves the token serial number by one."""
    unit, serial = tsa_unit(), TSA_SERIAL + tweak
    if case == "tsa-tstinfo":
        return build_tst_info(parse_query(tsa_query()), unit, NOW, serial)
    if case == "tsa-signed-attrs":
        tst_info = build_tst_info(parse_query(tsa_query()), unit, NOW, serial)
        return build_signed_attributes(unit, tst_info, "sha256").dump()
    if case == "tsa-token":
        return build_token(parse_query(tsa_query()), unit, NOW, serial).dump()
    query = {"tsa-response-granted": tsa_query(), "tsa-response-no-certs": tsa_query(nonce=None, cert_req=False),
             # RFC 3161 2.4.1: a weak hash is refused (badAlg).
             "tsa-response-rejected": tsa_query(hash_name="sha1")}[case]
    return build_response(query, unit, NOW, serial)


CASES: dict[str, Callable[..., bytes]] = {
    **{name: functools.partial(certificate, name) for name in CERTIFICATES},
    **{name: functools.partial(crl, name) for name in CRLS},
    **{name: functools.partial(ocsp_response, name) for name in OCSP_CASES},
    **{name: functools.partial(tsa, name) for name in ("tsa-tstinfo", "tsa-signed-attrs", "tsa-token",
                                                       "tsa-response-granted", "tsa-response-no-certs",
                                                       "tsa-response-rejected")},
}
# A rejection carries no time, serial or key: nothing in it can be moved by one step.
NO_TWEAK = {"tsa-response-rejected"}


def first_difference(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


@pytest.mark.parametrize("case", list(CASES))
def test_builder_output_matches_its_golden_der(case: str) -> None:
    got, want = CASES[case](), golden(case)
    if got != want:
        at = first_difference(got, want)
        pytest.fail(f"{case}: {len(got)} bytes built, golden has {len(want)}; first difference at byte {at} "
                    f"(built {got[at:at + 8].hex()} golden {want[at:at + 8].hex()}). If the change is intended, "
                    "run .venv/bin/python tests/golden/regenerate.py and review the diff.")


@pytest.mark.parametrize("case", [c for c in CASES if c not in NO_TWEAK])
def test_a_changed_input_changes_the_bytes(case: str) -> None:
    """The comparison can fail: one input moved by the smallest step gives other bytes."""
    assert CASES[case](tweak=True) != golden(case)


def test_the_goldens_verify_with_openssl(tmp_path: Path) -> None:
    """The goldens are what they claim, to a tool nobody here wrote: the chain (RFC 5280 6.1), both
    CRLs' signatures and a CRL check (6.3), each OCSP response (RFC 6960 3.2) and the TSA reply
    (RFC 3161 2.4.2), all at the golden time."""
    def pem(case: str) -> Path:
        path = tmp_path / f"{case}.pem"
        path.write_bytes(x509.load_der_x509_certificate(golden(case)).public_bytes(serialization.Encoding.PEM))
        return path

    def openssl(*args: object) -> str:
        done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, f"openssl {' '.join(map(str, args[:2]))}: {done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    at = int((NOW + dt.timedelta(hours=1)).timestamp())
    root, issuing = pem("cert-root-ca"), pem("cert-issuing-ca")
    leaves = [pem(c) for c in ("cert-issuing-ca-offline-root", "cert-person", "cert-eseal", "cert-ocsp", "cert-tsa")]
    assert openssl("verify", "-attime", at, "-CAfile", root, "-untrusted", issuing, *leaves).count(": OK") == 5
    crls = {}
    for case, issuer in (("crl-full", issuing), ("crl-empty", issuing), ("crl-arl", root),
                         ("crl-partition", issuing), ("crl-partition-empty", issuing)):
        crls[case] = tmp_path / f"{case}.crl"
        openssl("crl", "-inform", "DER", "-in", GOLDEN / f"{case}.der", "-out", crls[case])
        assert "verify OK" in openssl("crl", "-in", crls[case], "-CAfile", issuer, "-noout", "-verify")
    eseal = tmp_path / "cert-eseal.pem"
    openssl("verify", "-attime", at, "-crl_check_all", "-CRLfile", crls["crl-full"], "-CRLfile", crls["crl-arl"],
            "-CAfile", root, "-untrusted", issuing, eseal)
    # RFC 5280 6.3.3 (b)(2): the partition's IDP names the URL in the certificate's CRL DP.
    openssl("verify", "-attime", at, "-crl_check", "-CRLfile", crls["crl-partition"], "-CAfile", root,
            "-untrusted", issuing, pem("cert-person-partitioned"))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(root.read_bytes() + issuing.read_bytes())
    for case in OCSP_CASES:
        assert "Response verify OK" in openssl("ocsp", "-respin", GOLDEN / f"{case}.der", "-CAfile", chain,
                                               "-attime", at, "-resp_text")
    document = tmp_path / "document"
    document.write_bytes(b"golden document")
    assert "Verification: OK" in openssl("ts", "-verify", "-in", GOLDEN / "tsa-response-granted.der", "-data",
                                         document, "-CAfile", root, "-untrusted", issuing)
