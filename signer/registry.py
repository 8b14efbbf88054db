"""Repository of agencies, seals, API clients, the TSA unit and sealed documents."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, ContextManager

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import ConflictError, NotFoundError
from .storage import AgencyRow, ApiClientRow, DocumentRow, SealRow, TsaRow

UnitOfWork = Callable[[], ContextManager[Session]]


def split_chain(blob: bytes) -> tuple[bytes, ...]:
    """Concatenated DER certificates back into a tuple."""
    out, i = [], 0
    while i < len(blob):
        if blob[i] != 0x30:
            raise ValueError("not a DER certificate chain")
        length, hdr = blob[i + 1], 2
        if length & 0x80:
            n = length & 0x7F
            length, hdr = int.from_bytes(blob[i + 2:i + 2 + n], "big"), 2 + n
        out.append(blob[i:i + hdr + length])
        i += hdr + length
    return tuple(out)


@dataclass(frozen=True)
class Agency:
    id: int
    code: str
    name_th: str
    name_en: str
    juristic_id: str


@dataclass(frozen=True)
class Seal:
    id: int
    agency_code: str
    ca_name: str
    serial_hex: str
    key_uri: str
    cert_der: bytes
    chain_der: tuple[bytes, ...]
    not_after: dt.datetime


@dataclass(frozen=True)
class ApiClient:
    id: int
    agency_code: str
    name: str
    secret_hash: str
    revoked_at: dt.datetime | None


@dataclass(frozen=True)
class TsaRecord:
    ca_name: str
    serial_hex: str
    key_uri: str
    cert_der: bytes
    chain_der: tuple[bytes, ...]
    not_after: dt.datetime


@dataclass(frozen=True)
class Document:
    id: str
    sha256: str
    agency: Agency
    seal_serial: str
    signer_kind: str
    level: str
    subfilter: str
    size: int
    sealed_at: dt.datetime


def _agency(row: AgencyRow) -> Agency:
    return Agency(row.id, row.code, row.name_th, row.name_en, row.juristic_id)


class SignerRepository:
    def __init__(self, write: UnitOfWork, read: UnitOfWork | None = None) -> None:
        self.write = write
        self.read = read or write

    # --- agencies --------------------------------------------------------------------------
    def add_agency(self, code: str, name_th: str, name_en: str, juristic_id: str, now: dt.datetime) -> Agency:
        try:
            with self.write() as s:
                row = AgencyRow(code=code, name_th=name_th, name_en=name_en, juristic_id=juristic_id, created_at=now)
                s.add(row)
                s.flush()
                return _agency(row)
        except IntegrityError:
            raise ConflictError(f"an agency with code {code!r} already exists") from None

    def _agency_row(self, s: Session, code: str) -> AgencyRow:
        row = s.execute(select(AgencyRow).where(AgencyRow.code == code)).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"unknown agency {code!r}")
        return row

    def get_agency(self, code: str) -> Agency:
        with self.read() as s:
            return _agency(self._agency_row(s, code))

    def list_agencies(self) -> list[tuple[Agency, int, int]]:
        """Each agency with its number of seals and of active API clients."""
        with self.read() as s:
            agencies = [_agency(r) for r in s.execute(select(AgencyRow).order_by(AgencyRow.id)).scalars()]
            seals = s.execute(select(SealRow.agency_id)).scalars().all()
            clients = s.execute(select(ApiClientRow.agency_id).where(ApiClientRow.revoked_at.is_(None))).scalars().all()
        return [(a, seals.count(a.id), clients.count(a.id)) for a in agencies]

    # --- seals -----------------------------------------------------------------------------
    def add_seal(self, agency_code: str, ca_name: str, serial_hex: str, key_uri: str, cert_der: bytes,
                 chain_der: tuple[bytes, ...], not_after: dt.datetime, now: dt.datetime) -> Seal:
        with self.write() as s:
            agency = self._agency_row(s, agency_code)
            s.add(SealRow(agency_id=agency.id, ca_name=ca_name, serial_hex=serial_hex, key_uri=key_uri,
                          cert_der=cert_der, chain_der=b"".join(chain_der), not_after=not_after, created_at=now))
        return self.get_seal(serial_hex)

    def _seal(self, row: SealRow, code: str) -> Seal:
        return Seal(row.id, code, row.ca_name, row.serial_hex, row.key_uri, row.cert_der,
                    split_chain(row.chain_der), row.not_after)

    def get_seal(self, serial_hex: str) -> Seal:
        with self.read() as s:
            found = s.execute(select(SealRow, AgencyRow.code).join(AgencyRow, AgencyRow.id == SealRow.agency_id)
                              .where(SealRow.serial_hex == serial_hex)).first()
            if found is None:
                raise NotFoundError(f"no seal with serial {serial_hex}")
            return self._seal(*found)

    def seals_of(self, agency_code: str) -> list[Seal]:
        """The agency's seals, newest first."""
        with self.read() as s:
            rows = s.execute(select(SealRow, AgencyRow.code).join(AgencyRow, AgencyRow.id == SealRow.agency_id)
                             .where(AgencyRow.code == agency_code).order_by(SealRow.id.desc())).all()
            return [self._seal(*r) for r in rows]

    # --- API clients -------------------------------------------------------------------------
    def add_client(self, agency_code: str, name: str, secret_hash: str, now: dt.datetime) -> int:
        with self.write() as s:
            agency = self._agency_row(s, agency_code)
            row = ApiClientRow(agency_id=agency.id, name=name, secret_hash=secret_hash, created_at=now)
            s.add(row)
            s.flush()
            return row.id

    def get_client(self, client_id: int) -> ApiClient:
        with self.read() as s:
            found = s.execute(select(ApiClientRow, AgencyRow.code).join(AgencyRow, AgencyRow.id == ApiClientRow.agency_id)
                              .where(ApiClientRow.id == client_id)).first()
            if found is None:
                raise NotFoundError(f"no API client {client_id}")
            row, code = found
            return ApiClient(row.id, code, row.name, row.secret_hash, row.revoked_at)

    def revoke_client(self, client_id: int, now: dt.datetime) -> ApiClient:
        with self.write() as s:
            row = s.get(ApiClientRow, client_id)
            if row is None:
                raise NotFoundError(f"no API client {client_id}")
            if row.revoked_at is not None:
                raise ConflictError(f"API client {client_id} is already revoked")
            row.revoked_at = now
        return self.get_client(client_id)

    # --- TSA -------------------------------------------------------------------------------
    def add_tsa(self, ca_name: str, serial_hex: str, key_uri: str, cert_der: bytes, chain_der: tuple[bytes, ...],
                not_after: dt.datetime, now: dt.datetime) -> None:
        with self.write() as s:
            s.add(TsaRow(ca_name=ca_name, serial_hex=serial_hex, key_uri=key_uri, cert_der=cert_der,
                         chain_der=b"".join(chain_der), not_after=not_after, created_at=now))

    def current_tsa(self) -> TsaRecord | None:
        with self.read() as s:
            row = s.execute(select(TsaRow).order_by(TsaRow.id.desc()).limit(1)).scalar_one_or_none()
            if row is None:
                return None
            return TsaRecord(row.ca_name, row.serial_hex, row.key_uri, row.cert_der, split_chain(row.chain_der),
                             row.not_after)

    # --- documents ---------------------------------------------------------------------------
    def register(self, doc_id: str, sha256: str, agency_code: str, seal_serial: str, signer_kind: str, level: str,
                 subfilter: str, size: int, client_id: int | None, now: dt.datetime) -> None:
        with self.write() as s:
            agency = self._agency_row(s, agency_code)
            s.add(DocumentRow(id=doc_id, sha256=sha256, agency_id=agency.id, seal_serial=seal_serial,
                              signer_kind=signer_kind, level=level, subfilter=subfilter, size=size,
                              client_id=client_id, sealed_at=now))

    def get_document(self, doc_id: str) -> Document:
        with self.read() as s:
            found = s.execute(select(DocumentRow, AgencyRow).join(AgencyRow, AgencyRow.id == DocumentRow.agency_id)
                              .where(DocumentRow.id == doc_id)).first()
            if found is None:
                raise NotFoundError(f"no sealed document {doc_id!r}")
            row, agency = found
            return Document(row.id, row.sha256, _agency(agency), row.seal_serial, row.signer_kind, row.level,
                            row.subfilter, row.size, row.sealed_at)
