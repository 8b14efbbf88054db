"""The ca package's error hierarchy; the CLI turns these into one-line messages."""


class CaError(Exception):
    """Base of ca/ errors."""


class UnknownCaError(CaError):
    pass


class CaExistsError(CaError):
    pass


class CsrError(CaError):
    """The CSR is malformed, its signature does not verify, or its key is not allowed."""


class IssuanceRefusedError(CaError):
    """Linting or profile checks found ERROR/FATAL findings; ``findings`` names the rules."""

    def __init__(self, message: str, findings: list | None = None) -> None:
        super().__init__(message)
        self.findings = findings or []


class CaStateError(CaError):
    """The CA's state does not allow the operation (pending, retiring, external: ca/records.py CaState)."""


class ExternalDataError(CaError):
    """A certificate, chain or CRL from outside (the parent, an offline root) is refused: it does
    not parse, verify, or fit what it claims to be. Nothing is recorded."""


class UnknownCertificateError(CaError):
    pass


class AlreadyRevokedError(CaError):
    pass


class RevocationError(CaError):
    pass


class AuditChainError(CaError):
    """The audit chain is broken; ``seq`` is the first bad record."""

    def __init__(self, message: str, seq: int | None) -> None:
        super().__init__(message)
        self.seq = seq
