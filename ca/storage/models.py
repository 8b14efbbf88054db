"""SQLAlchemy 2 models. Only repositories touch them; callers get domain objects."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Stores naive UTC (SQLite has no time zones) and returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass UTC-aware times")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):  # type: ignore[override]
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class CaRow(Base):
    __tablename__ = "cas"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cas.id"))
    profile: Mapped[str] = mapped_column(String(64))
    key_uri: Mapped[str] = mapped_column(Text)
    key_type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    serial_hex: Mapped[str] = mapped_column(String(40))
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    crl_number: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # active | retiring | external (ca/records.py CaState; "pending" CAs live in pending_cas)
    state: Mapped[str] = mapped_column(String(16), default="active", server_default="active")


class PendingCaRow(Base):
    """A CA whose key was generated here and whose request waits for its parent's certificate."""

    __tablename__ = "pending_cas"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    profile: Mapped[str] = mapped_column(String(64))
    key_uri: Mapped[str] = mapped_column(Text)
    key_type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    request: Mapped[bytes] = mapped_column(LargeBinary)  # the PKCS#10 request, DER
    successor_of: Mapped[str | None] = mapped_column(String(64))  # the CA it rolls over, if any
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ParentStatusRow(Base):
    """The parent's status of one CA certificate (the CA row ``ca_id``): a CRL or an OCSP response
    fetched from the URLs in that certificate, verified, newest per (CA, kind, URL)."""

    __tablename__ = "parent_status"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    kind: Mapped[str] = mapped_column(String(8))  # "crl" | "ocsp"
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # policies/status.py CertStatus value
    der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    fetched_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    __table_args__ = (UniqueConstraint("ca_id", "kind", "url"),)


class SerialRow(Base):
    """Every serial ever reserved: never reused (RFC 5280 4.1.2.2 uniqueness per issuer).

    ``state`` moves reserved -> intent -> issued, or to burned with a reason; a burned serial
    whose certificate was signed keeps that certificate here, so nothing signed is unaccounted.
    """

    __tablename__ = "serials"
    serial_hex: Mapped[str] = mapped_column(String(40), primary_key=True)
    ca_id: Mapped[int | None] = mapped_column(ForeignKey("cas.id"))
    state: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    tbs_sha256: Mapped[str | None] = mapped_column(String(64))
    certificate: Mapped[bytes | None] = mapped_column(LargeBinary)
    reason: Mapped[str | None] = mapped_column(Text)
    reserved_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class CertificateRow(Base):
    __tablename__ = "certificates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial_hex: Mapped[str] = mapped_column(String(40), unique=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    profile: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    key_uri: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="valid")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    invalidity_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The CRL partition its CRL distribution point names (/crl/<ca>/<partition>.crl); None: the
    # CA's full CRL (/crl/<ca>.crl), for CA certificates and those issued before partitions.
    crl_partition: Mapped[str | None] = mapped_column(String(32))
    __table_args__ = (
        Index("ix_certificates_ca_status", "ca_id", "status"),
        Index("ix_certificates_partition", "ca_id", "crl_partition", "status"),
        # Migration 0009: a CRL entry's columns for revoked rows only (read from the index alone),
        # and each partition's latest notAfter (which partitions are still live).
        Index("ix_certificates_revoked_entries", "ca_id", "crl_partition", "serial_hex", "revoked_at",
              "revocation_reason", "invalidity_date", "status", sqlite_where=text("status = 'revoked'"),
              postgresql_where=text("status = 'revoked'")),
        Index("ix_certificates_partition_expiry", "ca_id", "crl_partition", "not_after"),
    )


class CrlRow(Base):
    __tablename__ = "crls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    crl_number: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    partition: Mapped[str | None] = mapped_column(String(32))  # None: the CA's full CRL (or ARL)
    __table_args__ = (UniqueConstraint("ca_id", "crl_number"), Index("ix_crls_scope", "ca_id", "partition", "crl_number"))


class AuditRow(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """One row: the last sequence number and hash. Locking it serialises appends."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpointRow(Base):
    """A signed checkpoint of the audit chain: record ``seq`` had hash ``hash`` at ``time``,
    signed with the audit key in the CA token (its SubjectPublicKeyInfo's SHA-256: ``key_sha256``)."""

    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    key_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class OcspResponderRow(Base):
    """A delegated OCSP responder certificate of a CA (RFC 6960 4.2.2.2), its key in the HSM."""

    __tablename__ = "ocsp_responders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    serial_hex: Mapped[str] = mapped_column(String(40))
    key_uri: Mapped[str] = mapped_column(Text)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class OcspResponseRow(Base):
    """A pre-signed OCSP response for one certificate and CertID hash algorithm."""

    __tablename__ = "ocsp_responses"
    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"), primary_key=True)
    serial_hex: Mapped[str] = mapped_column(String(40), primary_key=True)
    hash_alg: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    produced_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
