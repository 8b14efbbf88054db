"""Officials who sign remotely (ขมธอ. 36-2566): one HSM key and one certificate each
(SRG_KM.11), authorised by their PIN and a TOTP second factor (RFC 6238).

The TOTP seed is stored encrypted with AES-256-GCM under an AES key held in the service token
(hsm/aead.py, sensitive, not extractable; the AAD names the official), so no file or row outside
the token opens it; the PIN only as an HMAC made in the HSM (signer/pins.py). Seeds encrypted
before under a key derived from ``secrets/server.key`` (:class:`SecretBox`) are read with it while
that file exists and re-encrypted under the HSM key on the official's first successful
authorisation, or by ``govca official upgrade-keys``. Nothing here signs: no administrator path
reaches an official's key (SRA_SKM.14).
"""
from __future__ import annotations

import datetime as dt
import enum
import hmac
import logging
from dataclasses import dataclass
from typing import Any, Callable

import pyotp
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .seeds import HSM_SEED, TOTP_KEY_LABEL, TOTP_PURPOSE, SecretBox, TotpSeeds  # noqa: F401 - re-exported
from ..pins import PinVault
from ..errors import ConflictError, NotFoundError
from ..registry import SignerRepository, UnitOfWork, split_chain
from ..storage import AgencyRow, SignerBase, UtcDateTime

TOTP_ISSUER = "govca"
log = logging.getLogger("govca.officials")


class OfficialStatus(str, enum.Enum):
    REGISTERED = "registered"  # added, no key yet
    ACTIVE = "active"          # key, certificate and TOTP enrolled
    SUSPENDED = "suspended"    # may not authorise signatures until resumed
    REVOKED = "revoked"        # certificate revoked; final (a new enrolment is a new official)


class OfficialRow(SignerBase):
    __tablename__ = "officials"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    given_name_th: Mapped[str] = mapped_column(Text)
    surname_th: Mapped[str] = mapped_column(Text)
    given_name_en: Mapped[str] = mapped_column(Text)
    surname_en: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    id_number: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    ca_name: Mapped[str | None] = mapped_column(String(64))
    cert_serial: Mapped[str | None] = mapped_column(String(40))
    key_uri: Mapped[str | None] = mapped_column(Text)
    cert_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    chain_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    pin_hash: Mapped[str | None] = mapped_column(Text)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_totp_step: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class Official:
    id: int
    agency_code: str
    given_name_th: str
    surname_th: str
    given_name_en: str
    surname_en: str
    title: str
    id_number: str | None
    status: OfficialStatus
    ca_name: str | None
    cert_serial: str | None
    key_uri: str | None
    cert_der: bytes | None
    chain_der: tuple[bytes, ...]

    @property
    def name_th(self) -> str:
        return f"{self.given_name_th} {self.surname_th}"

    @property
    def name_en(self) -> str:
        return f"{self.given_name_en} {self.surname_en}"

    def subject(self, agency_name_en: str) -> tuple[tuple[str, str], ...]:
        """EN 319 412-2 4.2.4 natural person: C, givenName, surname, CN, serialNumber (an opaque
        internal id rather than the citizen ID: PDPA), and the agency and title."""
        return (("C", "TH"), ("GN", self.given_name_th), ("SN", self.surname_th), ("CN", self.name_th[:64]),
                ("serialNumber", f"GOVCA-OFFICIAL-{self.id:06d}"), ("O", agency_name_en[:64]),
                ("title", self.title[:64]))


def _official(row: OfficialRow, code: str) -> Official:
    return Official(row.id, code, row.given_name_th, row.surname_th, row.given_name_en, row.surname_en, row.title,
                    row.id_number, OfficialStatus(row.status), row.ca_name, row.cert_serial, row.key_uri,
                    row.cert_der, split_chain(row.chain_der) if row.chain_der else ())


class OfficialRepository:
    def __init__(self, write: UnitOfWork, read: UnitOfWork, seeds: TotpSeeds, pins: PinVault) -> None:
        self.write, self.read, self.seeds, self.pins = write, read, seeds, pins

    def add(self, agency_code: str, given_name_th: str, surname_th: str, given_name_en: str, surname_en: str,
            title: str, id_number: str | None, now: dt.datetime) -> Official:
        agencies = SignerRepository(self.write, self.read)
        agency = agencies.get_agency(agency_code)
        with self.write() as s:
            row = OfficialRow(agency_id=agency.id, given_name_th=given_name_th, surname_th=surname_th,
                              given_name_en=given_name_en, surname_en=surname_en, title=title, id_number=id_number,
                              status=OfficialStatus.REGISTERED.value, failed_attempts=0, created_at=now)
            s.add(row)
            s.flush()
            return _official(row, agency_code)

    def get(self, official_id: int) -> Official:
        with self.read() as s:
            found = s.execute(select(OfficialRow, AgencyRow.code).join(AgencyRow, AgencyRow.id == OfficialRow.agency_id)
                              .where(OfficialRow.id == official_id)).first()
            if found is None:
                raise NotFoundError(f"no official {official_id}")
            return _official(*found)

    def list(self, agency_code: str | None = None) -> list[Official]:
        query = select(OfficialRow, AgencyRow.code).join(AgencyRow, AgencyRow.id == OfficialRow.agency_id)
        if agency_code is not None:
            query = query.where(AgencyRow.code == agency_code)
        with self.read() as s:
            return [_official(*r) for r in s.execute(query.order_by(OfficialRow.id)).all()]

    def enrol(self, official_id: int, ca_name: str, cert_serial: str, key_uri: str, cert_der: bytes,
              chain_der: tuple[bytes, ...], pin: str) -> str:
        """Record the key and certificate, set the PIN, and return a fresh TOTP seed (base32)."""
        seed = pyotp.random_base32(32)
        pin_record = self.pins.record(official_id, pin)
        sealed_seed = self.seeds.seal(official_id, seed)
        with self.write() as s:
            row = s.get(OfficialRow, official_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no official {official_id}")
            if row.key_uri is not None:
                raise ConflictError(f"official {official_id} already has a key and certificate: one key per "
                                    "official (ขมธอ. 36-2566 SRG_KM.11)")
            row.ca_name, row.cert_serial, row.key_uri, row.cert_der = ca_name, cert_serial, key_uri, cert_der
            row.chain_der = b"".join(chain_der)
            row.totp_secret_enc = sealed_seed
            row.pin_hash = pin_record
            row.status = OfficialStatus.ACTIVE.value
            row.failed_attempts, row.locked_until = 0, None
        return seed

    def set_status(self, official_id: int, status: OfficialStatus) -> Official:
        with self.write() as s:
            row = s.get(OfficialRow, official_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no official {official_id}")
            current = OfficialStatus(row.status)
            if current is status:
                raise ConflictError(f"official {official_id} is already {status.value}")
            allowed = {OfficialStatus.SUSPENDED: {OfficialStatus.ACTIVE},
                       OfficialStatus.ACTIVE: {OfficialStatus.SUSPENDED},
                       OfficialStatus.REVOKED: {OfficialStatus.ACTIVE, OfficialStatus.SUSPENDED}}[status]
            if current not in allowed:
                raise ConflictError(f"official {official_id} is {current.value}; it cannot become {status.value}")
            row.status = status.value
        return self.get(official_id)

    def lock_states(self, now: dt.datetime) -> dict[int, LockState]:
        """Every official's lock state (read only)."""
        with self.read() as s:
            return {row.id: _lock_state(row, now) for row in s.scalars(select(OfficialRow)).all()}

    def unlock(self, official_id: int, now: dt.datetime) -> LockState:
        """Lift the lock (clears ``locked_until`` and ``failed_attempts``; the PIN record and TOTP seed
        are left as they are). Returns the state before. Refused (ConflictError) for a revoked
        official and for one that is not locked; NotFoundError when there is no such official."""
        with self.write() as s:
            row = s.get(OfficialRow, official_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no official {official_id}")
            if OfficialStatus(row.status) is OfficialStatus.REVOKED:
                raise ConflictError(f"official {official_id} is revoked: there is no credential to unlock")
            before = _lock_state(row, now)
            if not before.locked:
                raise ConflictError(f"official {official_id} is not locked"
                                    + (f" ({before.failed_attempts} failed attempt(s) so far)"
                                       if before.failed_attempts else ""))
            row.locked_until, row.failed_attempts = None, 0
            return before

    def check_factors(self, official_id: int, pin: str, otp: str, now: dt.datetime,
                      session: Any = None) -> FactorCheck:
        """The lock, the PIN (HMAC in the HSM) and the TOTP (RFC 6238, one step of clock drift
        either way). Writes nothing: the code is consumed by :meth:`consume_step`, in the
        transaction that issues the SAD, so a code is accepted once (RFC 6238 5.2).

        With ``session`` (the caller's write transaction) the row is read FOR UPDATE, so the lock,
        this check and the caller's failure count are one serialised step (on SQLite the write
        unit of work is serialised already): no more than ``lock_after`` wrong factors are ever
        judged, however many requests arrive at once. Without it, one read (tests, tools)."""
        if session is not None:
            return self._check(session.get(OfficialRow, official_id, with_for_update=True), official_id, pin, otp,
                               now)
        with self.read() as s:
            return self._check(s.get(OfficialRow, official_id), official_id, pin, otp, now)

    def _check(self, row: OfficialRow | None, official_id: int, pin: str, otp: str, now: dt.datetime) -> FactorCheck:
        if row is None or row.totp_secret_enc is None or row.pin_hash is None:
            return FactorCheck(False, False, None)
        if row.locked_until is not None and row.locked_until > now:
            return FactorCheck(True, False, None)
        seed = self.seeds.open(official_id, row.totp_secret_enc)
        pin_ok = self.pins.verify(official_id, pin, row.pin_hash)
        if seed is None:  # a seed that does not open authorises nothing: a wrong factor
            return FactorCheck(False, pin_ok, None)
        totp = pyotp.TOTP(seed)
        current = totp.timecode(now)
        step = next((c for c in (current - 1, current, current + 1)
                     if hmac.compare_digest(totp.generate_otp(c), otp.strip())), None)
        fresh = step if step is not None and step > row.last_totp_step else None
        # A right code of a step already taken (RFC 6238 5.2: accepted once) is told apart, so
        # that a client that sent it again is not counted towards the lock when its PIN was right.
        return FactorCheck(False, pin_ok, fresh, reused=step is not None and fresh is None)

    def upgrade_seed(self, session: Any, official_id: int) -> bool:
        """In the caller's write transaction (after a successful authorisation): re-encrypt a seed
        of the earlier format under the HSM key, in a savepoint. A database role that may not
        write the seed (PostgreSQL web role: officials' lockout columns only) leaves it as it is,
        and the authorisation stands; `govca official upgrade-keys` does it. True when re-encrypted."""
        from sqlalchemy.exc import DBAPIError

        row = session.get(OfficialRow, official_id, with_for_update=True)
        if row is None or row.totp_secret_enc is None or self.seeds.is_hsm(row.totp_secret_enc):
            return False
        seed = self.seeds.open(official_id, row.totp_secret_enc)
        if seed is None:
            return False
        sealed = self.seeds.seal(official_id, seed)
        try:
            with session.begin_nested():
                session.execute(update(OfficialRow).where(OfficialRow.id == official_id)
                                .values(totp_secret_enc=sealed))
        except DBAPIError as exc:
            session.expire(row)
            log.warning("official %s: TOTP seed not re-encrypted under the HSM key (%s); run `govca official "
                        "upgrade-keys`", official_id, type(exc.orig).__name__)
            return False
        return True

    def upgrade_seeds(self) -> tuple[int, int]:
        """Every seed of the earlier format re-encrypted under the HSM key, each row locked while
        it is: (re-encrypted, left because it does not open with secrets/server.key)."""
        with self.read() as s:
            ids = list(s.scalars(select(OfficialRow.id).where(OfficialRow.totp_secret_enc.is_not(None))))
        done = left = 0
        for official_id in ids:
            with self.write() as s:
                row = s.get(OfficialRow, official_id, with_for_update=True)
                if row is None or row.totp_secret_enc is None or self.seeds.is_hsm(row.totp_secret_enc):
                    continue
                if self.upgrade_seed(s, official_id):
                    done += 1
                else:
                    left += 1
        return done, left

    @staticmethod
    def count_failure(session: Any, official_id: int, now: dt.datetime, lock_after: int,
                      lock_minutes: int) -> int:
        """In the caller's write transaction (the row already read FOR UPDATE by
        :meth:`check_factors`): one more wrong factor; at ``lock_after`` the credential locks for
        ``lock_minutes`` (EN 419 241-1 / ขมธอ. 36-2566) and the count restarts. Returns the count."""
        row = session.get(OfficialRow, official_id, with_for_update=True)
        row.failed_attempts = (row.failed_attempts or 0) + 1
        if row.failed_attempts >= lock_after:
            row.locked_until = now + dt.timedelta(minutes=lock_minutes)
            row.failed_attempts = 0
        return row.failed_attempts

    @staticmethod
    def consume_step(session: Any, official_id: int, step: int, now: dt.datetime) -> bool:
        """In the caller's write transaction: take TOTP ``step`` for this official and clear the
        failure count. False when another authorisation took that step (or a later one) first, or
        the credential was locked meanwhile: only one request can win a code."""
        won = session.execute(
            update(OfficialRow)
            .where(OfficialRow.id == official_id, OfficialRow.last_totp_step < step,
                   or_(OfficialRow.locked_until.is_(None), OfficialRow.locked_until <= now))
            .values(last_totp_step=step, failed_attempts=0, locked_until=None)).rowcount
        return won == 1


@dataclass(frozen=True)
class LockState:
    """An official's PIN/OTP lock as stored: locked while ``locked_until`` is in the future."""
    locked_until: dt.datetime | None
    failed_attempts: int
    locked: bool


def _lock_state(row: OfficialRow, now: dt.datetime) -> LockState:
    until = row.locked_until
    return LockState(until, row.failed_attempts or 0, until is not None and until > now)


def english_name_lookup(read: UnitOfWork) -> Callable[[str], str | None]:
    """The English name behind a signing certificate, for the verification page's English view:
    an official's (their certificate names them in Thai only) or, for a seal, its agency's. Keyed
    by the certificate's serial in upper-case hex with an even number of digits."""
    from ..storage import SealRow

    def lookup(serial_hex: str) -> str | None:
        with read() as s:
            person = s.execute(select(OfficialRow.given_name_en, OfficialRow.surname_en)
                               .where(OfficialRow.cert_serial == serial_hex)).first()
            if person is not None:
                return f"{person[0]} {person[1]}"
            return s.execute(select(AgencyRow.name_en).join(SealRow, SealRow.agency_id == AgencyRow.id)
                             .where(SealRow.serial_hex == serial_hex)).scalar_one_or_none()
    return lookup


@dataclass(frozen=True)
class FactorCheck:
    locked: bool                      # locked: nothing else was checked
    pin_ok: bool
    step: int | None                  # the TOTP step the code matched, if right and not used before
    reused: bool = False              # the code was right but its step already used (RFC 6238 5.2)


def otpauth_uri(seed: str, official: Official) -> str:
    """The otpauth:// URI an authenticator app enrols from (shown once, at enrolment)."""
    return pyotp.TOTP(seed).provisioning_uri(name=f"{official.agency_code}-{official.id:06d}", issuer_name=TOTP_ISSUER)


class CscSadRow(SignerBase):
    """A Signature Activation Data (SAD) issued by credentials/authorize, stored only as its
    SHA-256; bound to the hashes it was issued for (SCAL2) and to a signature budget. ``mac`` (hex)
    is the HSM's HMAC over the digest, credential, ``hashes``, ``budget`` and ``expires_at``
    (signer/remote/csc.py ``sad_message``): without it the row is nothing. ``remaining`` and
    ``consumed`` (hashes already signed) are the database's bookkeeping, never authority."""

    __tablename__ = "csc_sads"
    sad_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(64))
    hashes: Mapped[str] = mapped_column(Text)  # JSON list of hex digests as authorised; empty for SCAL1
    remaining: Mapped[int] = mapped_column(Integer)
    budget: Mapped[int | None] = mapped_column(Integer)         # numSignatures as authorised
    consumed: Mapped[str | None] = mapped_column(Text)          # JSON list of hex digests signed
    mac: Mapped[str | None] = mapped_column(String(64))         # HMAC-SHA256 in the HSM, hex
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
