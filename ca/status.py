"""The read interface of the public process: certificate status, the CAs' certificates and
newest CRLs (``StatusReader``), and the pre-signed OCSP responses (``PresignedResponses``).

`govca serve` reaches the CA database only through these and the append-only audit log. Every
method reads, with one explicit, documented exception: ``PresignedResponses.put`` stores a
response the responder has just signed (RFC 5019 2.1.1 pre-production), in turns per
certificate so that it never outlives a revocation. Nothing here inserts, updates or deletes a
certificate, serial, CA or CRL.

The classes speak the shared vocabulary (policies/status.py), so they are the ocsp/ interfaces
(``StatusSource``, ``PresignedStore``, ``RepositorySource``) as they stand. Reads use
``Database.reader()`` so that, on SQLite, answering OCSP never waits for the write lock.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.orm import aliased

from policies.status import CertStatus, PresignedResponse, ServedIssuer, StatusInfo

from .storage.db import Database
from .storage.models import CaRow, CertificateRow, CrlRow, OcspResponderRow, OcspResponseRow, ParentStatusRow


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


class _CaIds:
    """CA name -> id, cached for the life of the process (CA ids never change once created)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids: dict[str, int] = {}

    def in_session(self, session, name: str) -> int | None:  # type: ignore[no-untyped-def]
        if name not in self._ids:
            found = session.execute(select(CaRow.id).where(CaRow.name == name)).scalar_one_or_none()
            if found is None:
                return None
            self._ids[name] = found
        return self._ids[name]

    def __call__(self, name: str) -> int | None:
        if name not in self._ids:
            with self.db.reader() as s:
                return self.in_session(s, name)
        return self._ids[name]


class StatusReader:
    """Read-only: certificate status (ocsp StatusSource) and the repository (RepositorySource)."""

    def __init__(self, db: Database, clock) -> None:  # type: ignore[no-untyped-def]
        self.db = db
        self.clock = clock
        self.ca_ids = _CaIds(db)
        self.hot = _HotQueries(db)

    def served_issuers(self) -> list[ServedIssuer]:
        """Each CA with its newest unexpired delegated responder (RFC 6960 4.2.2.2)."""
        now = self.clock()
        with self.db.reader() as s:
            rows = s.execute(select(CaRow.name, CaRow.certificate, OcspResponderRow.der, OcspResponderRow.key_uri)
                             .join(CaRow, CaRow.id == OcspResponderRow.ca_id)
                             .where(OcspResponderRow.not_after > now).order_by(OcspResponderRow.id)).all()
        newest = {row[0]: ServedIssuer(*row) for row in rows}  # later (newer) rows win
        return list(newest.values())

    def status(self, ca_name: str, serial_hex: str) -> StatusInfo:
        """VALID, REVOKED (with its time and RFC 5280 5.3.1 reason) or UNKNOWN (never issued here)."""
        ca_id = self.ca_ids(ca_name)
        row = None if ca_id is None else self.hot.fetch(self.hot.status_sql, (ca_id, serial_hex))
        if row is None:
            return StatusInfo(CertStatus.UNKNOWN)
        if CertStatus(row[0]) is CertStatus.REVOKED:
            return StatusInfo(CertStatus.REVOKED, self.hot.when(row[1]), row[2])
        return StatusInfo(CertStatus.VALID)

    def serials(self, ca_name: str) -> list[str]:
        with self.db.reader() as s:
            ca_id = self.ca_ids.in_session(s, ca_name)
            return list(s.execute(select(CertificateRow.serial_hex).where(CertificateRow.ca_id == ca_id)
                                  .order_by(CertificateRow.id)).scalars())

    # --- repository --------------------------------------------------------------------------
    def ca_names(self) -> list[str]:
        with self.db.reader() as s:
            return list(s.execute(select(CaRow.name).order_by(CaRow.id)).scalars())

    def root_certificates(self) -> list[bytes]:
        """DER of every self-signed CA of this database whose key is here (the trust anchors govca
        serves). An external root (a national root, an offline root) is trusted only when the
        configuration lists it (``signer.extra_roots``, the trust list): recording its certificate
        as a parent does not make it an anchor."""
        with self.db.reader() as s:
            return list(s.execute(select(CaRow.certificate).where(
                CaRow.parent_id.is_(None), CaRow.state != "external")).scalars())

    def ca_certificate(self, ca_name: str) -> bytes | None:
        with self.db.reader() as s:
            return s.execute(select(CaRow.certificate).where(CaRow.name == ca_name)).scalar_one_or_none()

    def latest_crl(self, ca_name: str) -> tuple[bytes, dt.datetime, dt.datetime] | None:
        """The newest FULL CRL (or ARL) of the CA: /crl/<ca>.crl."""
        return self.crl_of(ca_name, None)

    def crl_of(self, ca_name: str, partition: str | None) -> tuple[bytes, dt.datetime, dt.datetime] | None:
        """The newest CRL of one scope: the full CRL (None) or a partition (/crl/<ca>/<partition>.crl)."""
        with self.db.reader() as s:
            ca_id = self.ca_ids.in_session(s, ca_name)
            scope = CrlRow.partition.is_(None) if partition is None else CrlRow.partition == partition
            row = s.execute(select(CrlRow.der, CrlRow.this_update, CrlRow.next_update)
                            .where(CrlRow.ca_id == ca_id, scope).order_by(CrlRow.crl_number.desc()).limit(1)).first()
        return None if row is None else (row[0], row[1], row[2])

    def newest_crl_this_update(self) -> dt.datetime | None:
        """The thisUpdate of the stalest CA's newest CRL (what a CRL-age alert should watch)."""
        with self.db.reader() as s:
            newest = (select(CrlRow.ca_id, func.max(CrlRow.this_update).label("t"))
                      .where(CrlRow.partition.is_(None)).group_by(CrlRow.ca_id).subquery())  # full CRLs
            return s.execute(select(func.min(newest.c.t))).scalar_one_or_none()

    def newest_crl_id(self) -> int | None:
        """The id of the newest CRL of any CA (a primary-key lookup). It changes with every CRL
        published, so with every revocation: revocation data cached in a worker is keyed by it."""
        with self.db.reader() as s:
            return s.execute(select(func.max(CrlRow.id))).scalar_one_or_none()

    def parent_status(self) -> list:
        """The external parent's status of each unexpired CA certificate an external CA issued,
        as `govca ca refresh-parent` stored it: rows (ca, kind, url, status, der, this_update,
        next_update, fetched_at), one per (CA, kind, URL); a CA nothing was fetched for yet
        appears once with kind None. B-LT embeds the OCSP ones; /metrics shows their age."""
        child, parent = aliased(CaRow), aliased(CaRow)
        with self.db.reader() as s:
            return list(s.execute(
                select(child.name.label("ca"), ParentStatusRow.kind, ParentStatusRow.url, ParentStatusRow.status,
                       ParentStatusRow.der, ParentStatusRow.this_update, ParentStatusRow.next_update,
                       ParentStatusRow.fetched_at)
                .select_from(child).join(parent, parent.id == child.parent_id)
                .outerjoin(ParentStatusRow, ParentStatusRow.ca_id == child.id)
                .where(parent.state == "external", child.not_after > self.clock())
                .order_by(child.id, ParentStatusRow.id)).all())

    def ping(self) -> None:
        with self.db.reader() as s:
            s.execute(select(1)).scalar_one()


class PresignedResponses:
    """Pre-signed OCSP responses (ocsp PresignedStore): reads, and the public process's one write."""

    def __init__(self, reader: StatusReader) -> None:
        self.db, self.ca_ids, self.hot = reader.db, reader.ca_ids, reader.hot

    def get(self, ca_name: str, serial_hex: str, hash_alg: str) -> PresignedResponse | None:
        ca_id = self.ca_ids(ca_name)
        row = None if ca_id is None else self.hot.fetch(self.hot.response_sql, (ca_id, serial_hex, hash_alg))
        if row is None:
            return None
        when = self.hot.when
        return PresignedResponse(bytes(row[0]), CertStatus(row[1]), when(row[2]), when(row[3]), when(row[4]))

    def put(self, ca_name: str, serial_hex: str, hash_alg: str, response: PresignedResponse) -> bool:
        """The documented write: store a pre-signed response unless the certificate's status moved
        on since it was signed (then False).

        Puts of one certificate take turns (a transaction-scoped advisory lock on PostgreSQL; the
        one writer at a time on SQLite) and re-read the status in their turn; a "revoked" put
        also removes every "good" of the certificate, whatever its CertID hash. A revocation
        commits before its responses are re-signed, so a "good" stored by a worker that read the
        status just before it is replaced by that re-signing, whatever its hash. No row lock on
        certificates: the web role may not lock (UPDATE) them (ca/storage/roles.py).
        """
        with self.db.unit_of_work() as s:
            ca_id = self.ca_ids.in_session(s, ca_name)
            if s.get_bind().dialect.name == "postgresql":
                turn = int.from_bytes(hashlib.sha256(serial_hex.encode()).digest()[:4], "big", signed=True)
                s.execute(text("SELECT pg_advisory_xact_lock(:ca, :serial)"), {"ca": ca_id or 0, "serial": turn})
            current = s.execute(select(CertificateRow.status).where(
                CertificateRow.ca_id == ca_id, CertificateRow.serial_hex == serial_hex)).scalar_one_or_none()
            if current is None or CertStatus(current) is not response.status:
                return False
            replaced = OcspResponseRow.hash_alg == hash_alg
            if response.status is CertStatus.REVOKED:  # and a "good" of any other CertID hash
                replaced = or_(replaced, OcspResponseRow.status != CertStatus.REVOKED.value)
            s.execute(delete(OcspResponseRow).where(OcspResponseRow.ca_id == ca_id,
                                                    OcspResponseRow.serial_hex == serial_hex, replaced))
            s.add(OcspResponseRow(ca_id=ca_id, serial_hex=serial_hex, hash_alg=hash_alg,
                                  status=response.status.value, der=response.der, this_update=response.this_update,
                                  next_update=response.next_update, produced_at=response.produced_at))
        return True

    def oldest_this_update(self) -> dt.datetime | None:
        with self.db.reader() as s:
            return s.execute(select(func.min(OcspResponseRow.this_update))).scalar_one_or_none()
