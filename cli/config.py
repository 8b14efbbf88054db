"""govca.toml in the data directory, parsed strictly into a frozen GovcaConfig.

PINs are never in this file: each token's ``pin_source`` says where its PIN comes from.

Keys are held by security context (docs/architecture.md): ``[hsm.ca]`` is the token of the root
and issuing CA keys, opened only by administrator commands; ``[hsm.service]`` the token of every
key the running service uses (OCSP responders, TSA, e-seals, officials, MAC and encryption keys).
A data directory made before the split has one ``[hsm]`` table: both contexts then use that one
token, and ``tokens_shared`` says so.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "govca.toml"
# The default agency policy OID sits under IANA enterprise number 32473, reserved for
# documentation (RFC 5612): visibly a placeholder, never mistaken for a Thai OID. An agency
# replaces it with its own arc under 2.16.764.1 from the ETDA OID registry.
PLACEHOLDER_POLICY_OID = "1.3.6.1.4.1.32473.764.1"


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class HsmConfig:
    module: str
    token_label: str
    pin_source: str
    softhsm_conf: str | None = None


@dataclass(frozen=True)
class ServeConfig:
    """What `govca serve` uses that administrator commands do not."""

    database_url: str | None = None  # the web role's URL (PostgreSQL); None: the top-level database_url


@dataclass(frozen=True)
class OcspConfig:
    """Response validity and the pre-signing schedule (RFC 5019 4; docs/profile.md, OCSP responses)."""

    validity_hours: int = 48
    refresh_after_hours: int = 12
    max_cert_ids: int = 16


@dataclass(frozen=True)
class SignerConfig:
    """The sealing service and TSA. The TSA policy OID default is a documentation placeholder."""

    max_pdf_mb: int = 50
    tsa_policy_oid: str = "1.3.6.1.4.1.32473.764.2"
    tsa_accuracy_ms: int = 1000
    extra_roots: tuple[str, ...] = ()  # PEM files of further trust anchors for verification (e.g. NRCA)


@dataclass(frozen=True)
class ThrottleConfig:
    """Refused authentication per client address (signer/throttle.py), counted per gunicorn
    worker: the effective limit of one address is workers × failures_per_window per window."""

    failures_per_window: int = 30       # unauthenticated/failed requests of one address, then 429
    window_seconds: int = 60
    max_addresses: int = 10000          # addresses tracked per worker (least recently seen dropped)
    audit_records_per_window: int = 200  # refusal records per window per worker; the rest aggregated


@dataclass(frozen=True)
class AuditConfig:
    """Where signed audit checkpoints are exported (docs/audit.md): in production on other storage
    than the database (WORM, another host), so that a truncated log is caught."""

    checkpoint_dir: str = "audit/checkpoints"  # relative to the data directory, or absolute


@dataclass(frozen=True)
class GovcaConfig:
    home: Path
    database_url: str
    base_url: str
    hsm_ca: HsmConfig
    hsm_service: HsmConfig
    agency_policy_oid: str
    etsi_policy_oid: str = "0.4.0.2042.1.2"
    profiles_file: str | None = None
    ocsp: OcspConfig = OcspConfig()
    signer: SignerConfig = SignerConfig()
    throttle: ThrottleConfig = ThrottleConfig()
    serve: ServeConfig = ServeConfig()
    audit: AuditConfig = AuditConfig()
    offline: bool = False  # an offline root's data directory (govca ceremony): `govca serve` refuses it

    @property
    def tokens_shared(self) -> bool:
        """True when the CA keys share a token with the service (a data directory made before the
        split into contexts, or a configuration that names one token twice)."""
        a, b = self.hsm_ca, self.hsm_service
        return (a.module, a.token_label, a.softhsm_conf) == (b.module, b.token_label, b.softhsm_conf)

    @property
    def serve_database_url(self) -> str:
        return self.serve.database_url or self.database_url


_TOP = {"version", "database_url", "base_url", "profiles_file", "policy", "hsm", "ocsp", "signer", "throttle",
        "serve", "offline", "audit"}
_AUDIT = {"checkpoint_dir"}
_SERVE = {"database_url"}
_THROTTLE = {"failures_per_window", "window_seconds", "max_addresses", "audit_records_per_window"}
_SIGNER = {"max_pdf_mb", "tsa_policy_oid", "tsa_accuracy_ms", "extra_roots"}
_OCSP = {"validity_hours", "refresh_after_hours", "max_cert_ids"}
_POLICY = {"agency_policy_oid", "etsi_policy_oid"}
_HSM = {"module", "token_label", "pin_source", "softhsm_conf"}


def _strict(table: object, allowed: set[str], where: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key, value in table.items():
        if not isinstance(value, (str, int, dict, list)):
            raise ConfigError(f"{where}.{key}: unsupported value")
    return table


def load_config(home: Path) -> GovcaConfig:
    path = home / CONFIG_NAME
    if not path.exists():
        raise ConfigError(f"{home} is not a govca data directory (no {CONFIG_NAME}); run `govca init` first")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _strict(data, _TOP, CONFIG_NAME)
    policy = _strict(data.get("policy", {}), _POLICY, "policy")
    hsm_ca, hsm_service = _hsm_tables(data.get("hsm", {}), home)
    serve_table = _strict(data.get("serve", {}), _SERVE, "serve")
    if "database_url" in serve_table and not (isinstance(serve_table["database_url"], str)
                                              and serve_table["database_url"]):
        raise ConfigError("serve.database_url must be a non-empty SQLAlchemy URL")
    ocsp_table = _strict(data.get("ocsp", {}), _OCSP, "ocsp")
    if any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in ocsp_table.values()):
        raise ConfigError("ocsp: values must be positive integers")
    ocsp = OcspConfig(**ocsp_table)
    signer_table = _strict(data.get("signer", {}), _SIGNER, "signer")
    signer_table = dict(signer_table)
    if "extra_roots" in signer_table:
        roots = signer_table["extra_roots"]
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            raise ConfigError("signer.extra_roots must be a list of PEM file paths")
        signer_table["extra_roots"] = tuple(r if Path(r).is_absolute() else str(home / r) for r in roots)
    for key, value in signer_table.items():
        if key == "extra_roots":
            continue
        if key == "tsa_policy_oid" and not (isinstance(value, str) and all(p.isdigit() for p in value.split("."))):
            raise ConfigError("signer.tsa_policy_oid must be a dotted OID")
        if key != "tsa_policy_oid" and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ConfigError(f"signer.{key} must be a positive integer")
    signer = SignerConfig(**signer_table)
    throttle_table = _strict(data.get("throttle", {}), _THROTTLE, "throttle")
    for key, value in throttle_table.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"throttle.{key} must be a positive integer")
    if throttle_table.get("window_seconds", 60) > 3600:
        raise ConfigError("throttle.window_seconds must be at most 3600")
    throttle = ThrottleConfig(**throttle_table)
    if ocsp.refresh_after_hours * 2 > ocsp.validity_hours:
        raise ConfigError("ocsp.refresh_after_hours must be at most half of validity_hours, so that a missed "
                          "refresh never lets a served response expire")
    audit_table = _strict(data.get("audit", {}), _AUDIT, "audit")
    checkpoint_dir = audit_table.get("checkpoint_dir", AuditConfig.checkpoint_dir)
    if not isinstance(checkpoint_dir, str) or not checkpoint_dir:
        raise ConfigError("audit.checkpoint_dir must be a directory path")
    if not isinstance(data.get("offline", False), bool):
        raise ConfigError("offline must be true or false")
    return GovcaConfig(
        home=home,
        database_url=str(data.get("database_url") or f"sqlite:///{home / 'govca.db'}"),
        base_url=str(data.get("base_url", "http://127.0.0.1:8080")),
        hsm_ca=hsm_ca,
        hsm_service=hsm_service,
        agency_policy_oid=_required(policy, "agency_policy_oid", "policy"),
        etsi_policy_oid=str(policy.get("etsi_policy_oid", "0.4.0.2042.1.2")),
        profiles_file=data.get("profiles_file"),
        ocsp=ocsp,
        signer=signer,
        throttle=throttle,
        serve=ServeConfig(serve_table.get("database_url")),
        audit=AuditConfig(checkpoint_dir if Path(checkpoint_dir).is_absolute() else str(home / checkpoint_dir)),
        offline=data.get("offline", False),
    )


OFFLINE_LINES = ("# an offline root's data directory, made by `govca ceremony run`: never served\n"
                 "offline = true\n")


def mark_offline(home: Path) -> None:
    """Mark ``home`` as an offline root's data directory (a top-level key, so it goes before the tables)."""
    path = home / CONFIG_NAME
    text = path.read_text(encoding="utf-8")
    head = "version = 1\n"
    if head not in text:
        raise ConfigError(f"{path}: no 'version = 1' line to mark the directory offline after")
    path.write_text(text.replace(head, head + OFFLINE_LINES, 1), encoding="utf-8")


def _hsm_tables(table: object, home: Path) -> tuple[HsmConfig, HsmConfig]:
    """(CA token, service token) from ``[hsm.ca]`` and ``[hsm.service]``, or from the one ``[hsm]``
    table of a data directory made before the split (both contexts then name that token)."""
    if not isinstance(table, dict):
        raise ConfigError("hsm: expected a table")
    if not table:
        raise ConfigError("[hsm.ca] and [hsm.service] are required")
    if set(table) & _HSM:
        if set(table) & {"ca", "service"}:
            raise ConfigError("hsm: either one [hsm] table (one token for every key) or [hsm.ca] and "
                              "[hsm.service], not both")
        one = _hsm_config(table, "hsm", home)
        return one, one
    _strict(table, {"ca", "service"}, "hsm")
    for name in ("ca", "service"):
        if name not in table:
            raise ConfigError(f"[hsm.{name}] is required")
    return _hsm_config(table["ca"], "hsm.ca", home), _hsm_config(table["service"], "hsm.service", home)


def _hsm_config(table: object, where: str, home: Path) -> HsmConfig:
    hsm = _strict(table, _HSM, where)
    for key in ("module", "token_label", "pin_source"):
        if not isinstance(hsm.get(key), str) or not hsm.get(key):
            raise ConfigError(f"{where}.{key} is required")
    conf = hsm.get("softhsm_conf")
    if conf is not None and not isinstance(conf, str):
        raise ConfigError(f"{where}.softhsm_conf must be a path")
    return HsmConfig(hsm["module"], hsm["token_label"], hsm["pin_source"],
                     str(home / conf) if conf and not Path(conf).is_absolute() else conf)


def _required(table: dict, key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key} is required")
    return value


def render_config(*, database_url: str | None, base_url: str, hsm_ca: HsmConfig, hsm_service: HsmConfig,
                  agency_policy_oid: str) -> str:
    lines = ["# govca configuration (no secrets here: each token's PIN comes from its pin_source)", "version = 1"]
    if database_url:
        lines.append(f"database_url = {_q(database_url)}")
    else:
        lines.append("# database_url: unset means the SQLite file govca.db in this directory")
    lines += [f"base_url = {_q(base_url)}", "", "[policy]",
              "# PLACEHOLDER: IANA enterprise 32473 is reserved for documentation (RFC 5612). Replace it",
              "# with the agency's policy OID from its arc under 2.16.764.1 in the ETDA OID registry.",
              f"agency_policy_oid = {_q(agency_policy_oid)}",
              "# EN 319 411-1 NCP+ (keys in an HSM)", 'etsi_policy_oid = "0.4.0.2042.1.2"']
    for table, hsm, what in (("hsm.ca", hsm_ca, "root and issuing CA keys; opened only by administrator commands"),
                             ("hsm.service", hsm_service, "OCSP responder, TSA, e-seal, officials' and MAC keys: "
                                                          "the token `govca serve` opens")):
        lines += ["", f"# {what}", f"[{table}]", f"module = {_q(hsm.module)}",
                  f"token_label = {_q(hsm.token_label)}",
                  "# env:NAME, file:PATH (mode 0600, relative to this directory) or prompt",
                  f"pin_source = {_q(hsm.pin_source)}"]
        if hsm.softhsm_conf:
            lines.append(f"softhsm_conf = {_q(hsm.softhsm_conf)}")
    lines += ["", "[ocsp]", "# nextUpdate - thisUpdate of every response; pre-signed responses older than",
              "# refresh_after_hours are re-signed (run `govca ocsp refresh` hourly)",
              "validity_hours = 48", "refresh_after_hours = 12", "max_cert_ids = 16", "", "[signer]",
              "max_pdf_mb = 50", "# PLACEHOLDER (RFC 5612 documentation arc): the TSA policy OID of the agency",
              'tsa_policy_oid = "1.3.6.1.4.1.32473.764.2"',
              "# accuracy claimed in every time-stamp token; keep the clock NTP-disciplined well inside it",
              "tsa_accuracy_ms = 1000", "", "[throttle]",
              "# unauthenticated or failed requests of one client address per window, then 429; counted",
              "# per server worker (effective limit = workers x failures_per_window)",
              "failures_per_window = 30", "window_seconds = 60", "max_addresses = 10000",
              "audit_records_per_window = 200", "", "[audit]",
              "# signed audit checkpoints, one file each, and the audit public key (docs/audit.md); in",
              "# production put this on other storage than the database (WORM, another host)",
              'checkpoint_dir = "audit/checkpoints"']
    return "\n".join(lines) + "\n"


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
