"""Adapter: a `cryptography` private key whose sign() is done by the HSM.

cryptography's CertificateBuilder, CertificateRevocationListBuilder and OCSPResponseBuilder
accept any subclass of its private-key interfaces, so they sign with token keys through this
class; nothing else of the key is available (no private numbers, no export).
"""
from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as paddings
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from .errors import UnsupportedMechanismError
from .mechanisms import Mechanism
from .token import HsmKey

_HASHES = {"sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}


def _mechanism(prefix: str, algorithm: Any) -> tuple[Mechanism, bool]:
    prehashed = isinstance(algorithm, Prehashed)
    hash_alg = algorithm._algorithm if prehashed else algorithm
    if not isinstance(hash_alg, hashes.HashAlgorithm) or hash_alg.name not in _HASHES:
        raise UnsupportedMechanismError(f"hash {getattr(hash_alg, 'name', hash_alg)!r} is not supported")
    return Mechanism(f"{prefix}-{hash_alg.name}"), prehashed


class _NoExport:
    def private_numbers(self) -> Any:
        raise TypeError("an HSM key has no exportable private numbers")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise TypeError("an HSM key cannot be serialised")

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: Any) -> Any:
        return self


class HsmRsaPrivateKey(_NoExport, rsa.RSAPrivateKey):
    def __init__(self, key: HsmKey) -> None:
        self._key = key

    def decrypt(self, ciphertext: bytes, padding: Any) -> bytes:
        raise TypeError("govca keys are for signing only")

    @property
    def key_size(self) -> int:
        return self._key.public_key.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key

    def sign(self, data: bytes, padding: Any, algorithm: Any) -> bytes:
        # ``padding`` by cryptography's own name: callers (signxml) pass it by keyword.
        if isinstance(padding, paddings.PKCS1v15):
            mech, pre = _mechanism("rsa-pkcs1v15", algorithm)
        elif isinstance(padding, paddings.PSS):
            mech, pre = _mechanism("rsa-pss", algorithm)
        else:
            raise UnsupportedMechanismError(f"padding {padding.name} is not supported")
        return self._key.sign(data, mech, prehashed=pre)


class HsmEcPrivateKey(_NoExport, ec.EllipticCurvePrivateKey):
    def __init__(self, key: HsmKey) -> None:
        self._key = key

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        raise TypeError("govca keys are for signing only")

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._key.public_key.curve

    @property
    def key_size(self) -> int:
        return self._key.public_key.curve.key_size

    def sign(self, data: bytes, signature_algorithm: Any) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise UnsupportedMechanismError("EC keys sign with ECDSA only")
        mech, pre = _mechanism("ecdsa", signature_algorithm.algorithm)
        return self._key.sign(data, mech, prehashed=pre)


def as_cryptography_key(key: HsmKey) -> HsmRsaPrivateKey | HsmEcPrivateKey:
    """Wrap an HSM key so cryptography's builders can sign with it."""
    return HsmRsaPrivateKey(key) if key.key_type.is_rsa else HsmEcPrivateKey(key)
