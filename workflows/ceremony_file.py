"""The ceremony file (docs/ceremony.md): one reviewed TOML file that names the ceremony, the root,
the operators and witnesses present, and the ordered steps. It is parsed and checked whole
before any step runs: unknown keys, missing or unreadable inputs, outputs that exist already,
bad names, subjects, key types, validities, requests and reasons are each refused with one line
naming the step and key, and nothing is done.

Paths are relative to the ceremony file's directory. Outputs are never overwritten (a
ceremony's outputs are evidence: an earlier one is not replaced by accident)."""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BadValueError

ACTIONS = ("generate-root", "certify-issuing", "revoke", "sign-arl")
ROOT_KEY_TYPES = ("ec-p384", "rsa4096")
_CEREMONY_KEYS = {"name", "root", "base_url", "transcript", "operators", "witnesses"}
_STEP_KEYS = {
    "generate-root": ({"action", "subject", "key_type", "validity_years", "certificate_out"}, set()),
    "certify-issuing": ({"action", "request", "certificate_out"}, {"validity_years"}),
    "revoke": ({"action", "reason"}, {"serial", "certificate"}),
    "sign-arl": ({"action", "arl_out"}, set()),
}
_INPUTS = ("request", "certificate")
_OUTPUTS = ("certificate_out", "arl_out")


class CeremonyFileError(BadValueError):
    """The ceremony file is refused before any step runs."""


@dataclass(frozen=True)
class Step:
    number: int
    action: str
    params: dict
    inputs: dict[str, Path] = field(default_factory=dict)   # key -> absolute path
    outputs: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Ceremony:
    path: Path
    sha256: str
    name: str
    root: str
    base_url: str
    transcript: Path
    operators: tuple[str, ...]
    witnesses: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def generates_root(self) -> bool:
        return any(s.action == "generate-root" for s in self.steps)


def load_ceremony(path: Path) -> Ceremony:
    """Parse and check the ceremony file at ``path`` (no data directory needed)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CeremonyFileError(f"cannot read the ceremony file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CeremonyFileError(f"{path.name}: not a TOML file ({exc})") from None
    base = path.resolve().parent
    _keys(data, {"ceremony", "step"}, set(), path.name)
    head = data["ceremony"]
    if not isinstance(head, dict):
        raise CeremonyFileError("[ceremony] must be a table")
    _keys(head, _CEREMONY_KEYS, set(), "[ceremony]")
    name = _text(head, "name", "[ceremony]")
    root = _text(head, "root", "[ceremony]")
    from ca.external import CA_NAME

    if not CA_NAME.match(root):
        raise CeremonyFileError(f"[ceremony] root {root!r} must be lower-case letters, digits and '-' "
                                "(it names /crl/<root>.crl on the online instance)")
    base_url = _text(head, "base_url", "[ceremony]")
    if not base_url.startswith("http://") or base_url.rstrip("/") == "http:/":
        raise CeremonyFileError("[ceremony] base_url must be the online repository's plain http:// URL "
                                "(RFC 5280 4.2.1.13: CRLs are fetched over HTTP)")
    operators, witnesses = _names(head, "operators"), _names(head, "witnesses")
    both = set(operators) & set(witnesses)
    if both:
        raise CeremonyFileError(f"[ceremony] {', '.join(sorted(both))} cannot be both operator and witness")
    transcript = _out_path(base, _text(head, "transcript", "[ceremony]"), "[ceremony] transcript")
    steps_raw = data["step"]
    if not isinstance(steps_raw, list) or not steps_raw:
        raise CeremonyFileError("the ceremony has no [[step]]")
    steps = tuple(_step(i, s, base) for i, s in enumerate(steps_raw, 1))
    seen: dict[Path, str] = {transcript: "[ceremony] transcript"}
    for step in steps:
        for key, out in step.outputs.items():
            if out in seen:
                raise CeremonyFileError(f"step {step.number}: {key} {out.name} is written twice (also {seen[out]})")
            seen[out] = f"step {step.number} {key}"
    for step in steps:
        for key, src in step.inputs.items():
            if src.resolve() in seen:
                raise CeremonyFileError(f"step {step.number}: {key} {src.name} is also an output ({seen[src.resolve()]})")
    gens = [s.number for s in steps if s.action == "generate-root"]
    if len(gens) > 1 or (gens and gens[0] != 1):
        raise CeremonyFileError("generate-root must be the first step, and the only one: a ceremony acts on one root")
    return Ceremony(path=path.resolve(), sha256=hashlib.sha256(raw).hexdigest(), name=name, root=root,
                    base_url=base_url.rstrip("/"), transcript=transcript, operators=operators,
                    witnesses=witnesses, steps=steps)


def _step(number: int, raw: Any, base: Path) -> Step:
    where = f"step {number}"
    if not isinstance(raw, dict):
        raise CeremonyFileError(f"{where}: must be a table")
    action = raw.get("action")
    if action not in _STEP_KEYS:
        raise CeremonyFileError(f"{where}: action {action!r} is not one of {', '.join(ACTIONS)}")
    where = f"step {number} ({action})"
    required, optional = _STEP_KEYS[action]
    _keys(raw, required, optional, where)
    params: dict[str, Any] = {}
    inputs, outputs = {}, {}
    for key, value in raw.items():
        if key == "action":
            continue
        if key in _INPUTS:
            inputs[key] = _in_path(base, _text(raw, key, where), f"{where} {key}")
        elif key in _OUTPUTS:
            outputs[key] = _out_path(base, _text(raw, key, where), f"{where} {key}")
        elif key == "validity_years":
            if not isinstance(value, int) or isinstance(value, bool):
                raise CeremonyFileError(f"{where}: validity_years must be a whole number of years")
            params[key] = value
        else:
            params[key] = _text(raw, key, where)
    if "validity_years" in params:
        _check_validity(params["validity_years"], "root-ca" if action == "generate-root" else "issuing-ca", where)
    if action == "generate-root":
        if params["key_type"] not in ROOT_KEY_TYPES:
            raise CeremonyFileError(f"{where}: key_type {params['key_type']!r} is not one of "
                                    f"{', '.join(ROOT_KEY_TYPES)}")
        _check_subject(params["subject"], where)
    elif action == "certify-issuing":
        _check_request(inputs["request"], where)
    elif action == "revoke":
        _check_revoke(params, inputs, where)
    return Step(number, action, params, inputs, outputs)


def years_to_days(years: int) -> int:
    """As `govca ca create-root --validity-years`: a year is 365.25 days on average."""
    return int(years * 365.25)


def _check_validity(years: int, profile_name: str, where: str) -> None:
    from policies import load_profiles

    rule = load_profiles().get(profile_name).validity
    if not rule.min_days <= years_to_days(years) <= rule.max_days:
        raise CeremonyFileError(f"{where}: validity_years {years} ({years_to_days(years)} days) is outside "
                                f"{rule.min_days}-{rule.max_days} days ({rule.clause})")


def _check_subject(subject: str, where: str) -> None:
    from policies import NameSyntaxError, build_name, check_subject, load_profiles, parse_slash_subject

    try:
        attrs = parse_slash_subject(subject)
        build_name(attrs)
    except NameSyntaxError as exc:
        raise CeremonyFileError(f"{where}: subject: {exc}") from None
    findings = check_subject(load_profiles().get("root-ca"), attrs)
    if findings:
        raise CeremonyFileError(f"{where}: subject: {findings[0].message}")


def _check_request(path: Path, where: str) -> None:
    from ca.csr import load_csr
    from ca.errors import CaError
    from ca.issuance import subject_from_csr
    from policies import check_key_type, check_subject, load_profiles

    profile = load_profiles().get("issuing-ca")
    try:
        subject = subject_from_csr(load_csr(path.read_bytes()), None)
    except CaError as exc:
        raise CeremonyFileError(f"{where}: request {path.name}: {exc}") from None
    findings = check_key_type(profile, subject.public_key) + check_subject(profile, subject.attrs)
    if findings:
        raise CeremonyFileError(f"{where}: request {path.name}: {findings[0].message}")


def _check_revoke(params: dict, inputs: dict, where: str) -> None:
    from ca.errors import CaError
    from ca.external import load_certificates
    from ca.records import normalise_serial
    from ca.revocation import ALLOWED_REASONS

    if ("serial" in params) == ("certificate" in inputs):
        raise CeremonyFileError(f"{where}: give exactly one of serial or certificate")
    if params["reason"] not in ALLOWED_REASONS:
        raise CeremonyFileError(f"{where}: reason {params['reason']!r} is not one of {', '.join(ALLOWED_REASONS)} "
                                "(RFC 5280 5.3.1)")
    if "serial" in params:
        try:
            params["serial"] = normalise_serial(params["serial"])
        except ValueError as exc:
            raise CeremonyFileError(f"{where}: {exc}") from None
        return
    try:
        certs = load_certificates(inputs["certificate"].read_bytes(), f"certificate {inputs['certificate'].name}")
    except CaError as exc:
        raise CeremonyFileError(f"{where}: {exc}") from None
    if len(certs) != 1:
        raise CeremonyFileError(f"{where}: certificate {inputs['certificate'].name} must hold one certificate")
    cert = certs[0]
    params["serial"] = normalise_serial(f"{cert.serial_number:x}")


def _keys(table: dict, required: set[str], optional: set[str], where: str) -> None:
    unknown = set(table) - required - optional
    if unknown:
        raise CeremonyFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    missing = required - set(table)
    if missing:
        raise CeremonyFileError(f"{where}: missing {', '.join(sorted(missing))}")


def _text(table: dict, key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CeremonyFileError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _names(head: dict, key: str) -> tuple[str, ...]:
    value = head.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise CeremonyFileError(f"[ceremony] {key} must list at least one name")
    names = tuple(v.strip() for v in value)
    if len(set(names)) != len(names):
        raise CeremonyFileError(f"[ceremony] {key} names someone twice")
    return names


def _in_path(base: Path, text: str, where: str) -> Path:
    path = (base / text).resolve()
    if not path.is_file():
        raise CeremonyFileError(f"{where}: input file {text} does not exist")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise CeremonyFileError(f"{where}: input file {text} cannot be read ({exc.strerror})") from None
    return path


def _out_path(base: Path, text: str, where: str) -> Path:
    path = (base / text).resolve()
    if path.exists():
        raise CeremonyFileError(f"{where}: output file {text} exists already; a ceremony never overwrites "
                                "its evidence")
    if not path.parent.is_dir():
        raise CeremonyFileError(f"{where}: the directory of output file {text} does not exist")
    return path
