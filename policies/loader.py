"""Load profile data files strictly: unknown keys, wrong types and missing clauses are errors."""
from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ProfileConfigError
from .model import (BasicConstraintsRule, CertificateProfile, CrlProfile, DistributionRule, ExtendedKeyUsageRule,
                    FlagRule, IntRule, KeyTypeRule, KeyUsageRule, PoliciesRule, ProfileKind, ProfileSet,
                    ReasonCodeRule, SubjectPatternsRule, SubjectRule, ValidityRule)

_KEY_USAGES = {"digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
               "key_agreement", "key_cert_sign", "crl_sign"}
_KEY_TYPES = {"rsa2048", "rsa3072", "rsa4096", "ec-p256", "ec-p384"}
DEFAULT_PROFILES = "profiles-v1.toml"


def _build(cls: type, data: Any, where: str) -> Any:
    """Build a frozen dataclass from a TOML table, refusing unknown keys (`a-b` means `a_b`)."""
    if not isinstance(data, dict):
        raise ProfileConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        if key not in fields:
            raise ProfileConfigError(f"{where}: unknown key {raw_key!r}")
        kwargs[key] = _coerce(hints[key], value, f"{where}.{raw_key}")
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING]
    if missing:
        raise ProfileConfigError(f"{where}: missing {', '.join(missing)}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(options[0], value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ProfileConfigError(f"{where}: expected a list")
        return tuple(_coerce(typing.get_args(hint)[0], v, where) for v in value)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, ProfileKind):
        try:
            return ProfileKind(value)
        except ValueError:
            raise ProfileConfigError(f"{where}: unknown kind {value!r}") from None
    expected = {int: int, str: str, bool: bool}.get(hint)
    if expected is None:
        raise ProfileConfigError(f"{where}: unsupported field type {hint}")
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ProfileConfigError(f"{where}: expected {expected.__name__}, got {type(value).__name__}")
    return value


def _profile(name: str, version: int, table: dict[str, Any]) -> CertificateProfile:
    table = dict(table)
    patterns = table.pop("subject_patterns", None)
    where = f"profiles.{name}"
    if patterns is not None:
        patterns = dict(patterns)
        clause = patterns.pop("clause", None)
        if not isinstance(clause, str):
            raise ProfileConfigError(f"{where}.subject_patterns: missing clause")
    prof: CertificateProfile = _build(CertificateProfile, {"name": name, "version": version, **table}, where)
    if patterns is not None:
        prof = dataclasses.replace(prof, subject_patterns=SubjectPatternsRule(
            tuple((k, str(v)) for k, v in patterns.items()), clause))
    _check_profile(prof, where)
    return prof


def _check_profile(p: CertificateProfile, where: str) -> None:
    bad_ku = set(p.key_usage.values) - _KEY_USAGES
    if bad_ku:
        raise ProfileConfigError(f"{where}.key_usage: unknown bits {sorted(bad_ku)}")
    bad_kt = set(p.key_types.values) - _KEY_TYPES
    if bad_kt:
        raise ProfileConfigError(f"{where}.key_types: unknown key types {sorted(bad_kt)}")
    v = p.validity
    if not (0 < v.min_days <= v.default_days <= v.max_days):
        raise ProfileConfigError(f"{where}.validity: need 0 < min_days <= default_days <= max_days")
    if not set(p.subject.required) <= set(p.subject.allowed):
        raise ProfileConfigError(f"{where}.subject: every required attribute must also be allowed")
    if p.kind.is_ca != p.basic_constraints.ca:
        raise ProfileConfigError(f"{where}: kind {p.kind.value} disagrees with basic_constraints.ca")


def load_profiles(path: Path | None = None) -> ProfileSet:
    """Load a profile file (default: the shipped profiles-v1.toml)."""
    try:
        if path is None:
            text = resources.files("policies").joinpath("data").joinpath(DEFAULT_PROFILES).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileConfigError(f"cannot read profiles: {exc}") from exc
    unknown = set(data) - {"version", "profiles", "crl"}
    if unknown:
        raise ProfileConfigError(f"unknown top-level keys {sorted(unknown)}")
    version = data.get("version")
    if not isinstance(version, int):
        raise ProfileConfigError("profiles file needs an integer 'version'")
    profiles = tuple(_profile(name, version, table) for name, table in data.get("profiles", {}).items())
    crl = _build(CrlProfile, {"version": version, **data.get("crl", {})}, "crl")
    if crl.partition_days.value < 1:
        raise ProfileConfigError("crl.partition_days: need at least 1 day")
    return ProfileSet(version=version, profiles=profiles, crl=crl)


__all__ = ["load_profiles", "BasicConstraintsRule", "DistributionRule", "ExtendedKeyUsageRule", "FlagRule",
           "IntRule", "KeyTypeRule", "KeyUsageRule", "PoliciesRule", "ReasonCodeRule", "SubjectRule", "ValidityRule"]
