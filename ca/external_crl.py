"""CRLs a CA here did not sign: the ARL of an offline root (`govca crl import`) and the CRL of an
external parent such as the national root (`govca ca refresh-parent`). Each is checked against
its issuer's certificate before it is stored, and stored only if it is newer than the one held.

The checks follow RFC 5280 6.3.3 (CRL processing) for what a relying party would check: the
issuer name (b)(1), the CRL signer's keyUsage cRLSign (f), the signature (g), a complete CRL
(no delta), thisUpdate not in the future and nextUpdate not passed (a)(1), and the cRLNumber
(5.2.3) that orders a CA's CRLs."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import ExternalDataError
from .records import CaRecord, CrlRecord
from .storage.models import CrlRow

CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_CRL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class CheckedCrl:
    der: bytes
    crl_number: int
    this_update: dt.datetime
    next_update: dt.datetime
    entries: int


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from DER or PEM bytes, or ExternalDataError naming what is wrong."""
    if len(data) > MAX_CRL_BYTES:
        raise ExternalDataError(f"the CRL is {len(data)} bytes, above the {MAX_CRL_BYTES} accepted")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise ExternalDataError(f"not a DER or PEM CRL ({str(exc).splitlines()[0][:120]})") from None


def check_crl(data: bytes, issuer: CaRecord, now: dt.datetime) -> CheckedCrl:
    """Verify ``data`` as a complete CRL of ``issuer`` (RFC 5280 6.3.3); ExternalDataError if not."""
    crl = load_crl(data)
    cert = issuer.certificate
    if crl.issuer != cert.subject:
        raise ExternalDataError(f"the CRL's issuer is {crl.issuer.rfc4514_string()!r}, not CA {issuer.name} "
                                f"({cert.subject.rfc4514_string()!r}) (RFC 5280 6.3.3 (b)(1))")
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.crl_sign:
            raise ExternalDataError(f"CA {issuer.name}'s certificate does not allow cRLSign (RFC 5280 4.2.1.3, "
                                    "6.3.3 (f))")
    except x509.ExtensionNotFound:
        pass  # a v1-style root without keyUsage; the signature check below still applies
    if not crl.is_signature_valid(cert.public_key()):
        raise ExternalDataError(f"the CRL's signature does not verify with CA {issuer.name}'s key "
                                "(RFC 5280 6.3.3 (g))")
    exts = crl.extensions
    try:
        exts.get_extension_for_oid(ExtensionOID.DELTA_CRL_INDICATOR)
        raise ExternalDataError("the CRL is a delta CRL; govca stores complete CRLs only (RFC 5280 5.2.4)")
    except x509.ExtensionNotFound:
        pass
    try:
        number = exts.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise ExternalDataError("the CRL has no cRLNumber, so it cannot be ordered (RFC 5280 5.2.3)") from None
    this_update, next_update = crl.last_update_utc, crl.next_update_utc
    if next_update is None:
        raise ExternalDataError("the CRL has no nextUpdate (RFC 5280 5.1.2.5: conforming CAs include it)")
    if this_update > now + CLOCK_SKEW:
        raise ExternalDataError(f"the CRL's thisUpdate {this_update:%Y-%m-%d %H:%M:%S}Z lies in the future")
    if next_update <= now:
        raise ExternalDataError(f"the CRL's nextUpdate {next_update:%Y-%m-%d %H:%M:%S}Z has passed: it is stale "
                                "(RFC 5280 6.3.3 (a)(1))")
    return CheckedCrl(crl.public_bytes(Encoding.DER), number, this_update, next_update, len(crl))


def store_crl(session: Session, issuer: CaRecord, checked: CheckedCrl) -> tuple[CrlRecord, bool]:
    """Store a checked CRL of ``issuer`` unless the one held is as new: (the newest CRL, stored now?).

    A lower cRLNumber than the one held is refused (a replay of an older CRL would bring back a
    certificate as unrevoked); the same number with different bytes is refused too."""
    held = session.execute(select(CrlRow).where(CrlRow.ca_id == issuer.id, CrlRow.partition.is_(None))  # full scope
                           .order_by(CrlRow.crl_number.desc()).limit(1)).scalar_one_or_none()
    if held is not None:
        if checked.crl_number < held.crl_number:
            raise ExternalDataError(f"the CRL's number {checked.crl_number} is lower than the {held.crl_number} "
                                    f"held for CA {issuer.name}: an older CRL is not stored (RFC 5280 5.2.3)")
        if checked.crl_number == held.crl_number:
            if bytes(held.der) != checked.der:
                raise ExternalDataError(f"CA {issuer.name} already has a different CRL numbered "
                                        f"{checked.crl_number} (RFC 5280 5.2.3: numbers are not reused)")
            return CrlRecord(issuer.name, held.crl_number, held.this_update, held.next_update, bytes(held.der)), False
    session.add(CrlRow(ca_id=issuer.id, crl_number=checked.crl_number, this_update=checked.this_update,
                       next_update=checked.next_update, der=checked.der))
    session.flush()
    return CrlRecord(issuer.name, checked.crl_number, checked.this_update, checked.next_update, checked.der), True
