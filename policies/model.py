"""Profiles as frozen objects. Each rule carries the clause it comes from."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class ProfileKind(str, enum.Enum):
    ROOT_CA = "root_ca"
    ISSUING_CA = "issuing_ca"
    PERSON = "person"
    ESEAL = "eseal"
    OCSP = "ocsp"
    TSA = "tsa"

    @property
    def is_ca(self) -> bool:
        return self in (ProfileKind.ROOT_CA, ProfileKind.ISSUING_CA)


@dataclass(frozen=True)
class KeyTypeRule:
    values: tuple[str, ...]
    clause: str


@dataclass(frozen=True)
class ValidityRule:
    min_days: int
    max_days: int
    default_days: int
    clause: str


@dataclass(frozen=True)
class BasicConstraintsRule:
    ca: bool
    critical: bool
    clause: str
    path_length: int | None = None


@dataclass(frozen=True)
class KeyUsageRule:
    """keyUsage bits by cryptography's KeyUsage argument names."""

    values: tuple[str, ...]
    critical: bool
    clause: str


@dataclass(frozen=True)
class ExtendedKeyUsageRule:
    values: tuple[str, ...]
    critical: bool
    clause: str


@dataclass(frozen=True)
class SubjectRule:
    """Subject attributes by their OpenSSL short names."""

    required: tuple[str, ...]
    allowed: tuple[str, ...]
    clause: str


@dataclass(frozen=True)
class SubjectPatternsRule:
    patterns: tuple[tuple[str, str], ...]
    clause: str


@dataclass(frozen=True)
class DistributionRule:
    """Which status and issuer links the certificate carries."""

    crl: bool
    ca_issuers: bool
    ocsp: bool
    clause: str


@dataclass(frozen=True)
class PoliciesRule:
    include: bool
    clause: str
    any_policy: bool = False


@dataclass(frozen=True)
class FlagRule:
    value: bool
    clause: str


@dataclass(frozen=True)
class CertificateProfile:
    name: str
    version: int
    description: str
    kind: ProfileKind
    key_types: KeyTypeRule
    validity: ValidityRule
    basic_constraints: BasicConstraintsRule
    key_usage: KeyUsageRule
    subject: SubjectRule
    distribution: DistributionRule
    policies: PoliciesRule
    extended_key_usage: ExtendedKeyUsageRule | None = None
    subject_patterns: SubjectPatternsRule | None = None
    ocsp_nocheck: FlagRule | None = None
    etsi_type: str | None = None


@dataclass(frozen=True)
class IntRule:
    value: int
    clause: str


@dataclass(frozen=True)
class ReasonCodeRule:
    omit_unspecified: bool
    clause: str


@dataclass(frozen=True)
class CrlProfile:
    version: int
    description: str
    end_entity_next_update_days: IntRule
    ca_next_update_days: IntRule
    reason_code: ReasonCodeRule
    keep_expired: FlagRule
    partition_days: IntRule  # the notAfter window of a CRL partition (ca/partitions.py)


@dataclass(frozen=True)
class PolicySettings:
    """Deployment settings that profiles need: policy OIDs and the base URL of links.

    ``agency_policy_oid`` is the agency's own certificate policy (its arc under 2.16.764.1 in
    the ETDA OID registry); ``etsi_policy_oid`` is the EN 319 411-1 policy met: NCP+
    0.4.0.2042.1.2 when keys are in an HSM.
    """

    base_url: str
    agency_policy_oid: str
    etsi_policy_oid: str = "0.4.0.2042.1.2"


@dataclass(frozen=True)
class ProfileSet:
    version: int
    profiles: tuple[CertificateProfile, ...]
    crl: CrlProfile

    def get(self, name: str) -> CertificateProfile:
        from .errors import UnknownProfileError

        for p in self.profiles:
            if p.name == name:
                return p
        raise UnknownProfileError(f"unknown profile {name!r}; known: {', '.join(p.name for p in self.profiles)}")

    def names(self) -> list[str]:
        return [p.name for p in self.profiles]
