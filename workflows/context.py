"""What a workflow is handed by the composition root (cli/admin.py builds it).

Custody by context (ETSI EN 319 411-1 6.5.1; ขมธอ. 36-2566 for signing keys): `ca` signs with
the CA token only, and generates end-entity keys in the service token; every other key a
workflow touches (the API-client MAC key, officials' PIN and seed keys, OCSP responder keys) is
in `service_keys`, the service token. A workflow never opens a token by itself.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ca.service import CaService
    from ocsp.responder import OcspResponder
    from signer.registry import SignerRepository
    from signer.remote.officials import OfficialRepository


class Admin(Protocol):
    """The collaborators of the administrator workflows."""

    @property
    def ca(self) -> "CaService":
        """The CA service: CA signatures with the CA token (opened only here), end-entity keys
        generated in the service token."""

    @property
    def service_keys(self) -> Any:
        """The service token (hsm.Pkcs11Token): keys of the running service."""

    @property
    def registry(self) -> "SignerRepository":
        """Agencies, seals, API clients, the TSA."""

    @property
    def officials(self) -> "OfficialRepository":
        """Officials, their PIN records and TOTP seeds (keys in the service token)."""

    def api_secret_record(self, secret: str) -> str:
        """The stored record of an API client's secret: an HMAC made in the service token."""

    def responder(self) -> "OcspResponder":
        """The OCSP responder (responder keys in the service token), to pre-sign responses."""

    def audit(self, actor: str, action: str, subject: str, outcome: str, details: dict) -> None:
        """Append one record to the hash-chained audit log."""

    def now(self) -> dt.datetime:
        """The current time (UTC)."""


def utc_text(value: dt.datetime | None) -> str:
    """A time as administrators read it in listings and audit details: UTC, to the second; "-" for none."""
    return "-" if value is None else value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
