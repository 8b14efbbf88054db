"""Key types and signature mechanisms as data, and the one pure function that selects how
the token is asked to sign (after pyHanko's ``select_pkcs11_signing_params``).

SoftHSM 2.6 has no combined ECDSA-with-hash mechanism, so every ECDSA signature hashes on
the host and signs the digest with CKM_ECDSA; the raw r||s is DER-encoded (RFC 3279 2.2.3).
"""
from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .errors import UnsupportedMechanismError


class KeyType(str, enum.Enum):
    """Key types the token generates. Values are the CLI spellings."""

    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"
    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("rsa")

    @property
    def bits(self) -> int:
        return {"rsa2048": 2048, "rsa3072": 3072, "rsa4096": 4096, "ec-p256": 256, "ec-p384": 384}[self.value]

    @property
    def curve_name(self) -> str:
        """The named curve (RFC 5480 2.1.1.1) of an EC key type."""
        return {"ec-p256": "secp256r1", "ec-p384": "secp384r1"}[self.value]

    @classmethod
    def parse(cls, text: str) -> "KeyType":
        try:
            return cls(text.lower())
        except ValueError:
            raise ValueError(f"unknown key type {text!r}; use one of {', '.join(k.value for k in cls)}") from None


class Mechanism(str, enum.Enum):
    """Signature mechanisms a key signs with: the only operation the hsm package offers."""

    RSA_PKCS1V15_SHA256 = "rsa-pkcs1v15-sha256"
    RSA_PKCS1V15_SHA384 = "rsa-pkcs1v15-sha384"
    RSA_PKCS1V15_SHA512 = "rsa-pkcs1v15-sha512"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    RSA_PSS_SHA384 = "rsa-pss-sha384"
    RSA_PSS_SHA512 = "rsa-pss-sha512"
    ECDSA_SHA256 = "ecdsa-sha256"
    ECDSA_SHA384 = "ecdsa-sha384"
    ECDSA_SHA512 = "ecdsa-sha512"

    @property
    def family(self) -> str:
        return self.value.split("-sha")[0]

    @property
    def hash_name(self) -> str:
        return "sha" + self.value.rsplit("-sha", 1)[1]

    @property
    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[self.hash_name]

    @property
    def cms_algorithm(self) -> str:
        """The signature algorithm's name in CMS (asn1crypto's SignedDigestAlgorithm): sha256_rsa,
        sha384_ecdsa, ... (RFC 5754 3.2, RFC 4055 5); rsassa_pss for PSS (RFC 4056)."""
        if self.family == "rsa-pss":
            return "rsassa_pss"
        return f"{self.hash_name}_{'ecdsa' if self.family == 'ecdsa' else 'rsa'}"

    def fits(self, key_type: KeyType) -> bool:
        return key_type.is_rsa == (self.family != "ecdsa")


# DigestInfo prefixes (RFC 8017 9.2 note 1) for signing a host-computed digest with CKM_RSA_PKCS.
DIGEST_INFO_PREFIX = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


@dataclass(frozen=True)
class TokenCall:
    """What to hand the token: which mechanism, its parameter, and how to prepare the input."""

    mechanism: Any
    mechanism_param: Any
    prepare: str  # "data" (token hashes), "digest" (host hashes), "digest_info" (host hashes + DigestInfo)
    der_encode_ecdsa: bool


@functools.lru_cache(maxsize=None)
def select_token_call(mechanism: Mechanism, prehashed: bool) -> TokenCall:
    """Pure: map a Mechanism to a PKCS#11 call. ``prehashed`` means the input is already the digest."""
    from pkcs11 import MGF
    from pkcs11 import Mechanism as M

    h = mechanism.hash_name
    if mechanism.family == "ecdsa":
        return TokenCall(M.ECDSA, None, "digest", True)
    if mechanism.family == "rsa-pss":
        pss = {"sha256": (M.SHA256, MGF.SHA256, 32), "sha384": (M.SHA384, MGF.SHA384, 48),
               "sha512": (M.SHA512, MGF.SHA512, 64)}[h]
        if prehashed:
            return TokenCall(M.RSA_PKCS_PSS, pss, "digest", False)
        combined = {"sha256": M.SHA256_RSA_PKCS_PSS, "sha384": M.SHA384_RSA_PKCS_PSS, "sha512": M.SHA512_RSA_PKCS_PSS}[h]
        return TokenCall(combined, pss, "data", False)
    if prehashed:
        return TokenCall(M.RSA_PKCS, None, "digest_info", False)
    combined = {"sha256": M.SHA256_RSA_PKCS, "sha384": M.SHA384_RSA_PKCS, "sha512": M.SHA512_RSA_PKCS}[h]
    return TokenCall(combined, None, "data", False)


def default_mechanism(key: Any) -> Mechanism:
    """The one rule for "which hash for this key" (docs/profile.md, common rules), for a
    ``KeyType`` or a public key (cryptography's RSA or EC public key, an ``HsmKey``'s ``public_key``):

    - RSA of any size: sha256WithRSAEncryption, PKCS #1 v1.5 (RFC 8017 8.2; RFC 4055 5);
    - EC with a curve of 384 bits or more: ecdsa-with-SHA384 (RFC 5758 3.2: the hash matches
      the curve's strength);
    - any other EC curve (P-256): ecdsa-with-SHA256.

    ``Mechanism.hash_name`` / ``hash_algorithm`` give the hash. Every signer uses this: CA
    certificates and CRLs (ca/builders.py), OCSP responses, PAdES seals and TSA tokens.
    """
    if isinstance(key, KeyType):
        is_rsa, ec_bits = key.is_rsa, 0 if key.is_rsa else key.bits
    elif isinstance(key, rsa.RSAPublicKey):
        is_rsa, ec_bits = True, 0
    elif isinstance(key, ec.EllipticCurvePublicKey):
        is_rsa, ec_bits = False, key.curve.key_size
    else:
        raise UnsupportedMechanismError(f"no signature mechanism for a {type(key).__name__}")
    if is_rsa:
        return Mechanism.RSA_PKCS1V15_SHA256
    return Mechanism.ECDSA_SHA384 if ec_bits >= 384 else Mechanism.ECDSA_SHA256
