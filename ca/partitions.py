"""CRL partitions: temporal, by the certificate's notAfter window (as Boulder shards its CRLs).

An end-entity certificate of an issuing CA belongs to the window of ``partition_days`` days
(aligned to 1970-01-01) that holds its notAfter; the partition is named by the window's first
day, ``YYYYMMDD``. A partition then holds only certificates expiring in one window, so its size
is bounded by the issuance rate times the window, not by the CA's history; once its window has
passed it stops growing, and it can stop being published once every certificate in it has
expired (and its last CRL's nextUpdate has passed). The name is stored per certificate
(``certificates.crl_partition``) at issuance, so a later change of ``partition_days`` never
moves an issued certificate: its CRL distribution point keeps resolving.
"""
from __future__ import annotations

import datetime as dt
import re

from policies import CertificateProfile, ProfileKind

NAME = re.compile(r"^[0-9]{8}$")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def partition_of(not_after: dt.datetime, days: int) -> str:
    """The partition of a certificate expiring at ``not_after``: its window's first day, YYYYMMDD."""
    if days < 1:
        raise ValueError("partition_days must be at least 1")
    window = (not_after.astimezone(dt.timezone.utc) - EPOCH) // dt.timedelta(days=days)
    return (EPOCH + dt.timedelta(days=window * days)).strftime("%Y%m%d")


def window_end(partition: str, days: int) -> dt.datetime:
    """When the partition's window closes (every certificate in it has expired by then)."""
    start = dt.datetime.strptime(partition, "%Y%m%d").replace(tzinfo=dt.timezone.utc)
    return start + dt.timedelta(days=days)


def is_partitioned(profile: CertificateProfile, issuer_kind: ProfileKind | None) -> bool:
    """Whether a certificate gets a partition: an end entity with a CRL DP issued by an issuing CA.
    CA certificates (issued by the root) stay on the root's ARL; a root names no CRL DP."""
    return bool(profile.distribution.crl) and not profile.kind.is_ca and issuer_kind is ProfileKind.ISSUING_CA


def partition_url(base_url: str, ca_name: str, partition: str) -> str:
    return f"{base_url.rstrip('/')}/crl/{ca_name}/{partition}.crl"
