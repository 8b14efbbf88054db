"""The PKI core: CA hierarchy, issuance per profile, revocation, CRLs, storage, audit.

Importing ``ca`` loads nothing: each name below is imported from its module on first use
(PEP 562), so a process that needs only ``ca.storage.db`` (the public `govca serve` workers)
never loads the issuance, revocation or lint code. New code names the module it needs.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CaContext": "context", "KeyStore": "context", "utcnow": "context",
    "AlreadyRevokedError": "errors", "AuditChainError": "errors", "CaError": "errors", "CaExistsError": "errors",
    "CsrError": "errors", "IssuanceRefusedError": "errors", "RevocationError": "errors",
    "UnknownCaError": "errors", "UnknownCertificateError": "errors",
    "CaRecord": "records", "CertificateRecord": "records", "CertStatus": "records", "CrlRecord": "records",
    "normalise_serial": "records", "serial_to_hex": "records",
    "CaService": "service",
    "Database": "storage.db", "upgrade_schema": "storage.db",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ca' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
