"""API clients of agency systems: created with a secret shown once, revoked."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from signer.credentials import make_token, new_secret

from .context import Admin


@dataclass(frozen=True)
class NewClient:
    id: int
    agency: str
    name: str
    token: str          # shown once; stored only as an HMAC made in the service token

    @property
    def secret(self) -> str:
        return self.token.split("_", 2)[2]


def create_api_client(admin: Admin, code: str, name: str, actor: str) -> NewClient:
    """A new API client of agency ``code``; audited without its secret."""
    secret = new_secret()
    client_id = admin.registry.add_client(code, name, admin.api_secret_record(secret), admin.now())
    admin.audit(actor, "apiclient.create", code, "success", {"client": client_id, "name": name})
    return NewClient(client_id, code, name, make_token(client_id, secret))


def revoke_api_client(admin: Admin, client_id: int, actor: str) -> Any:
    """Revoke an API client (refused for an unknown or already revoked one); audited."""
    client = admin.registry.revoke_client(client_id, admin.now())
    admin.audit(actor, "apiclient.revoke", client.agency_code, "success", {"client": client_id})
    return client
