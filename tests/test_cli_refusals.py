"""Issue 10 (CA administrator): every refusal of the `govca` command is ONE line on stderr beginning
`govca: error:`, nothing on stdout, exit 1 (2 for usage mistakes), and changes nothing: neither the
database's tables nor the audit log. Officials' PIN/OTP lock: shown by `official list`, lifted
(audited) by `official unlock`. Thai 13-digit IDs: the check digit."""
from __future__ import annotations

import datetime as dt
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from sqlalchemy import create_engine, inspect, text

from ca import Database
from cli.compose import service_token
from cli.config import load_config
from cli.runtime import thai_id_check_digit_ok
from cli.signer_wiring import official_repository
from conftest import REPO, Cli, create_hierarchy, make_home

GOOD_JURISTIC = "0994000159889"   # valid check digit (also in tests/sealing_helpers.py)
BAD_JURISTIC = "0994000159880"    # the same with a wrong check digit
GOOD_CITIZEN = "1101700203450"    # valid check digit
BAD_CITIZEN = "1101700203451"
SUBJECT = "/C=TH/O=Department of Lands/CN=กรมที่ดิน/organizationIdentifier=NTRTH-0994000159889"


def _official_args(agency: str = "A", *extra: str) -> list[str]:
    return ["official", "add", "--agency", agency, "--given-name-th", "สมศรี", "--surname-th", "ใจงาม",
            "--given-name-en", "Somsri", "--surname-en", "Jaingam", "--title", "Registrar", *extra]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One data directory for every refusal (each must leave it as it was): a root and an issuing
    CA, agency A with an e-seal, a revoked certificate, a revoked API client, a registered official
    (not locked) and a revoked official."""
    # Objects left by earlier tests in this process (a web app's HSM sessions and database pools)
    # are finalised now, before this long-lived data directory is opened, not in the middle of it.
    gc.collect()
    tmp = tmp_path_factory.mktemp("refusals")
    cli = Cli(make_home(tmp))
    create_hierarchy(cli)
    cli("agency", "add", "--code", "A", "--name-th", "กรมที่ดิน", "--name-en", "Department of Lands",
        "--juristic-id", GOOD_JURISTIC)
    revoked_cert = json.loads(cli("cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key",
                                  "ec-p256", "--subject", SUBJECT, "--json").stdout)["serial"]
    cli("cert", "revoke", "--ca", "issuing", revoked_cert, "--reason", "superseded")
    client = json.loads(cli("apiclient", "create", "--agency", "A", "--name", "A system", "--json").stdout)["id"]
    cli("apiclient", "revoke", str(client))
    registered = json.loads(cli(*_official_args("A", "--id-number", GOOD_CITIZEN, "--json")).stdout)["id"]
    gone = json.loads(cli(*_official_args("A", "--json")).stdout)["id"]
    pin = tmp / "pin"
    pin.write_text("246810\n")
    pin.chmod(0o600)
    cli("official", "enrol", str(gone), "--pin-file", str(pin), "--no-qr")
    cli("official", "revoke", str(gone))
    short_pin, open_pin, junk_csr = tmp / "short.pin", tmp / "open.pin", tmp / "junk.csr"
    short_pin.write_text("12ab\n")
    short_pin.chmod(0o600)
    open_pin.write_text("246810\n")
    open_pin.chmod(0o644)
    junk_csr.write_bytes(b"not a certification request")
    return {"cli": cli, "revoked_cert": revoked_cert, "client": client, "registered": registered, "gone": gone,
            "pin": pin, "short_pin": short_pin, "open_pin": open_pin, "junk_csr": junk_csr,
            "missing": tmp / "no-such-file"}


def snapshot(home: Path) -> dict[str, int]:
    """Row counts of every table (the audit log among them)."""
    engine = create_engine(load_config(home).database_url)
    try:
        with engine.connect() as c:
            return {t: c.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one()
                    for t in sorted(inspect(engine).get_table_names())}
    finally:
        engine.dispose()


# (why, argv, exit code, a fragment of the one line[, the audit action of a refusal the CA service
# audits by design: then exactly one new audit record, that action, outcome "refused"]).
# {placeholders} come from the world fixture.
MISTAKES: list[tuple] = [
    ("duplicate agency code", ["agency", "add", "--code", "A", "--name-th", "ก", "--name-en", "A",
                               "--juristic-id", GOOD_JURISTIC], 1, "already exists"),
    ("agency code not upper-case", ["agency", "add", "--code", "a b", "--name-th", "ก", "--name-en", "A",
                                    "--juristic-id", GOOD_JURISTIC], 1, "--code"),
    ("juristic id with a wrong check digit", ["agency", "add", "--code", "Z", "--name-th", "ก", "--name-en", "Z",
                                              "--juristic-id", BAD_JURISTIC], 1, "check digit"),
    ("juristic id of 12 digits", ["agency", "add", "--code", "Z", "--name-th", "ก", "--name-en", "Z",
                                  "--juristic-id", GOOD_JURISTIC[:12]], 1, "13 digits"),
    ("juristic id with letters", ["agency", "add", "--code", "Z", "--name-th", "ก", "--name-en", "Z",
                                  "--juristic-id", "09940001598AB"], 1, "check digit"),
    ("agency add without --name-th", ["agency", "add", "--code", "Z"], 2, "Missing option '--name-th'"),
    ("unknown agency for a seal", ["agency", "seal", "issue", "--agency", "NOPE", "--ca", "issuing"], 1, "NOPE"),
    ("bad key type for a seal", ["agency", "seal", "issue", "--agency", "A", "--ca", "issuing", "--key-type", "dsa"],
     2, "'--key-type'"),
    ("unknown agency for an API client", ["apiclient", "create", "--agency", "NOPE", "--name", "x"], 1, "NOPE"),
    ("unknown agency for an official", _official_args("NOPE"), 1, "NOPE"),
    ("citizen id with a wrong check digit", _official_args("A", "--id-number", BAD_CITIZEN), 1, "check digit"),
    ("citizen id of 12 digits", _official_args("A", "--id-number", GOOD_CITIZEN[:12]), 1, "13 digits"),
    ("official add without --agency", _official_args("A")[:2] + _official_args("A")[4:], 2,
     "Missing option '--agency'"),
    ("unknown API client", ["apiclient", "revoke", "424242"], 1, "no API client 424242"),
    ("API client revoked twice", ["apiclient", "revoke", "{client}"], 1, "revoked"),
    ("API client id not a number", ["apiclient", "revoke", "abc"], 2, "not a valid integer"),
    ("unknown CA for a certificate", ["cert", "show", "--ca", "nope", "01"], 1, "nope"),
    ("unknown serial", ["cert", "show", "--ca", "issuing", "0badc0ffee"], 1, ""),
    ("serial not hex", ["cert", "show", "--ca", "issuing", "xyz!"], 1, ""),
    ("revoke an unknown serial", ["cert", "revoke", "--ca", "issuing", "0badc0ffee", "--reason", "superseded"], 1, "",
     "cert.revoke"),
    ("revoke a serial that is not hex", ["cert", "revoke", "--ca", "issuing", "zz", "--reason", "superseded"], 1, "",
     "cert.revoke"),
    ("certificate revoked twice", ["cert", "revoke", "--ca", "issuing", "{revoked_cert}", "--reason", "superseded"],
     1, "", "cert.revoke"),
    ("unknown profile", ["cert", "issue", "--ca", "issuing", "--profile", "nope", "--generate-key", "ec-p256",
                         "--subject", SUBJECT], 1, "nope", "cert.issue"),
    ("unknown CA for an issue", ["cert", "issue", "--ca", "nope", "--profile", "eseal", "--generate-key", "ec-p256",
                                 "--subject", SUBJECT], 1, "nope", "cert.issue"),
    ("unknown CA to export", ["ca", "export", "nope"], 1, "nope"),
    ("unknown parent CA", ["ca", "create-issuing", "--name", "x", "--parent", "nope", "--subject", "/C=TH/CN=x"],
     1, "nope", "ca.create"),
    ("validity not a number", ["ca", "create-root", "--name", "x", "--subject", "/C=TH/CN=x", "--validity-years",
                               "ten"], 2, "not a valid integer"),
    ("bad status choice", ["cert", "list", "--status", "sleepy"], 2, "'--status'"),
    ("unknown CA for a CRL", ["crl", "generate", "--ca", "nope"], 1, "nope", "crl.generate"),
    ("unknown official to enrol", ["official", "enrol", "424242", "--pin-file", "{pin}"], 1, "no official 424242"),
    ("unknown official to suspend", ["official", "suspend", "424242"], 1, "no official 424242"),
    ("resume an official never enrolled", ["official", "resume", "{registered}"], 1, "registered"),
    ("revoke an official not enrolled", ["official", "revoke", "{registered}"], 1, "not enrolled"),
    ("official revoked twice", ["official", "revoke", "{gone}"], 1, "already revoked"),
    ("bad revocation reason", ["official", "revoke", "{gone}", "--reason", "boredom"], 2, "'--reason'"),
    ("unlock an unknown official", ["official", "unlock", "424242"], 1, "no official 424242"),
    ("unlock an official that is not locked", ["official", "unlock", "{registered}"], 1, "not locked"),
    ("unlock a revoked official", ["official", "unlock", "{gone}"], 1, "revoked"),
    ("official id not a number", ["official", "unlock", "abc"], 2, "not a valid integer"),
    ("unknown command", ["bogus"], 2, "No such command 'bogus'"),
    ("unknown subcommand", ["agency", "bogus"], 2, "No such command 'bogus'"),
    ("unknown top-level option", ["--bogus", "agency", "list"], 2, "No such option"),
    ("unknown option of a command", ["official", "list", "--bogus"], 2, "No such option"),
    ("extra argument", ["official", "list", "extra"], 2, "unexpected extra argument"),
    ("audit list limit not a number", ["audit", "list", "--limit", "many"], 2, "not a valid integer"),
    ("an option without its value names its command", ["audit", "list", "--action"], 2,
     "audit list: Option '--action' requires an argument. (see 'govca audit list --help')"),
    # Issue 11 acceptance 7: every command group, every workflow's refusals -----------------------
    ("unknown CA for an OCSP responder", ["ocsp", "setup", "--ca", "nope"], 1, "unknown CA 'nope'"),
    ("bad key type for an OCSP responder", ["ocsp", "setup", "--ca", "issuing", "--key-type", "dsa"], 2,
     "'--key-type'"),
    ("renew window not a number", ["ocsp", "renew", "--within-days", "soon"], 2, "not a valid integer"),
    ("unknown option of ocsp refresh", ["ocsp", "refresh", "--bogus"], 2, "No such option"),
    ("unknown CA for the TSA", ["tsa", "setup", "--ca", "nope"], 1, "unknown CA 'nope'"),
    ("TSA key type not offered", ["tsa", "setup", "--ca", "issuing", "--key-type", "rsa4096"], 2, "'--key-type'"),
    ("unknown CA for a seal", ["agency", "seal", "issue", "--agency", "A", "--ca", "nope"], 1, "unknown CA 'nope'",
     "cert.issue"),
    ("API client without a name", ["apiclient", "create", "--agency", "A"], 2, "Missing option '--name'"),
    ("issue with neither a CSR nor a key", ["cert", "issue", "--ca", "issuing", "--profile", "eseal"], 2,
     "exactly one of --csr or --generate-key"),
    ("a CSR file that is no CSR", ["cert", "issue", "--ca", "issuing", "--profile", "eseal", "--csr", "{junk_csr}"],
     1, "malformed CSR", "cert.issue"),
    ("a CSR file that does not exist", ["cert", "issue", "--ca", "issuing", "--profile", "eseal", "--csr",
                                        "{missing}"], 2, "does not exist"),
    ("a generated key without a subject", ["cert", "issue", "--ca", "issuing", "--profile", "eseal",
                                           "--generate-key", "ec-p256"], 1, "needs --subject", "cert.issue"),
    ("a CA profile for an end-entity issue", ["cert", "issue", "--ca", "issuing", "--profile", "root-ca",
                                              "--generate-key", "ec-p256", "--subject", SUBJECT], 1, "is for CAs",
     "cert.issue"),
    ("unknown revocation reason", ["cert", "revoke", "--ca", "issuing", "01", "--reason", "boredom"], 1,
     "unknown revocation reason", "cert.revoke"),
    ("cert show without a serial", ["cert", "show", "--ca", "issuing"], 2, "Missing argument 'SERIAL'"),
    ("duplicate CA name", ["ca", "create-root", "--name", "root", "--subject", "/C=TH/CN=x", "--key-type", "ec-p256"],
     1, "already exists", "ca.create"),
    ("CA name not fit for a URL", ["ca", "create-root", "--name", "Bad Name", "--subject", "/C=TH/CN=x",
                                   "--key-type", "ec-p256"], 1, "lower-case", "ca.create"),
    ("subject not in the slash form", ["ca", "create-root", "--name", "x", "--subject", "CN=x", "--key-type",
                                       "ec-p256"], 1, "slash form", "ca.create"),
    ("an issuing CA under an issuing CA", ["ca", "create-issuing", "--name", "sub", "--parent", "issuing",
                                           "--subject", "/C=TH/CN=sub", "--key-type", "ec-p256"], 1,
     "path length", "ca.create"),
    ("CRL refresh age not a number", ["crl", "refresh", "--max-age-hours", "old"], 2, "not a valid integer"),
    ("import a CRL for a CA whose key is here", ["crl", "import", "--ca", "issuing", "{junk_csr}"], 1,
     "it signs its own CRLs", "crl.import"),
    ("a ceremony file that is not TOML", ["ceremony", "run", "{pin}"], 1, "not a TOML file", "ceremony.run"),
    ("a ceremony transcript without its signature", ["ceremony", "verify", "{pin}"], 1, "no signature block"),
    ("unknown profile to show", ["profiles", "show", "nope"], 1, "unknown profile 'nope'"),
    ("unknown option of hsm keys", ["hsm", "keys", "--bogus"], 2, "No such option"),
    ("database roles on SQLite", ["db", "grant-web-role", "web"], 1, "PostgreSQL"),
    ("init over an existing data directory", ["init"], 1, "already a govca data directory"),
    ("serve port not a number", ["serve", "--port", "eighty"], 2, "not a valid integer"),
    ("demo with an extra argument", ["demo", "extra"], 2, "unexpected extra argument"),
    ("an official's PIN that is not 6 to 12 digits", ["official", "enrol", "{registered}", "--pin-file",
                                                      "{short_pin}"], 1, "6 to 12 digits"),
    ("an official's PIN file readable by others", ["official", "enrol", "{registered}", "--pin-file", "{open_pin}"],
     1, "must be mode 0600"),
    ("an official enrolled twice", ["official", "enrol", "{gone}", "--pin-file", "{pin}"], 1, "already enrolled"),
    ("an official enrolled twice, refused before the PIN is asked for", ["official", "enrol", "{gone}"], 1,
     "already enrolled"),
    ("unknown CA for an official", ["official", "enrol", "{registered}", "--ca", "nope", "--pin-file", "{pin}"], 1,
     "unknown CA 'nope'", "cert.issue"),
    ("suspend a revoked official", ["official", "suspend", "{gone}"], 1, "revoked; it cannot become suspended"),
    ("suspend an official never enrolled", ["official", "suspend", "{registered}"], 1,
     "registered; it cannot become suspended"),
]


def _fill(argv: list[str], world: dict) -> list[str]:
    return [a.format(**{k: str(v) for k, v in world.items() if k != "cli"}) for a in argv]


def test_the_table_is_at_least_thirty_mistakes() -> None:
    assert len(MISTAKES) >= 30 and len({m[0] for m in MISTAKES}) == len(MISTAKES)


def test_the_table_covers_every_command_group() -> None:
    """Issue 11 acceptance 7: a refusal of every command group of `govca` is in the table."""
    from cli.main import main

    assert set(main.commands) <= {m[1][0] for m in MISTAKES}, set(main.commands) - {m[1][0] for m in MISTAKES}


def _audit(cli: Cli) -> list[dict]:
    return json.loads(cli("audit", "list", "--json", "--limit", "100000").stdout)


@pytest.mark.parametrize("why,argv,code,fragment,audited", [(*m[:4], m[4] if len(m) > 4 else None) for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_a_refusal_is_one_line_on_stderr_and_changes_nothing(world: dict, why: str, argv: list[str], code: int,
                                                              fragment: str, audited: str | None) -> None:
    cli: Cli = world["cli"]
    before, audit_before = snapshot(cli.home), _audit(cli)
    result = cli(*_fill(argv, world), ok=False)
    lines = result.stderr.splitlines()
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("govca: error: "), result.stderr
    assert "internal error" not in lines[0] and "Traceback" not in lines[0]
    assert fragment in lines[0], lines[0]
    assert result.stdout == ""
    after = snapshot(cli.home)
    if audited is None:
        assert after == before
        return
    # a refusal the CA service audits by design: exactly that record, and nothing else changed
    assert after == {**before, "audit_log": before["audit_log"] + 1, "audit_head": before["audit_head"]}
    seqs = {e["seq"] for e in audit_before}
    new = [e for e in _audit(cli) if e["seq"] not in seqs]
    assert [(e["action"], e["outcome"]) for e in new] == [(audited, "refused")], new


@pytest.mark.parametrize("argv,code", [
    (["apiclient", "revoke", "424242"], 1),
    (["agency", "add", "--code", "Z", "--name-th", "ก", "--name-en", "Z", "--juristic-id", BAD_JURISTIC], 1),
    (["official", "unlock", "{registered}"], 1),
    (["agency", "add", "--code", "Z"], 2),
    (["bogus"], 2),
])
def test_a_refusal_through_python_m_cli_main_is_one_line_too(world: dict, argv: list[str], code: int) -> None:
    home = world["cli"].home
    before = snapshot(home)
    env = {**os.environ, "GOVCA_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("GOVCA_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "cli.main", *_fill(argv, world)], capture_output=True, text=True,
                       timeout=120, env=env, cwd=REPO)
    assert r.returncode == code, r.stderr
    assert r.stdout == "" and len(r.stderr.splitlines()) == 1 and r.stderr.startswith("govca: error: "), r.stderr
    assert snapshot(home) == before


def test_help_still_works(world: dict) -> None:
    cli: Cli = world["cli"]
    for argv in (["--help"], ["official", "--help"], ["official", "unlock", "--help"]):
        result = cli(*argv)
        assert result.exit_code == 0 and "Usage:" in result.stdout and result.stderr == ""


# Every package's error base reaches the administrator as one line ----------------------------------

def govca_error_bases() -> dict[type, str]:
    """The error bases of every govca package: each exception class defined in a module of a root
    package of setup.cfg's [importlinter] (so a new package is walked too) none of whose bases is
    another govca exception. Module-private classes (a leading '_': control flow inside one module)
    and the Alembic scripts (run on import) are left out."""
    import configparser
    import importlib
    import pkgutil

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    found: dict[type, str] = {}
    for root in cfg["importlinter"]["root_packages"].split():
        package = importlib.import_module(root)
        names = [root] + [m.name for m in pkgutil.walk_packages(package.__path__, f"{root}.")]
        for name in names:
            if ".migrations" in name:
                continue
            module = importlib.import_module(name)
            for obj in vars(module).values():
                if (isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == name
                        and not obj.__name__.startswith("_")):
                    found[obj] = name
    return {c: m for c, m in found.items() if not any(b in found for b in c.__mro__[1:])}


def test_every_packages_error_base_is_mapped_to_a_one_line_cli_error() -> None:
    """Issue 11: every package's error base is in the CLI's map (cli/runtime.py EXPECTED), so no
    refusal of any package is reported as an internal error; a new package's base fails this test."""
    from ca.errors import CaError
    from cli.config import ConfigError
    from cli.runtime import EXPECTED
    from hsm import HsmError
    from ocsp.errors import OcspError
    from policies import PolicyError
    from signer.errors import SignerError
    from signer.remote.csc import CscError
    from workflows import WorkflowError

    bases = govca_error_bases()
    assert {CaError, HsmError, OcspError, PolicyError, ConfigError, SignerError, CscError, WorkflowError} <= set(bases)
    assert {b.__module__.split(".")[0] for b in bases} >= {"ca", "hsm", "ocsp", "policies", "cli", "signer",
                                                           "workflows"}
    unmapped = sorted(f"{m}.{c.__name__}" for c, m in bases.items() if not issubclass(c, EXPECTED))
    assert unmapped == []


def test_every_packages_error_base_raised_in_a_command_prints_one_line_and_exits_1() -> None:
    """Each base, raised by a command of a GovcaGroup, is one `govca: error:` line with its own
    message, exit 1, never "internal error"."""
    from click.testing import CliRunner

    from cli.runtime import GovcaGroup

    for base, module in govca_error_bases().items():
        @click.group(cls=GovcaGroup)
        def group() -> None:
            pass

        @group.command("refuse")
        def refuse() -> None:
            exc = base.__new__(base)
            Exception.__init__(exc, f"refused by {module}\nsecond line")
            raise exc

        result = CliRunner().invoke(group, ["refuse"], catch_exceptions=False)
        assert result.exit_code == 1, (base, result.output)
        assert result.stderr == f"govca: error: refused by {module}; second line\n", (base, result.stderr)
        assert result.stdout == ""


def test_an_unknown_api_client_is_refused_in_one_line_not_an_internal_error(world: dict) -> None:
    """Issue 11 acceptance 7, as the issue names it: `govca apiclient revoke 42` (no such client)."""
    result = world["cli"]("apiclient", "revoke", "42", ok=False)
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "govca: error: no API client 42\n")


# Thai 13-digit identification numbers ------------------------------------------------------------

def test_thai_13_digit_check_digit_is_11_minus_weighted_sum_mod_11_mod_10() -> None:
    # weights 13..2 over the first twelve digits; check = (11 - sum mod 11) mod 10
    for valid in (GOOD_JURISTIC, "0994000165510", GOOD_CITIZEN):
        assert thai_id_check_digit_ok(valid), valid
    total = sum(int(GOOD_CITIZEN[i]) * (13 - i) for i in range(12))
    assert int(GOOD_CITIZEN[12]) == (11 - total % 11) % 10
    for invalid in (BAD_JURISTIC, BAD_CITIZEN, GOOD_JURISTIC[:12], GOOD_JURISTIC + "0", "099400015988a", "",
                    "๐๙๙๔๐๐๐๑๕๙๘๘๙"):   # Thai digits are not accepted either
        assert not thai_id_check_digit_ok(invalid), invalid
    # every wrong last digit is refused, exactly one is right
    assert sum(thai_id_check_digit_ok(GOOD_CITIZEN[:12] + str(d)) for d in range(10)) == 1


def test_thai_13_digit_check_digit_the_demo_agency_is_valid() -> None:
    from cli.demo import DEMO_AGENCY

    assert thai_id_check_digit_ok(DEMO_AGENCY[3])


def test_thai_13_digit_check_digit_valid_ids_are_accepted_and_kept(world: dict) -> None:
    cli: Cli = world["cli"]
    added = json.loads(cli(*_official_args("A", "--id-number", f" {GOOD_CITIZEN} ", "--json")).stdout)
    repo = _repo(cli.home)
    assert repo.get(added["id"]).id_number == GOOD_CITIZEN


# The PIN/OTP lock ---------------------------------------------------------------------------------

def _repo(home: Path):  # type: ignore[no-untyped-def]
    cfg = load_config(home)
    return official_repository(home, Database(cfg.database_url), service_token(cfg))


def _lock_by_five_failures(home: Path, official_id: int) -> dt.datetime:
    """Five wrong factors, counted as the CSC core counts them (lock_after 5, 15 minutes)."""
    from signer.remote.officials import OfficialRepository

    repo, now = _repo(home), dt.datetime.now(dt.timezone.utc)
    for _ in range(5):
        with repo.write() as s:
            OfficialRepository.count_failure(s, official_id, now, 5, 15)
    return now + dt.timedelta(minutes=15)


@pytest.fixture
def enrolled(cli: Cli, tmp_path: Path) -> dict:
    create_hierarchy(cli)
    cli("agency", "add", "--code", "A", "--name-th", "ก", "--name-en", "A", "--juristic-id", GOOD_JURISTIC)
    oid = json.loads(cli(*_official_args("A", "--json")).stdout)["id"]
    pin = tmp_path / "pin"
    pin.write_text("246810\n")
    pin.chmod(0o600)
    cli("official", "enrol", str(oid), "--pin-file", str(pin), "--no-qr")
    return {"cli": cli, "id": oid}


def test_official_list_shows_the_lock_and_unlock_lifts_it_audited(enrolled: dict) -> None:
    cli, oid = enrolled["cli"], enrolled["id"]
    listed = json.loads(cli("official", "list", "--json").stdout)[0]
    assert (listed["locked"], listed["locked_until"], listed["failed_attempts"]) == (False, None, 0)
    until = _lock_by_five_failures(cli.home, oid)
    listed = json.loads(cli("official", "list", "--json").stdout)[0]
    assert listed["status"] == "active" and listed["locked"] is True and listed["failed_attempts"] == 0
    shown = dt.datetime.fromisoformat(listed["locked_until"].replace("Z", "+00:00"))
    assert abs((shown - until).total_seconds()) < 5
    assert f"locked until {shown.strftime('%Y-%m-%d %H:%M:%SZ')}" in cli("official", "list").stdout
    # the official cannot authorise while locked
    assert _repo(cli.home).check_factors(oid, "246810", "000000", dt.datetime.now(dt.timezone.utc)).locked
    audit_before = json.loads(cli("audit", "list", "--json", "--limit", "1000").stdout)
    out = cli("official", "unlock", str(oid)).stdout
    assert f"official {oid} unlocked" in out and "246810" not in out
    listed = json.loads(cli("official", "list", "--json").stdout)[0]
    assert (listed["locked"], listed["locked_until"], listed["failed_attempts"]) == (False, None, 0)
    assert not _repo(cli.home).check_factors(oid, "246810", "000000", dt.datetime.now(dt.timezone.utc)).locked
    events = json.loads(cli("audit", "list", "--json", "--limit", "1000").stdout)
    assert len(events) == len(audit_before) + 1
    event = next(e for e in events if e["action"] == "official.unlock")
    assert event["subject"] == f"official:{oid}" and event["outcome"] == "success" and event["actor"]
    assert event["details"]["previous_locked_until"] == shown.strftime("%Y-%m-%d %H:%M:%SZ")
    assert "246810" not in json.dumps(event)
    # the PIN is unchanged: the same PIN is still right
    assert _repo(cli.home).check_factors(oid, "246810", "000000", dt.datetime.now(dt.timezone.utc)).pin_ok
    # a second unlock is refused with one line and changes nothing
    before = snapshot(cli.home)
    again = cli("official", "unlock", str(oid), ok=False)
    assert again.exit_code == 1 and again.stderr.startswith("govca: error: ") and "not locked" in again.stderr
    assert len(again.stderr.splitlines()) == 1 and snapshot(cli.home) == before


def test_official_list_shows_failed_attempts_below_the_lock(enrolled: dict) -> None:
    from signer.remote.officials import OfficialRepository

    cli, oid = enrolled["cli"], enrolled["id"]
    repo = _repo(cli.home)
    with repo.write() as s:
        OfficialRepository.count_failure(s, oid, dt.datetime.now(dt.timezone.utc), 5, 15)
        OfficialRepository.count_failure(s, oid, dt.datetime.now(dt.timezone.utc), 5, 15)
    listed = json.loads(cli("official", "list", "--json").stdout)[0]
    assert (listed["locked"], listed["failed_attempts"]) == (False, 2)
    assert "2 failed attempt(s)" in cli("official", "list").stdout
    refused = cli("official", "unlock", str(oid), ok=False)
    assert refused.exit_code == 1 and "not locked" in refused.stderr


def test_an_expired_lock_is_not_shown_as_locked(enrolled: dict) -> None:
    cli, oid = enrolled["cli"], enrolled["id"]
    from signer.remote.officials import OfficialRow

    with _repo(cli.home).write() as s:
        s.get(OfficialRow, oid).locked_until = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    listed = json.loads(cli("official", "list", "--json").stdout)[0]
    assert listed["locked"] is False and listed["locked_until"] is None
    assert "locked until" not in cli("official", "list").stdout


def test_unlock_is_refused_for_a_revoked_official_even_if_locked(enrolled: dict) -> None:
    cli, oid = enrolled["cli"], enrolled["id"]
    _lock_by_five_failures(cli.home, oid)
    cli("official", "revoke", str(oid))
    before = snapshot(cli.home)
    refused = cli("official", "unlock", str(oid), ok=False)
    assert refused.exit_code == 1 and refused.stderr.startswith("govca: error: ") and "revoked" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1 and refused.stdout == "" and snapshot(cli.home) == before


# `govca --json COMMAND`: the global option is handed down ---------------------------------------

def test_global_json_is_handed_to_the_command(world: dict) -> None:
    cli: Cli = world["cli"]
    assert json.loads(cli("--json", "agency", "list").stdout) == json.loads(cli("agency", "list", "--json").stdout)
    assert json.loads(cli("--json", "official", "list").stdout) == json.loads(cli("official", "list", "--json").stdout)
    assert json.loads(cli("--json", "cert", "list", "--status", "revoked").stdout)[0]["serial"] == world["revoked_cert"]


@pytest.mark.parametrize("argv,fragment", [
    (["--json", "official", "enrol", "{registered}", "--pin-file", "{pin}"], "--json is not available"),
    (["--json", "official", "suspend", "{registered}"], "--json is not available"),
    (["--json", "bogus"], "No such command 'bogus'"),
    (["--json", "official", "list", "--bogus"], "No such option"),
])
def test_global_json_refused_by_a_command_without_json_output_in_one_line(world: dict, argv: list[str],
                                                                          fragment: str) -> None:
    cli: Cli = world["cli"]
    before = snapshot(cli.home)
    result = cli(*_fill(argv, world), ok=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("govca: error: ")
    assert fragment in result.stderr and snapshot(cli.home) == before


def test_bare_govca_still_prints_its_help() -> None:
    from click.testing import CliRunner

    from cli.main import main

    result = CliRunner().invoke(main, [])
    assert "Usage:" in result.output and "official" in result.output
