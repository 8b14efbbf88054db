"""A DER writer for CRLs (RFC 5280 5.1): pure functions, no I/O.

``build_tbs`` makes the TBSCertList bytes from (issuer subject DER, issuer SKI, cRLNumber, now,
next update, entries, scope, signature algorithm); the HSM signs those bytes and ``assemble``
wraps TBS + AlgorithmIdentifier + BIT STRING. cryptography's CRL builder makes one Python
object per entry and costs ~0.9 ms per entry with its encoding; this writer appends a few
bytes per entry, so a 100,000-entry CRL is written in a fraction of a second.

Every encoding below names its clause; the output is checked against cryptography's builder
in tests/test_crl_partitions.py (and golden-tested by tests of the builders).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from hsm.mechanisms import Mechanism

# RFC 5280 5.3.1 CRLReason ::= ENUMERATED (value 7 is not used).
REASON_CODES = {
    "unspecified": 0, "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3, "superseded": 4,
    "cessationOfOperation": 5, "certificateHold": 6, "removeFromCRL": 8, "privilegeWithdrawn": 9,
    "aACompromise": 10,
}

# Object identifiers, DER-encoded (tag, length, value).
OID_AKI = bytes.fromhex("0603551d23")          # 2.5.29.35 authorityKeyIdentifier (RFC 5280 5.2.1)
OID_CRL_NUMBER = bytes.fromhex("0603551d14")   # 2.5.29.20 cRLNumber (5.2.3)
OID_IDP = bytes.fromhex("0603551d1c")          # 2.5.29.28 issuingDistributionPoint (5.2.5)
OID_REASON = bytes.fromhex("0603551d15")       # 2.5.29.21 reasonCode (5.3.1)
OID_INVALIDITY = bytes.fromhex("0603551d18")   # 2.5.29.24 invalidityDate (5.3.2)

# AlgorithmIdentifier of each signature mechanism (RFC 5758 3.2: ECDSA without parameters;
# RFC 4055 5: sha*WithRSAEncryption with NULL parameters).
ALGORITHM_IDENTIFIERS = {
    Mechanism.ECDSA_SHA256: bytes.fromhex("300a06082a8648ce3d040302"),
    Mechanism.ECDSA_SHA384: bytes.fromhex("300a06082a8648ce3d040303"),
    Mechanism.ECDSA_SHA512: bytes.fromhex("300a06082a8648ce3d040304"),
    Mechanism.RSA_PKCS1V15_SHA256: bytes.fromhex("300d06092a864886f70d01010b0500"),
    Mechanism.RSA_PKCS1V15_SHA384: bytes.fromhex("300d06092a864886f70d01010c0500"),
    Mechanism.RSA_PKCS1V15_SHA512: bytes.fromhex("300d06092a864886f70d01010d0500"),
}

_TRUE = b"\x01\x01\xff"
_UTC = dt.timezone.utc
_V2 = b"\x02\x01\x01"  # RFC 5280 5.1.2.1: version v2 (integer 1) when extensions are present


class Entry(NamedTuple):
    """One revokedCertificates entry (RFC 5280 5.1.2.6). A tuple: 100,000 of them are made per CRL."""

    serial: int
    revoked_at: dt.datetime
    reason: str
    invalidity_date: dt.datetime | None = None


@dataclass(frozen=True)
class Scope:
    """What a CRL covers. ``url`` None: the CA's full CRL or ARL (no issuingDistributionPoint);
    otherwise a partition: IDP (RFC 5280 5.2.5, critical) naming ``url`` with onlyContainsUserCerts."""

    url: str | None = None
    only_user_certs: bool = True


FULL = Scope()


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    """X.690 8.1: identifier, definite length (short form below 128, 8.1.3.4), contents."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag,)) + _len(n) + content


def integer(n: int) -> bytes:
    """X.690 8.3: the minimal two's-complement octets (n >= 0 here)."""
    return tlv(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def time(when: dt.datetime) -> bytes:
    """RFC 5280 5.1.2.4/5.1.2.5 (4.1.2.5.1/4.1.2.5.2): UTCTime through 2049, GeneralizedTime from
    2050; seconds always, no fractions, Zulu. (A naive datetime is taken as UTC.)"""
    w = when if when.tzinfo is None or when.tzinfo is _UTC else when.astimezone(_UTC)
    if w.year < 2050:
        return b"\x17\x0d%02d%02d%02d%02d%02d%02dZ" % (w.year % 100, w.month, w.day, w.hour, w.minute, w.second)
    return b"\x18\x0f%04d%02d%02d%02d%02d%02dZ" % (w.year, w.month, w.day, w.hour, w.minute, w.second)


def generalized_time(when: dt.datetime) -> bytes:
    """RFC 5280 5.3.2: invalidityDate is a GeneralizedTime (4.1.2.5.2 form) whatever the year."""
    w = when.astimezone(_UTC) if when.tzinfo else when
    return b"\x18\x0f%04d%02d%02d%02d%02d%02dZ" % (w.year, w.month, w.day, w.hour, w.minute, w.second)


def extension(oid: bytes, value: bytes, critical: bool = False) -> bytes:
    """RFC 5280 4.1: Extension ::= SEQUENCE {extnID, critical BOOLEAN DEFAULT FALSE, extnValue
    OCTET STRING}; a FALSE critical is omitted (X.690 11.5: DEFAULT values are not encoded)."""
    return tlv(0x30, oid + (_TRUE if critical else b"") + tlv(0x04, value))


def issuing_distribution_point(scope: Scope) -> bytes:
    """RFC 5280 5.2.5 IssuingDistributionPoint (IMPLICIT tags): distributionPoint [0] holding the
    CHOICE fullName [0] GeneralNames of one uniformResourceIdentifier [6]; onlyContainsUserCerts [1]."""
    assert scope.url is not None
    body = tlv(0xA0, tlv(0xA0, tlv(0x86, scope.url.encode("ascii"))))
    if scope.only_user_certs:
        body += b"\x81\x01\xff"
    return tlv(0x30, body)


# The reasonCode extension of each reason, encoded once (an ENUMERATED inside the extnValue).
_REASON_EXTENSIONS = {name: extension(OID_REASON, b"\x0a\x01" + bytes((code,))) for name, code in REASON_CODES.items()}
# crlEntryExtensions holding the reasonCode alone; _BARE_REASON omits unspecified's (then none at all).
_REASON_SEQUENCES = {name: tlv(0x30, ext) for name, ext in _REASON_EXTENSIONS.items()}
_BARE_REASON = {**_REASON_SEQUENCES, "unspecified": b""}


def entry_der(e: Entry, omit_unspecified: bool = True) -> bytes:
    """RFC 5280 5.1.2.6: userCertificate, revocationDate, crlEntryExtensions (reasonCode 5.3.1,
    absent for unspecified when the profile says so; invalidityDate 5.3.2), never critical.
    The hot loop of a large CRL: the extension list of each reason is encoded once."""
    serial, revoked_at, reason, invalidity = e
    if invalidity is None:
        exts = (_BARE_REASON if omit_unspecified else _REASON_SEQUENCES)[reason]
    else:
        inner = b"" if (reason == "unspecified" and omit_unspecified) else _REASON_EXTENSIONS[reason]
        exts = tlv(0x30, inner + extension(OID_INVALIDITY, generalized_time(invalidity)))
    octets = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    body = b"\x02" + _len(len(octets)) + octets + time(revoked_at) + exts
    return (b"\x30" + bytes((len(body),)) + body) if len(body) < 0x80 else tlv(0x30, body)


def build_tbs(*, issuer_der: bytes, issuer_ski: bytes, crl_number: int, this_update: dt.datetime,
              next_update: dt.datetime, entries: Iterable[Entry], scope: Scope, mechanism: Mechanism,
              omit_unspecified: bool = True, encoded: bytes = b"") -> bytes:
    """The TBSCertList (RFC 5280 5.1.2) as DER. ``entries`` may be a generator (rows streamed
    from the database): each is encoded once and joined. ``encoded``: entries already in DER
    (those of the scope's previous CRL, ``entries_of``), listed first."""
    revoked = bytearray(encoded)  # grown in place: one buffer, not a million small objects
    for e in entries:
        revoked += entry_der(e, omit_unspecified)
    exts = (extension(OID_AKI, tlv(0x30, tlv(0x80, issuer_ski)))             # 5.2.1, [0] keyIdentifier
            + extension(OID_CRL_NUMBER, integer(crl_number)))                 # 5.2.3
    if scope.url is not None:
        exts += extension(OID_IDP, issuing_distribution_point(scope), critical=True)  # 5.2.5: critical
    parts = [_V2 + ALGORITHM_IDENTIFIERS[mechanism] + issuer_der + time(this_update) + time(next_update)]
    if revoked:                                                               # 5.1.2.6: absent when empty
        parts += [b"\x30" + _len(len(revoked)), revoked]
    parts.append(tlv(0xA0, tlv(0x30, exts)))                                  # 5.1.2.7: [0] EXPLICIT
    return _sequence(parts)


def _sequence(parts: list) -> bytes:
    """A SEQUENCE of the concatenated ``parts``, copied once (a large CRL is tens of MB)."""
    return b"".join([b"\x30" + _len(sum(len(p) for p in parts)), *parts])


def assemble(tbs: bytes, mechanism: Mechanism, signature: bytes) -> bytes:
    """RFC 5280 5.1.1: CertificateList ::= SEQUENCE {tbsCertList, signatureAlgorithm (the same
    AlgorithmIdentifier as inside the TBS, 5.1.1.2), signatureValue BIT STRING}."""
    return _sequence([tbs, ALGORITHM_IDENTIFIERS[mechanism], tlv(0x03, b"\x00" + signature)])


def _element(buf: bytes, i: int) -> tuple[int, int, int]:
    """X.690 8.1 at offset ``i``: (tag, start of contents, end of contents)."""
    tag, first = buf[i], buf[i + 1]
    if first < 0x80:
        return tag, i + 2, i + 2 + first
    n = first & 0x7F
    length = int.from_bytes(buf[i + 2:i + 2 + n], "big")
    return tag, i + 2 + n, i + 2 + n + length


def entries_of(crl: bytes) -> tuple[bytes, int]:
    """The revokedCertificates entries of a v2 CRL as their DER, and how many there are: one walk
    over the entries' headers, nothing decoded (a revocation reads its scope's previous CRL this
    way, nothing else of them is needed)."""
    _, tbs_start, _ = _element(crl, 0)
    tag, i, end = _element(crl, tbs_start)
    for _ in range(5):                             # version, signature, issuer, thisUpdate, nextUpdate
        _, _, i = _element(crl, i)
    tag, start, stop = _element(crl, i) if i < end else (0, i, i)
    if tag != 0x30:
        return b"", 0
    if stop > len(crl):
        raise ValueError("the CRL ends inside its revokedCertificates (X.690 8.1)")
    count, j = 0, start
    while j < stop:
        first = crl[j + 1]
        if first < 0x80:
            j += 2 + first
        else:
            n = first & 0x7F
            j += 2 + n + int.from_bytes(crl[j + 2:j + 2 + n], "big")
        count += 1
    if j != stop:
        raise ValueError("the CRL's revokedCertificates do not end where their SEQUENCE does (X.690 8.1)")
    return crl[start:stop], count


def may_list(encoded: bytes, serial: int) -> bool:
    """Whether an entry of ``encoded`` may carry ``serial``: a byte search for its INTEGER followed
    by a revocationDate's Time tag (RFC 5280 5.1.2.6). A false positive only sends the caller to
    re-read the scope whole; a false negative cannot happen, since the writer encodes every serial
    the same way."""
    needle = integer(serial)
    return needle + b"\x17" in encoded or needle + b"\x18" in encoded

