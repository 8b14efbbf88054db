"""Shared fixtures: a fresh data directory (own SoftHSM2 token, random PINs) per test, on
SQLite and, when one answers, on PostgreSQL (a fresh database per test)."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("GOVCA_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
OUTPUT = REPO / "test-output"
# The base URL of links in certificates for interop tests: a documentation domain (RFC 2606)
# under a public suffix, since ETSI EN 319 412 lints refuse internal names such as 127.0.0.1.
PUBLIC_BASE_URL = "http://pki.example.com"

_used_databases: set[str] = set()
_pg_state: dict[str, object] = {}


def pg_available() -> bool:
    if "ok" not in _pg_state:
        try:
            import sqlalchemy

            engine = sqlalchemy.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            engine.dispose()
            _pg_state["ok"] = True
        except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
            _pg_state["ok"] = False
            _pg_state["why"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return bool(_pg_state["ok"])


def _pg_database() -> tuple[str, str]:
    import sqlalchemy

    name = f"govca_test_{secrets.token_hex(6)}"
    engine = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(name: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest):
    """None (SQLite in the data directory) or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        _used_databases.add("SQLite")
        yield None
        return
    if not pg_available():
        pytest.skip(f"PostgreSQL run skipped: no server answers at {PG_ADMIN_URL.split('@')[-1]} "
                    f"({_pg_state.get('why')})")
    name, url = _pg_database()
    _used_databases.add("PostgreSQL")
    try:
        yield url
    finally:
        _drop_pg_database(name)


def make_home(tmp_path: Path, database_url: str | None = None, base_url: str = PUBLIC_BASE_URL) -> Path:
    """`govca init`: a CA token (govca-ca) and a service token (govca-service), PIN files in hsm/."""
    from cli.init_cmd import initialise

    home = tmp_path / "home"
    initialise(home, database_url, base_url)
    if database_url is None:
        _used_databases.add("SQLite")
    return home


# govca.toml as `govca init` wrote it before the CA token was split off (issue 11): one [hsm]
# table, token "govca", one user PIN. Kept verbatim so the legacy layout stays tested.
LEGACY_CONFIG = """# govca configuration (no secrets here: the PIN comes from hsm.pin_source)
version = 1
{database_line}
base_url = "{base_url}"

[policy]
agency_policy_oid = "1.3.6.1.4.1.32473.764.1"
etsi_policy_oid = "0.4.0.2042.1.2"

[hsm]
module = "{module}"
token_label = "govca"
# env:NAME, file:PATH (mode 0600, relative to this directory) or prompt
pin_source = "file:hsm/user.pin"
softhsm_conf = "hsm/softhsm2.conf"

[ocsp]
validity_hours = 48
refresh_after_hours = 12
max_cert_ids = 16
"""


def make_legacy_home(tmp_path: Path, database_url: str | None = None, base_url: str = PUBLIC_BASE_URL) -> Path:
    """A data directory in the layout of the earlier version: one token ("govca") for every key,
    its PINs in hsm/user.pin and hsm/so.pin, and secrets/server.key."""
    from ca import Database, upgrade_schema
    from hsm import find_softhsm_module, init_softhsm_token, write_pin_file, write_softhsm_conf

    home = tmp_path / "legacy-home"
    home.mkdir(mode=0o700)
    conf = write_softhsm_conf(home / "hsm")
    user_pin, so_pin = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    init_softhsm_token(conf, "govca", so_pin, user_pin)
    write_pin_file(home / "hsm" / "user.pin", user_pin)
    write_pin_file(home / "hsm" / "so.pin", so_pin)
    (home / "secrets").mkdir(mode=0o700)
    fd = os.open(home / "secrets" / "server.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    database_line = (f'database_url = "{database_url}"' if database_url
                     else "# database_url: unset means the SQLite file govca.db in this directory")
    (home / "govca.toml").write_text(LEGACY_CONFIG.format(database_line=database_line, base_url=base_url,
                                                          module=find_softhsm_module()), encoding="utf-8")
    db = Database(database_url or f"sqlite:///{home / 'govca.db'}")
    try:
        upgrade_schema(db)
    finally:
        db.dispose()
    if database_url is None:
        _used_databases.add("SQLite")
    return home


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh SQLite data directory with its own token."""
    return make_home(tmp_path)


@pytest.fixture
def any_home(tmp_path: Path, database_url: str | None) -> Path:
    """A fresh data directory on SQLite, and again on PostgreSQL."""
    return make_home(tmp_path, database_url)


class Cli:
    """Runs `govca --home HOME ...` in-process and returns click's Result."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        from cli.main import main

        result = self.runner.invoke(main, ["--home", str(self.home), *args], catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(f"govca {' '.join(args)} failed ({result.exit_code}): {result.output}")
        return result


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


def create_hierarchy(cli: Cli) -> Cli:
    """Root (EC P-384, fast to generate) and an issuing CA (EC P-384), named root and issuing."""
    cli("ca", "create-root", "--name", "root", "--subject", "/C=TH/O=govca Test/CN=govca Test Root",
        "--key-type", "ec-p384")
    cli("ca", "create-issuing", "--name", "issuing", "--parent", "root", "--subject",
        "/C=TH/O=govca Test/CN=govca Test Issuing CA", "--key-type", "ec-p384")
    return cli


@pytest.fixture
def hierarchy(cli: Cli) -> Cli:
    return create_hierarchy(cli)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def tool(name: str) -> str:
    """A command from the virtualenv (pkilint's lint_* tools), else from PATH."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed")
    return found


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    used = ", ".join(sorted(_used_databases)) or "none"
    line = f"databases used: {used}"
    if "ok" in _pg_state and not _pg_state["ok"]:
        line += f" (PostgreSQL runs skipped: {_pg_state.get('why')})"
    terminalreporter.write_line(line)
