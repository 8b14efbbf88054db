"""Repositories over one session: they take and return domain objects."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from ..crl_der import Entry
from ..errors import CaExistsError, UnknownCaError, UnknownCertificateError
from ..records import CaRecord, CaState, CertificateRecord, CertStatus, CrlRecord, PendingCaRecord, SerialState
from .models import CaRow, CertificateRow, CrlRow, PendingCaRow, SerialRow


def _insert_named(session: Session, row: object, name: str) -> None:
    """Insert a CA or pending CA row; a taken name (unique index) is CaExistsError."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise CaExistsError(f"a CA named {name!r} already exists") from exc


class CaRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def _row(self, name: str, lock: bool = False) -> CaRow:
        q = select(CaRow).where(CaRow.name == name)
        if lock:
            q = q.with_for_update()
        row = self.s.execute(q).scalar_one_or_none()
        if row is None:
            raise UnknownCaError(f"unknown CA {name!r}")
        return row

    def _record(self, row: CaRow) -> CaRecord:
        parent = self.s.get(CaRow, row.parent_id).name if row.parent_id else None
        return CaRecord(id=row.id, name=row.name, parent_name=parent, profile=row.profile, key_uri=row.key_uri,
                        key_type=row.key_type, subject=row.subject, serial_hex=row.serial_hex,
                        certificate_der=row.certificate, not_before=row.not_before, not_after=row.not_after,
                        crl_number=row.crl_number, state=CaState(row.state))

    def get(self, name: str) -> CaRecord:
        return self._record(self._row(name))

    def exists(self, name: str) -> bool:
        """Whether the name is taken, by a CA or by a pending one (the names share URLs and labels)."""
        return (self.s.execute(select(CaRow.id).where(CaRow.name == name)).first() is not None
                or self.s.execute(select(PendingCaRow.id).where(PendingCaRow.name == name)).first() is not None)

    def by_certificate(self, der: bytes) -> CaRecord | None:
        """The CA whose certificate is exactly ``der`` (an external parent imported before)."""
        for row in self.s.execute(select(CaRow).where(CaRow.certificate == der)).scalars():
            return self._record(row)
        return None

    def set_state(self, name: str, state: CaState) -> CaRecord:
        if state in (CaState.PENDING, CaState.EXPIRED):
            raise ValueError(f"{state.value} is not a stored CA state")
        row = self._row(name, lock=True)
        row.state = state.value
        self.s.flush()
        return self._record(row)

    def list(self) -> list[CaRecord]:
        return [self._record(r) for r in self.s.execute(select(CaRow).order_by(CaRow.id)).scalars()]

    def add(self, *, name: str, parent: str | None, profile: str, key_uri: str, key_type: str, subject: str,
            serial_hex: str, der: bytes, not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime,
            state: CaState = CaState.ACTIVE) -> CaRecord:
        parent_id = self._row(parent).id if parent else None
        row = CaRow(name=name, parent_id=parent_id, profile=profile, key_uri=key_uri, key_type=key_type,
                    subject=subject, serial_hex=serial_hex, certificate=der, not_before=not_before,
                    not_after=not_after, crl_number=0, created_at=now, state=state.value)
        _insert_named(self.s, row, name)
        return self._record(row)

    def next_crl_number(self, name: str) -> int:
        """Increment and return the CA's cRLNumber under a row lock (RFC 5280 5.2.3: monotonic)."""
        row = self._row(name, lock=True)
        row.crl_number += 1
        self.s.flush()
        return row.crl_number


class PendingCaRepository:
    """CAs waiting for their certificate (``govca ca create-issuing --external``, ``ca rollover``)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    @staticmethod
    def _record(row: PendingCaRow) -> PendingCaRecord:
        return PendingCaRecord(name=row.name, profile=row.profile, key_uri=row.key_uri, key_type=row.key_type,
                               subject=row.subject, request_der=row.request, successor_of=row.successor_of,
                               created_at=row.created_at)

    def add(self, *, name: str, profile: str, key_uri: str, key_type: str, subject: str, request_der: bytes,
            now: dt.datetime, successor_of: str | None = None) -> PendingCaRecord:
        if CaRepository(self.s).exists(name):
            raise CaExistsError(f"a CA named {name!r} already exists")
        row = PendingCaRow(name=name, profile=profile, key_uri=key_uri, key_type=key_type, subject=subject,
                           request=request_der, successor_of=successor_of, created_at=now)
        _insert_named(self.s, row, name)
        return self._record(row)

    def get(self, name: str, lock: bool = False) -> PendingCaRecord | None:
        q = select(PendingCaRow).where(PendingCaRow.name == name)
        if lock:
            q = q.with_for_update()
        row = self.s.execute(q).scalar_one_or_none()
        return None if row is None else self._record(row)

    def list(self) -> list[PendingCaRecord]:
        return [self._record(r) for r in self.s.execute(select(PendingCaRow).order_by(PendingCaRow.id)).scalars()]

    def remove(self, name: str) -> None:
        """The pending CA became a CA (its certificate was imported), in the caller's transaction."""
        row = self.s.execute(select(PendingCaRow).where(PendingCaRow.name == name)).scalar_one()
        self.s.delete(row)
        self.s.flush()


class SerialRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def reserve(self, serial_hex: str, ca_id: int | None, profile: str, subject: str, now: dt.datetime) -> None:
        """Insert a reservation. A serial ever used raises IntegrityError (primary key)."""
        self.s.add(SerialRow(serial_hex=serial_hex, ca_id=ca_id, state=SerialState.RESERVED.value, profile=profile,
                             subject=subject, reserved_at=now, updated_at=now))
        self.s.flush()

    def set_state(self, serial_hex: str, state: SerialState, now: dt.datetime, *, reason: str | None = None,
                  tbs_sha256: str | None = None, certificate: bytes | None = None) -> None:
        values: dict = {"state": state.value, "updated_at": now}
        if reason is not None:
            values["reason"] = reason
        if tbs_sha256 is not None:
            values["tbs_sha256"] = tbs_sha256
        if certificate is not None:
            values["certificate"] = certificate
        self.s.execute(update(SerialRow).where(SerialRow.serial_hex == serial_hex).values(**values))

    def get(self, serial_hex: str) -> dict | None:
        row = self.s.get(SerialRow, serial_hex)
        if row is None:
            return None
        return {"serial": row.serial_hex, "state": row.state, "profile": row.profile, "subject": row.subject,
                "tbs_sha256": row.tbs_sha256, "certificate": row.certificate, "reason": row.reason}

    def count_by_state(self) -> dict[str, int]:
        return dict(self.s.execute(select(SerialRow.state, func.count()).group_by(SerialRow.state)).all())


class CertificateRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def _record(self, row: CertificateRow, ca_name: str) -> CertificateRecord:
        return CertificateRecord(serial_hex=row.serial_hex, ca_name=ca_name, profile=row.profile, subject=row.subject,
                                 not_before=row.not_before, not_after=row.not_after, der=row.der, key_uri=row.key_uri,
                                 status=CertStatus(row.status), revoked_at=row.revoked_at,
                                 revocation_reason=row.revocation_reason, invalidity_date=row.invalidity_date,
                                 issued_at=row.issued_at)

    def add(self, *, ca: CaRecord, serial_hex: str, profile: str, subject: str, der: bytes, key_uri: str | None,
            not_before: dt.datetime, not_after: dt.datetime, now: dt.datetime,
            crl_partition: str | None = None) -> CertificateRecord:
        row = CertificateRow(serial_hex=serial_hex, ca_id=ca.id, profile=profile, subject=subject, der=der,
                             key_uri=key_uri, not_before=not_before, not_after=not_after,
                             status=CertStatus.VALID.value, issued_at=now, crl_partition=crl_partition)
        self.s.add(row)
        self.s.flush()
        return self._record(row, ca.name)

    def get(self, ca: CaRecord, serial_hex: str, lock: bool = False) -> CertificateRecord:
        return self._record(self._row(ca, serial_hex, lock), ca.name)

    def _row(self, ca: CaRecord, serial_hex: str, lock: bool = False) -> CertificateRow:
        q = select(CertificateRow).where(CertificateRow.ca_id == ca.id, CertificateRow.serial_hex == serial_hex)
        if lock:
            q = q.with_for_update()
        row = self.s.execute(q).scalar_one_or_none()
        if row is None:
            raise UnknownCertificateError(f"CA {ca.name!r} issued no certificate with serial {serial_hex}")
        return row

    def revoke(self, ca: CaRecord, serial_hex: str, reason: str, when: dt.datetime,
               invalidity_date: dt.datetime | None) -> CertificateRecord:
        row = self._row(ca, serial_hex, lock=True)
        row.status = CertStatus.REVOKED.value
        row.revoked_at = when
        row.revocation_reason = reason
        row.invalidity_date = invalidity_date
        self.s.flush()
        return self._record(row, ca.name)

    def list(self, ca: CaRecord | None = None, status: CertStatus | None = None,
             limit: int | None = None) -> list[CertificateRecord]:
        parent = aliased(CaRow)
        q = select(CertificateRow, parent.name).join(parent, parent.id == CertificateRow.ca_id).order_by(CertificateRow.id)
        if ca is not None:
            q = q.where(CertificateRow.ca_id == ca.id)
        if status is not None:
            q = q.where(CertificateRow.status == status.value)
        if limit is not None:
            q = q.limit(limit)
        return [self._record(row, name) for row, name in self.s.execute(q).all()]

    def crl_partition(self, ca: CaRecord, serial_hex: str) -> str | None:
        """The CRL partition the certificate's CRL DP names (None: the CA's full CRL)."""
        return self.s.execute(select(CertificateRow.crl_partition).where(
            CertificateRow.ca_id == ca.id, CertificateRow.serial_hex == serial_hex)).scalar_one_or_none()

    def count_revoked(self, ca: CaRecord, partition: str | None) -> int:
        """How many revoked certificates a CRL scope lists (an index-only count)."""
        q = select(func.count()).select_from(CertificateRow).where(
            CertificateRow.ca_id == ca.id, CertificateRow.status == CertStatus.REVOKED.value)
        if partition is not None:
            q = q.where(CertificateRow.crl_partition == partition)
        return self.s.execute(q).scalar_one()

    def stream_revoked(self, ca: CaRecord, partition: str | None,  # type: ignore[no-untyped-def]
                       serial_hex: str | None = None):
        """(CRL entry, crl_partition) of each revoked certificate in scope: one partition, or every
        one (None: the full CRL); times NAIVE UTC, as stored (ca/crl_der.py reads naive as UTC;
        making 100,000 of them aware costs more than the rest of the read).

        Streamed through a raw DB-API cursor in the session's transaction (a server-side cursor
        on PostgreSQL), in the order the index gives them (RFC 5280 5.1.2.6 sets no order): the
        ORM's per-row type processing cost ~4 us a row, most of a 100,000-entry CRL's budget.
        """
        dbapi = self.s.connection().connection
        sqlite = self.s.get_bind().dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        # status as a literal: the partial index ix_certificates_revoked_entries (migration 0009)
        # holds every column read here, and a planner uses it only for a query that names its WHERE.
        assert CertStatus.REVOKED.value == "revoked"
        hint = " INDEXED BY ix_certificates_revoked_entries" if sqlite else ""  # SQLite keeps no statistics
        sql = ("SELECT serial_hex, revoked_at, revocation_reason, invalidity_date, crl_partition FROM certificates"
               f"{hint} WHERE ca_id = {mark} AND status = 'revoked'")
        params: tuple = (ca.id,)
        if partition is not None:
            sql += f" AND crl_partition = {mark}"
            params += (partition,)
        if serial_hex is not None:  # one certificate's entry
            sql += f" AND serial_hex = {mark}"
            params += (serial_hex,)
        cur = dbapi.cursor() if sqlite else dbapi.cursor(name=f"crl_rows_{ca.id}")
        if not sqlite:
            cur.itersize = 10_000
        try:
            cur.execute(sql, params)
            if sqlite:  # SQLite stores ISO text
                parse = dt.datetime.fromisoformat
                for serial_hex, at, reason, inv, part in cur:
                    yield (Entry(int(serial_hex, 16), parse(at), reason, None if inv is None else parse(inv)), part)
            else:
                for serial_hex, at, reason, inv, part in cur:
                    yield (Entry(int(serial_hex, 16), at, reason, inv), part)
        finally:
            cur.close()

    def live_partitions(self, ca: CaRecord, now: dt.datetime) -> list[str]:
        """Partitions named by at least one unexpired certificate of the CA."""
        # One max(not_after) per partition, read from ix_certificates_partition_expiry (the last
        # entry of each partition's range), not a scan of every certificate's row.
        q = (select(CertificateRow.crl_partition, func.max(CertificateRow.not_after))
             .where(CertificateRow.ca_id == ca.id, CertificateRow.crl_partition.is_not(None))
             .group_by(CertificateRow.crl_partition))
        return [p for p, last in self.s.execute(q).all() if last is not None and _aware(last) > now]


def _aware(value: dt.datetime | str) -> dt.datetime:
    """An aggregate's time: SQLAlchemy's UtcDateTime does not process func.max's result."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


class CrlRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, ca: CaRecord, crl_number: int, this_update: dt.datetime, next_update: dt.datetime,
            der: bytes, partition: str | None = None) -> CrlRecord:
        self.s.add(CrlRow(ca_id=ca.id, crl_number=crl_number, this_update=this_update, next_update=next_update,
                          der=der, partition=partition))
        self.s.flush()
        return CrlRecord(ca.name, crl_number, this_update, next_update, der)

    @staticmethod
    def _scope(partition: str | None):  # type: ignore[no-untyped-def]
        return CrlRow.partition.is_(None) if partition is None else CrlRow.partition == partition

    def latest(self, ca: CaRecord, partition: str | None = None) -> CrlRecord | None:
        """The newest CRL of one scope: the full CRL/ARL (None) or one partition."""
        row = self.s.execute(select(CrlRow).where(CrlRow.ca_id == ca.id, self._scope(partition))
                             .order_by(CrlRow.crl_number.desc()).limit(1)).scalar_one_or_none()
        if row is None:
            return None
        return CrlRecord(ca.name, row.crl_number, row.this_update, row.next_update, row.der)

    def scopes(self, ca: CaRecord) -> dict[str | None, tuple[dt.datetime, dt.datetime]]:
        """Each scope published (None: the full CRL) with its newest (thisUpdate, nextUpdate)."""
        q = (select(CrlRow.partition, func.max(CrlRow.this_update), func.max(CrlRow.next_update))
             .where(CrlRow.ca_id == ca.id).group_by(CrlRow.partition))
        return {p: (t, n) for p, t, n in self.s.execute(q).all()}

    def prune(self, ca: CaRecord, partition: str | None, keep: int) -> int:
        """Delete all but the newest ``keep`` CRLs of one scope (the audit log keeps every
        publication's number and hash); returns how many were deleted."""
        numbers = select(CrlRow.crl_number).where(CrlRow.ca_id == ca.id, self._scope(partition)) \
            .order_by(CrlRow.crl_number.desc()).offset(keep).limit(1)
        floor = self.s.execute(numbers).scalar_one_or_none()
        if floor is None:
            return 0
        done = self.s.execute(delete(CrlRow).where(CrlRow.ca_id == ca.id, self._scope(partition),
                                                   CrlRow.crl_number <= floor))
        return done.rowcount or 0
