"""Fixed software keys for the golden-DER tests, derived at run time from their names.

No private key is committed (keys belong in the HSM, or are made by tests at run time), yet the
golden files need the same keys on every machine: an EC key is the scalar SHA-512(seed) reduced
into [1, n-1] (FIPS 186-4 B.4.1's method, with the hash standing in for the random bits), an RSA
key the two primes found by a seeded search (random.Random of the seed's SHA-256, a sieve of small
primes, then Miller-Rabin with 48 seeded bases). Test input only; they sign nothing outside the
tests."""
from __future__ import annotations

import functools
import hashlib
import math
import random

from cryptography.hazmat.primitives.asymmetric import ec, rsa

# Curve orders (SEC 2 2.4.2 and 2.5.1).
_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
}
_SMALL = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p ** 0.5) + 1))]
E = 65537


def _seed(name: str, part: str) -> int:
    return int.from_bytes(hashlib.sha256(f"govca golden test key|{name}|{part}".encode()).digest(), "big")


def _probable_prime(n: int, rng: random.Random) -> bool:
    if any(n % p == 0 for p in _SMALL):
        return n in _SMALL
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(48):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1  # top two bits set: the product has 2*bits bits
        if math.gcd(n - 1, E) == 1 and _probable_prime(n, rng):
            return n


@functools.lru_cache(maxsize=None)
def rsa_key(name: str, bits: int) -> rsa.RSAPrivateKey:
    rng = random.Random(_seed(name, "rsa"))
    p = _prime(bits // 2, rng)
    q = _prime(bits // 2, rng)
    while q == p:
        q = _prime(bits // 2, rng)
    d = pow(E, -1, (p - 1) * (q - 1) // math.gcd(p - 1, q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
                                    rsa.RSAPublicNumbers(E, p * q))
    return numbers.private_key()


@functools.lru_cache(maxsize=None)
def ec_key(name: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    order = _ORDERS[curve.name]
    scalar = int.from_bytes(hashlib.sha512(f"govca golden test key|{name}|ec".encode()).digest(), "big")
    return ec.derive_private_key(scalar % (order - 1) + 1, curve)


def golden_key(name: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """The key the golden tests call ``name``: its type and size are in the name."""
    kind = name.rsplit("-", 1)[1]
    if kind.startswith("rsa"):
        return rsa_key(name, int(kind[3:]))
    return ec_key(name, {"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}[kind])
