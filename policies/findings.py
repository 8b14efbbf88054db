"""Findings of profile checks and lints."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(str, enum.Enum):
    FATAL = "FATAL"
    ERROR = "ERROR"
    WARNING = "WARNING"
    NOTICE = "NOTICE"
    INFO = "INFO"
    DEBUG = "DEBUG"

    @property
    def refuses(self) -> bool:
        """ERROR and FATAL findings refuse an issuance."""
        return self in (Severity.FATAL, Severity.ERROR)


@dataclass(frozen=True)
class Finding:
    """One finding: which rule (code and clause) and what was wrong."""

    severity: Severity
    code: str
    message: str
    source: str  # "govca", "pkilint-pkix", "pkilint-etsi", "pkilint-crl", "pkilint-ocsp"

    def __str__(self) -> str:
        return f"{self.severity.value} {self.code}: {self.message}"


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity.refuses]
