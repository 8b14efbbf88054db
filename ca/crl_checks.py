"""Checks of a CRL's entry list whose cost does not grow with pkilint's per-entry cost.

Every published CRL gets:
  (a) ``EntryChecks``: our own clause-cited checks of the WHOLE entry list, linear and cheap,
      applied while the rows stream from the database;
  (b) pkilint on a copy with the same header and extensions but only a bounded sample of the
      entries (the first and last ``SAMPLE`` and the first of each shape: reasonCode, with or
      without invalidityDate), signed with a throwaway key. pkilint decodes every entry into a
      pyasn1 tree wrapped in its own document nodes (~45% of its time) and matches each of its
      validators against every node (~50%): ~0.35 ms per entry, 2,000 entries 0.7 s; the
      sample keeps its header, extension and entry-encoding checks at a constant cost.
"""
from __future__ import annotations

import collections
import datetime as dt
from typing import Iterable, Iterator

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding

from hsm.mechanisms import Mechanism

from .crl_der import REASON_CODES, Entry
from .errors import CaError

SAMPLE = 4  # the first and last SAMPLE entries, plus the first of each shape (reason, invalidityDate or not)
MAX_SERIAL = 1 << (20 * 8 - 1)  # RFC 5280 4.1.2.2: at most 20 octets, positive


class CrlCheckError(CaError):
    """An entry list govca refuses to publish (the message names the clause and the serial)."""


# RFC 5280 5.3.1: certificateHold is refused by govca (it never un-revokes); removeFromCRL
# appears only in delta CRLs, which govca does not issue.
ALLOWED_REASONS = frozenset(REASON_CODES) - {"certificateHold", "removeFromCRL"}


class EntryChecks:
    """Check each entry as it streams past, keeping the first and last SAMPLE for the lint copy.

    ``scope`` is the partition the CRL covers (None: the full CRL, where every partition is in
    scope); rows carry the partition their certificate names, so an entry of another partition
    is refused (RFC 5280 5.2.5: a CRL with an issuingDistributionPoint lists only its scope).
    """

    def __init__(self, this_update: dt.datetime, scope: str | None) -> None:
        # this_update and the entries' times are compared as given: both aware, or both naive UTC.
        self.this_update = this_update
        self.scope = scope
        self.seen: set[int] = set()
        self.head: list[Entry] = []
        self.tail: collections.deque[Entry] = collections.deque(maxlen=SAMPLE)
        self.shapes: dict[tuple[str, bool], Entry] = {}
        self.count = 0

    def stream(self, rows: Iterable[tuple[Entry, str | None]]) -> Iterator[Entry]:
        this_update, scope, seen = self.this_update, self.scope, self.seen
        head, tail, allowed, shapes = self.head, self.tail, ALLOWED_REASONS, self.shapes
        for entry, partition in rows:
            serial, revoked_at, reason, invalidity = entry
            if not 0 < serial < MAX_SERIAL:
                raise CrlCheckError(f"serial {serial:x} is not a positive integer of at most 20 octets "
                                    "(RFC 5280 4.1.2.2, 5.1.2.6)")
            if serial in seen:
                raise CrlCheckError(f"serial {serial:x} is listed twice (RFC 5280 5.1.2.6: one entry per "
                                    "certificate; 4.1.2.2: serials are unique per issuer)")
            seen.add(serial)
            if revoked_at > this_update:
                raise CrlCheckError(f"serial {serial:x}: revocationDate after thisUpdate (RFC 5280 5.1.2.6: the "
                                    "date the revocation occurred, so before the CRL was issued)")
            if reason not in allowed:
                raise CrlCheckError(f"serial {serial:x}: reasonCode {reason!r} is not one govca publishes "
                                    "(RFC 5280 5.3.1: removeFromCRL only in delta CRLs; certificateHold refused)")
            if invalidity is not None and invalidity > revoked_at:
                # RFC 5280 5.3.2: the date the key is known or suspected to be compromised, which
                # "may be earlier than the revocation date"; govca refuses a future one at revoke
                # time, so a later one means the row was altered.
                raise CrlCheckError(f"serial {serial:x}: invalidityDate after revocationDate (RFC 5280 5.3.2)")
            if scope is not None and partition != scope:
                raise CrlCheckError(f"serial {serial:x} belongs to partition {partition!r}, not {scope!r} "
                                    "(RFC 5280 5.2.5: a partition lists only the certificates of its scope)")
            if len(head) < SAMPLE:
                head.append(entry)
            else:
                tail.append(entry)
            shape = (reason, invalidity is None)
            if shape not in shapes:
                shapes[shape] = entry
            yield entry
        self.count = len(seen)

    def sample(self) -> list[Entry]:
        """The first and last SAMPLE entries and the first of each shape not among them: every
        encoding the list holds, in a copy whose size does not grow with the list."""
        edges = self.head + list(self.tail)
        seen = {e.serial for e in edges}
        return self.head + [e for e in self.shapes.values() if e.serial not in seen] + list(self.tail)


def sign_tbs(key, mechanism: Mechanism, tbs: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """Sign ``tbs`` with a cryptography private key (the HSM adapter or a throwaway key)."""
    digest = mechanism.hash_algorithm
    if mechanism.family == "ecdsa":
        return key.sign(tbs, ec.ECDSA(digest))
    if mechanism.family == "rsa-pkcs1v15":
        return key.sign(tbs, padding.PKCS1v15(), digest)
    raise CaError(f"CRLs are not signed with {mechanism.value}")


def verify_tbs(public_key, mechanism: Mechanism, tbs: bytes, signature: bytes) -> bool:  # type: ignore[no-untyped-def]
    """Whether ``signature`` over ``tbs`` verifies with the issuer's key. The CRL is TBS +
    AlgorithmIdentifier + this signature by construction (crl_der.assemble), so this is the
    check cryptography's ``is_signature_valid`` makes, without re-reading every entry."""
    digest = mechanism.hash_algorithm
    try:
        if mechanism.family == "ecdsa":
            public_key.verify(signature, tbs, ec.ECDSA(digest))
        else:
            public_key.verify(signature, tbs, padding.PKCS1v15(), digest)
    except InvalidSignature:
        return False
    return True
