"""Read-only status and the pre-signed OCSP store, over the CA database.

The OCSP responder reads through these (adapted to its interfaces by the composition root);
it never writes certificates. Reads use ``Database.reader()`` so that, on SQLite, answering
OCSP never waits for the write lock.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from .records import CertStatus
from .storage.db import Database
from .storage.models import CaRow, CertificateRow, CrlRow, OcspResponderRow, OcspResponseRow


@dataclass(frozen=True)
class ResponderRecord:
    ca_name: str
    issuer_der: bytes
    responder_der: bytes
    key_uri: str
    not_after: dt.datetime


@dataclass(frozen=True)
class StoredResponse:
    der: bytes
    status: str
    this_update: dt.datetime
    next_update: dt.datetime
    produced_at: dt.datetime


class _HotQueries:
    """Two indexed lookups on the OCSP hot path, through a raw DB-API connection kept per thread.

    The ORM session costs ~0.3 ms per lookup against ~10 us for the statement itself, which
    would make the database, not HTTP, the limit of pre-signed OCSP answers.
    """

    RESPONSE = ("SELECT der, status, this_update, next_update, produced_at FROM ocsp_responses "
                "WHERE ca_id = {p} AND serial_hex = {p} AND hash_alg = {p}")
    STATUS = ("SELECT status, revoked_at, revocation_reason FROM certificates "
              "WHERE ca_id = {p} AND serial_hex = {p}")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sqlite = db.url.startswith("sqlite")
        mark = "?" if self.sqlite else "%s"
        self.response_sql = self.RESPONSE.format(p=mark)
        self.status_sql = self.STATUS.format(p=mark)
        self._local = threading.local()

    def _connection(self):  # type: ignore[no-untyped-def]
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = self.db.autocommit_engine().raw_connection()  # no snapshot held between requests
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def fetch(self, sql: str, params: tuple) -> tuple | None:
        conn = self._connection()
        try:
            cur = conn.cursor()
            cur.execute(sql, params)
            row = cur.fetchone()
            cur.close()
            return row
        except Exception:
            # A broken connection is dropped; the next call opens a fresh one.
            self._local.conn = None
            try:
                conn.invalidate()
            except Exception:  # noqa: BLE001 - already broken
                pass
            raise

    def when(self, value) -> dt.datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.timezone.utc)


class StatusReader:
    def __init__(self, db: Database, clock) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.clock = clock
        self._ca_ids: dict[str, int] = {}
        self._hot = _HotQueries(db)

    def _ca_id(self, session, name: str) -> int | None:  # type: ignore[no-untyped-def]
        # CA ids never change once created, so they are cached for the life of the process.
        if name not in self._ca_ids:
            found = session.execute(select(CaRow.id).where(CaRow.name == name)).scalar_one_or_none()
            if found is None:
                return None
            self._ca_ids[name] = found
        return self._ca_ids[name]

    def responders(self) -> list[ResponderRecord]:
        """The newest unexpired responder of each CA."""
        now = self.clock()
        with self.db.reader() as s:
            rows = s.execute(select(CaRow.name, CaRow.certificate, OcspResponderRow.der, OcspResponderRow.key_uri,
                                    OcspResponderRow.not_after).join(CaRow, CaRow.id == OcspResponderRow.ca_id)
                             .where(OcspResponderRow.not_after > now).order_by(OcspResponderRow.id)).all()
        newest = {row[0]: ResponderRecord(*row) for row in rows}  # later (newer) rows win
        return list(newest.values())

    def _known_ca_id(self, ca_name: str) -> int | None:
        if ca_name not in self._ca_ids:
            with self.db.reader() as s:
                return self._ca_id(s, ca_name)
        return self._ca_ids[ca_name]

    def status(self, ca_name: str, serial_hex: str) -> tuple[str, dt.datetime | None, str | None]:
        """("good"|"revoked"|"unknown", revocation time, RFC 5280 reason name)."""
        ca_id = self._known_ca_id(ca_name)
        row = None if ca_id is None else self._hot.fetch(self._hot.status_sql, (ca_id, serial_hex))
        if row is None:
            return "unknown", None, None
        if row[0] == CertStatus.REVOKED.value:
            return "revoked", self._hot.when(row[1]), row[2]
        return "good", None, None

    def serials(self, ca_name: str) -> list[str]:
        with self.db.reader() as s:
            ca_id = self._ca_id(s, ca_name)
            return list(s.execute(select(CertificateRow.serial_hex).where(CertificateRow.ca_id == ca_id)
                                  .order_by(CertificateRow.id)).scalars())

    # --- pre-signed responses ------------------------------------------------------------------
    def get_response(self, ca_name: str, serial_hex: str, hash_alg: str) -> StoredResponse | None:
        ca_id = self._known_ca_id(ca_name)
        row = None if ca_id is None else self._hot.fetch(self._hot.response_sql, (ca_id, serial_hex, hash_alg))
        if row is None:
            return None
        when = self._hot.when
        return StoredResponse(bytes(row[0]), row[1], when(row[2]), when(row[3]), when(row[4]))

    def put_response(self, ca_name: str, serial_hex: str, hash_alg: str, response: StoredResponse) -> bool:
        """Store a pre-signed response unless the certificate's status moved on since it was signed.

        The status is re-read under the certificate row's lock, the lock a revocation holds; so a
        "good" signed just before a revocation is never stored after it.
        """
        with self.db.unit_of_work() as s:
            ca_id = self._ca_id(s, ca_name)
            current = s.execute(select(CertificateRow.status).where(
                CertificateRow.ca_id == ca_id, CertificateRow.serial_hex == serial_hex).with_for_update()
            ).scalar_one_or_none()
            state = "revoked" if current == CertStatus.REVOKED.value else "good"
            if current is None or state != response.status:
                return False
            s.execute(delete(OcspResponseRow).where(OcspResponseRow.ca_id == ca_id,
                                                    OcspResponseRow.serial_hex == serial_hex,
                                                    OcspResponseRow.hash_alg == hash_alg))
            s.add(OcspResponseRow(ca_id=ca_id, serial_hex=serial_hex, hash_alg=hash_alg, status=response.status,
                                  der=response.der, this_update=response.this_update,
                                  next_update=response.next_update, produced_at=response.produced_at))
        return True

    def oldest_response_this_update(self) -> dt.datetime | None:
        with self.db.reader() as s:
            return s.execute(select(func.min(OcspResponseRow.this_update))).scalar_one_or_none()

    # --- repository --------------------------------------------------------------------------
    def ca_certificate(self, ca_name: str) -> bytes | None:
        with self.db.reader() as s:
            return s.execute(select(CaRow.certificate).where(CaRow.name == ca_name)).scalar_one_or_none()

    def latest_crl(self, ca_name: str) -> tuple[bytes, dt.datetime, dt.datetime] | None:
        with self.db.reader() as s:
            ca_id = self._ca_id(s, ca_name)
            row = s.execute(select(CrlRow.der, CrlRow.this_update, CrlRow.next_update)
                            .where(CrlRow.ca_id == ca_id).order_by(CrlRow.crl_number.desc()).limit(1)).first()
        return None if row is None else (row[0], row[1], row[2])

    def newest_crl_this_update(self) -> dt.datetime | None:
        """The thisUpdate of the stalest CA's newest CRL (what a CRL-age alert should watch)."""
        with self.db.reader() as s:
            newest = select(CrlRow.ca_id, func.max(CrlRow.this_update).label("t")).group_by(CrlRow.ca_id).subquery()
            return s.execute(select(func.min(newest.c.t))).scalar_one_or_none()

    def ping(self) -> None:
        with self.db.reader() as s:
            s.execute(select(1)).scalar_one()
