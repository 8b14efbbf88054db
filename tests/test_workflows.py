"""Issue 11, the application layer (workflows/): the order of a workflow's steps, seen through the
`govca` commands that call it, with real tokens and a real database."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.admin import AdminWiring
from conftest import Cli, create_hierarchy
from workflows.errors import WorkflowError

JURISTIC = "0994000159889"


def _official(cli: Cli, tmp_path: Path) -> int:
    cli("agency", "add", "--code", "A", "--name-th", "กรมที่ดิน", "--name-en", "Department of Lands",
        "--juristic-id", JURISTIC)
    oid = json.loads(cli("official", "add", "--agency", "A", "--given-name-th", "สมศรี", "--surname-th", "ใจงาม",
                         "--given-name-en", "Somsri", "--surname-en", "Jaingam", "--title", "Registrar",
                         "--json").stdout)["id"]
    pin = tmp_path / "pin"
    pin.write_text("246810\n")
    pin.chmod(0o600)
    cli("official", "enrol", str(oid), "--pin-file", str(pin), "--no-qr")
    return oid


def _listed(cli: Cli, oid: int) -> dict:
    return next(o for o in json.loads(cli("official", "list", "--json").stdout) if o["id"] == oid)


def test_srg_km_official_revocation_disables_the_credential_before_the_certificate_and_a_rerun_completes_it(
        cli: Cli, tmp_path: Path) -> None:
    """revoke_official: the credential first (from then on it cannot authorise, whatever happens
    next), then the certificate (RFC 5280 5.3.1, CRL and OCSP at once). With the CA token's PIN
    source unavailable the certificate step fails in one line naming it; the credential is
    already revoked; once the PIN source is back, the same command completes the revocation."""
    create_hierarchy(cli)
    oid = _official(cli, tmp_path)
    serial = _listed(cli, oid)["certificate_serial"]
    ca_pin = cli.home / "hsm" / "ca.pin"
    if not ca_pin.exists():
        pytest.fail(f"no CA token PIN file at {ca_pin}: govca init makes one per context (issue 11)")
    aside = ca_pin.with_name("ca.pin.aside")
    ca_pin.rename(aside)
    try:
        failed = cli("official", "revoke", str(oid), ok=False)
    finally:
        aside.rename(ca_pin)
    lines = failed.stderr.splitlines()
    assert failed.exit_code == 1 and len(lines) == 1 and lines[0].startswith("govca: error: "), failed.stderr
    assert "ca.pin" in lines[0] and "internal error" not in lines[0]
    assert _listed(cli, oid)["status"] == "revoked"                      # the credential: already revoked
    shown = json.loads(cli("cert", "show", "--ca", "issuing", serial, "--json").stdout)
    assert shown["status"] == "valid"                                     # the certificate: not yet
    done = cli("official", "revoke", str(oid)).stdout
    assert f"certificate {serial} revoked (cessationOfOperation)" in done and "CRL #" in done
    assert json.loads(cli("cert", "show", "--ca", "issuing", serial, "--json").stdout)["status"] == "revoked"
    again = cli("official", "revoke", str(oid), ok=False)
    assert again.exit_code == 1 and "already revoked" in again.stderr


def test_enrolment_asks_for_the_pin_only_for_an_enrollable_official_and_checks_its_form(cli: Cli,
                                                                                      tmp_path: Path) -> None:
    """enrol_official: an enrolled official is refused before the PIN is asked for (one key per
    official, ขมธอ. 36-2566 SRG_KM.11); a PIN that is not 6 to 12 digits is refused before any key
    is generated or certificate issued."""
    from workflows.officials import enrol_official

    create_hierarchy(cli)
    oid = _official(cli, tmp_path)
    fresh = json.loads(cli("official", "add", "--agency", "A", "--given-name-th", "สมชาย", "--surname-th", "ดี",
                           "--given-name-en", "Somchai", "--surname-en", "Dee", "--title", "Clerk",
                           "--json").stdout)["id"]
    certificates = len(json.loads(cli("cert", "list", "--json").stdout))
    asked: list[int] = []

    def pin(value: str):  # type: ignore[no-untyped-def]
        def read() -> str:
            asked.append(1)
            return value
        return read

    admin = AdminWiring(cli.home)
    try:
        from hsm import KeyType

        with pytest.raises(WorkflowError, match="already enrolled"):
            enrol_official(admin, oid, None, KeyType.EC_P256, pin("246810"), "test")
        assert asked == []
        with pytest.raises(WorkflowError, match="6 to 12 digits"):
            enrol_official(admin, fresh, None, KeyType.EC_P256, pin("12345"), "test")
        assert asked == [1]
    finally:
        admin.close()
    assert len(json.loads(cli("cert", "list", "--json").stdout)) == certificates
    assert _listed(cli, fresh)["status"] == "registered" and _listed(cli, fresh)["key_uri"] is None


def _service_keys(home: Path) -> list:
    from cli.compose import service_token
    from cli.config import load_config

    return sorted(o.label for o in service_token(load_config(home)).list_key_objects())


def test_en_319_411_1_each_workflow_opens_only_the_token_it_needs(cli: Cli, tmp_path: Path) -> None:
    """Custody by context (ETSI EN 319 411-1; issue 11): with the CA token's PIN source unavailable,
    the workflows that need no CA signature run (agencies, API clients, officials' states, OCSP
    responses signed with responder keys in the service token), and those that need one (a seal,
    the TSA, an OCSP responder certificate, a CRL) are refused in one line naming the CA token's
    PIN source, with no row written and no key generated in the service token."""
    from test_cli_refusals import snapshot

    create_hierarchy(cli)
    oid = _official(cli, tmp_path)
    cli("ocsp", "setup", "--ca", "issuing")
    client = json.loads(cli("apiclient", "create", "--agency", "A", "--name", "A system", "--json").stdout)["id"]
    ca_pin = cli.home / "hsm" / "ca.pin"
    ca_pin.rename(tmp_path / "ca.pin.aside")
    for argv in (["agency", "add", "--code", "B", "--name-th", "ข", "--name-en", "B", "--juristic-id",
                  "0994000165510"],
                 ["apiclient", "create", "--agency", "B", "--name", "B system"],
                 ["apiclient", "revoke", str(client)],
                 ["official", "suspend", str(oid)], ["official", "resume", str(oid)],
                 ["ocsp", "refresh", "--force"], ["official", "list"], ["cert", "list"], ["audit", "verify"]):
        cli(*argv)
    for argv in (["agency", "seal", "issue", "--agency", "A", "--ca", "issuing"],
                 ["tsa", "setup", "--ca", "issuing"],
                 ["ocsp", "setup", "--ca", "issuing"],
                 ["ocsp", "renew", "--force"],
                 ["crl", "refresh", "--max-age-hours", "0"]):
        rows, keys = snapshot(cli.home), _service_keys(cli.home)
        refused = cli(*argv, ok=False)
        lines = refused.stderr.splitlines()
        assert refused.exit_code == 1 and len(lines) == 1 and refused.stdout == "", (argv, refused.stderr)
        assert lines[0].startswith("govca: error: CA token") and str(ca_pin) in lines[0], lines[0]
        assert (snapshot(cli.home), _service_keys(cli.home)) == (rows, keys), argv
