"""Adapters from ca/'s status reader to ocsp/'s interfaces, and the responder they feed."""
from __future__ import annotations

import datetime as dt

from ca import Database, utcnow
from ca.status import StatusReader, StoredResponse
from ocsp.interfaces import CertState, PresignedResponse, ServedIssuer, StatusInfo
from ocsp.responder import OcspResponder, OcspSettings

from .compose import token_from_config
from .config import GovcaConfig


class CaStatusSource:
    """ocsp.interfaces.StatusSource over the CA database."""

    def __init__(self, reader: StatusReader) -> None:
        self.reader = reader

    def served_issuers(self) -> list[ServedIssuer]:
        return [ServedIssuer(r.ca_name, r.issuer_der, r.responder_der, r.key_uri) for r in self.reader.responders()]

    def status(self, ca_name: str, serial_hex: str) -> StatusInfo:
        state, revoked_at, reason = self.reader.status(ca_name, serial_hex)
        return StatusInfo(CertState(state), revoked_at, reason)

    def serials(self, ca_name: str) -> list[str]:
        return self.reader.serials(ca_name)


class CaPresignedStore:
    """ocsp.interfaces.PresignedStore over the CA database."""

    def __init__(self, reader: StatusReader) -> None:
        self.reader = reader

    def get(self, ca_name: str, serial_hex: str, hash_alg: str) -> PresignedResponse | None:
        row = self.reader.get_response(ca_name, serial_hex, hash_alg)
        if row is None:
            return None
        return PresignedResponse(row.der, CertState(row.status), row.this_update, row.next_update, row.produced_at)

    def put(self, ca_name: str, serial_hex: str, hash_alg: str, response: PresignedResponse) -> bool:
        return self.reader.put_response(ca_name, serial_hex, hash_alg, StoredResponse(
            response.der, response.state.value, response.this_update, response.next_update, response.produced_at))

    def oldest_this_update(self) -> dt.datetime | None:
        return self.reader.oldest_response_this_update()


def ocsp_settings(cfg: GovcaConfig) -> OcspSettings:
    return OcspSettings(validity=dt.timedelta(hours=cfg.ocsp.validity_hours),
                        refresh_after=dt.timedelta(hours=cfg.ocsp.refresh_after_hours),
                        max_cert_ids=cfg.ocsp.max_cert_ids)


def build_responder(cfg: GovcaConfig, db: Database, clock=utcnow) -> tuple[OcspResponder, StatusReader]:  # type: ignore[no-untyped-def]
    reader = StatusReader(db, clock)
    responder = OcspResponder(CaStatusSource(reader), CaPresignedStore(reader), token_from_config(cfg),
                              ocsp_settings(cfg), clock)
    return responder, reader
