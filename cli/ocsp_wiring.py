"""The responder, fed by ca/'s read interface: it speaks ocsp/'s interfaces as it stands
(one vocabulary, policies/status.py), so no adapter sits between them."""
from __future__ import annotations

import datetime as dt

from ca.context import utcnow
from ca.status import PresignedResponses, StatusReader
from ca.storage.db import Database
from ocsp.responder import OcspResponder, OcspSettings

from .compose import service_token
from .config import GovcaConfig


def ocsp_settings(cfg: GovcaConfig) -> OcspSettings:
    return OcspSettings(validity=dt.timedelta(hours=cfg.ocsp.validity_hours),
                        refresh_after=dt.timedelta(hours=cfg.ocsp.refresh_after_hours),
                        max_cert_ids=cfg.ocsp.max_cert_ids)


def build_responder(cfg: GovcaConfig, db: Database, clock=utcnow) -> tuple[OcspResponder, StatusReader]:  # type: ignore[no-untyped-def]
    """The responder signs with the service token's responder keys, never the CA token's."""
    reader = StatusReader(db, clock)
    responder = OcspResponder(reader, PresignedResponses(reader), service_token(cfg), ocsp_settings(cfg), clock)
    return responder, reader
