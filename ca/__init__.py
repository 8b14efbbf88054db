"""The PKI core: CA hierarchy, issuance per profile, revocation, CRLs, storage, audit."""
from .context import CaContext, KeyStore, utcnow
from .errors import (AlreadyRevokedError, AuditChainError, CaError, CaExistsError, CsrError, IssuanceRefusedError,
                     RevocationError, UnknownCaError, UnknownCertificateError)
from .records import CaRecord, CertificateRecord, CertStatus, CrlRecord, normalise_serial, serial_to_hex
from .service import CaService
from .storage.db import Database, upgrade_schema

__all__ = [
    "CaContext", "KeyStore", "utcnow", "AlreadyRevokedError", "AuditChainError", "CaError", "CaExistsError",
    "CsrError", "IssuanceRefusedError", "RevocationError", "UnknownCaError", "UnknownCertificateError", "CaRecord",
    "CertificateRecord", "CertStatus", "CrlRecord", "normalise_serial", "serial_to_hex", "CaService", "Database",
    "upgrade_schema",
]
