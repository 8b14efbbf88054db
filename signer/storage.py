"""The signing service's tables: agencies, their seals, API clients, the TSA, the document
registry. signer/ keeps its own models; the composition root hands it units of work on the
one database (its migrations live in the single Alembic chain under ca/migrations)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Naive UTC in the database, aware UTC in Python."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("pass UTC-aware datetimes")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):  # type: ignore[override]
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class SignerBase(DeclarativeBase):
    pass


class AgencyRow(SignerBase):
    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_th: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    juristic_id: Mapped[str] = mapped_column(String(13))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class SealRow(SignerBase):
    """An agency's e-seal: certificate (e-seal profile) and the HSM key that signs with it."""

    __tablename__ = "agency_seals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    ca_name: Mapped[str] = mapped_column(String(64))
    serial_hex: Mapped[str] = mapped_column(String(40), unique=True)
    key_uri: Mapped[str] = mapped_column(Text)
    cert_der: Mapped[bytes] = mapped_column(LargeBinary)
    chain_der: Mapped[bytes] = mapped_column(LargeBinary)  # issuing CA then root, concatenated DER
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ApiClientRow(SignerBase):
    """An agency system's API credentials; the secret is kept only as a scrypt hash."""

    __tablename__ = "api_clients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class TsaRow(SignerBase):
    __tablename__ = "tsa_units"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ca_name: Mapped[str] = mapped_column(String(64))
    serial_hex: Mapped[str] = mapped_column(String(40))
    key_uri: Mapped[str] = mapped_column(Text)
    cert_der: Mapped[bytes] = mapped_column(LargeBinary)
    chain_der: Mapped[bytes] = mapped_column(LargeBinary)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DocumentRow(SignerBase):
    """A sealed document's registry record. The PDF itself is not kept."""

    __tablename__ = "documents"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    seal_serial: Mapped[str] = mapped_column(String(40))
    signer_kind: Mapped[str] = mapped_column(String(16))  # "seal" | "official"
    level: Mapped[str] = mapped_column(String(8))
    subfilter: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[int | None] = mapped_column(Integer)
    sealed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
