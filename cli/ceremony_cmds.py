"""`govca ceremony run|verify` (the offline root's key ceremony, docs/ceremony.md) and
`govca crl import` (the online instance stores the offline root's ARL)."""
from __future__ import annotations

from pathlib import Path

import click

from workflows import WorkflowError
from workflows.ceremony import check_against_home, import_arl, run_ceremony, verify_transcript
from workflows.ceremony_file import load_ceremony

from .admin import admin_of
from .ca_cmds import crl_group
from .config import CONFIG_NAME, load_config, mark_offline
from .init_cmd import initialise
from .runtime import actor, emit, home_of, ts


@click.group("ceremony")
def ceremony_group() -> None:
    """The offline root's key ceremony: run a reviewed ceremony file, verify its transcript."""


@ceremony_group.command("run")
@click.argument("ceremony_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ceremony_run(ctx, ceremony_file, as_json):  # type: ignore[no-untyped-def]
    """Run CEREMONY_FILE's steps in the offline root's data directory (--home), which the ceremony
    creates (marked offline: never served) when it does not exist; write the signed transcript."""
    home = home_of(ctx)
    exists = (home / CONFIG_NAME).exists()
    audited = False  # a refusal is audited in an existing data directory (it has an audit log)
    try:
        if exists:
            cfg = load_config(home)
            audited = True
        ceremony = load_ceremony(ceremony_file)   # the whole file is checked before anything is done
        if exists:
            _check_home(ctx, home, cfg, ceremony)
        elif not ceremony.generates_root:
            raise click.ClickException(f"{home} is not a govca data directory: a ceremony that creates one "
                                       "begins with generate-root")
    except (WorkflowError, click.ClickException) as exc:
        if audited:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            admin_of(ctx).audit(actor(), "ceremony.run", ceremony_file.name, "refused", {"error": message})
        raise
    if not exists:
        initialise(home, None, ceremony.base_url)
        mark_offline(home)
    content = run_ceremony(admin_of(ctx), ceremony, actor(), initialised_now=not exists)
    emit(content, as_json, "\n".join(
        [f"ceremony {ceremony.name!r}: {len(content['steps'])} steps done, root {ceremony.root}"]
        + [f"  step {s['step']} {s['action']}: " + ", ".join(f"{o['file']} sha256 {o['sha256']}" for o in s["outputs"])
           for s in content["steps"]]
        + [f"transcript: {ceremony.transcript} (signed with the root key; check it with `govca ceremony verify`)"]))


def _check_home(ctx: click.Context, home: Path, cfg, ceremony) -> None:  # type: ignore[no-untyped-def]
    """An existing data directory: an offline root's, with the ceremony's base_url and root."""
    if not cfg.offline:
        raise click.ClickException(
            f"{home} is a data directory that is not marked offline (no 'offline = true' in {CONFIG_NAME}): "
            "a ceremony runs only in an offline root's data directory; name a new directory with --home "
            "and the ceremony creates it")
    if cfg.base_url != ceremony.base_url:
        raise click.ClickException(f"the ceremony's base_url {ceremony.base_url} is not this data directory's "
                                   f"{cfg.base_url}")
    check_against_home(admin_of(ctx), ceremony)


@ceremony_group.command("verify")
@click.argument("transcript", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--root-certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the expected root certificate (PEM or DER): the transcript must be signed by it")
@click.option("--check-outputs", is_flag=True,
              help="also compare the SHA-256 of each output file still present next to the transcript")
@click.option("--json", "as_json", is_flag=True)
def ceremony_verify(transcript, root_certificate, check_outputs, as_json):  # type: ignore[no-untyped-def]
    """Check a ceremony transcript's signature (any changed byte fails it) and report its steps."""
    expected = None
    if root_certificate is not None:
        from cryptography.hazmat.primitives.serialization import Encoding

        from ca.external import load_certificates

        certs = load_certificates(root_certificate.read_bytes(), f"root certificate {root_certificate.name}")
        if len(certs) != 1:
            raise click.ClickException(f"{root_certificate} must hold one certificate, the expected root")
        expected = certs[0].public_bytes(Encoding.DER)
    report = verify_transcript(transcript, expected, check_outputs)
    c = report.content
    emit({"ok": True, "root_subject": report.root_subject, "root_certificate_sha256": report.root_sha256,
          "ceremony": c["ceremony"], "operators": c["operators"], "witnesses": c["witnesses"],
          "outcome": c["outcome"], "stopped": c["stopped"], "steps": c["steps"], "files": report.files}, as_json,
         "\n".join([f"transcript signature verifies: root {report.root_subject} (certificate SHA-256 "
                    f"{report.root_sha256})" + ("" if expected else "; compare it with the published root"),
                    f"ceremony {c['ceremony']['name']!r} {c['started_at']} - {c['ended_at']}: {c['outcome']}",
                    f"operators: {', '.join(c['operators'])}; witnesses: {', '.join(c['witnesses'])}"]
                   + [f"  step {s['step']} {s['action']} {s['outcome']} ({s['started_at']} - {s['ended_at']})"
                      for s in c["steps"]]
                   + [f"  output {f['file']}: {f['state']}" for f in report.files]))


@crl_group.command("import")
@click.option("--ca", "ca_name", required=True, help="the external CA (an offline root) whose CRL this is")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def crl_import(ctx, ca_name, file, as_json):  # type: ignore[no-untyped-def]
    """Import the CRL (ARL) an external CA signed, after the RFC 5280 6.3.3 checks; /crl/CA.crl then serves it."""
    crl, stored = import_arl(admin_of(ctx), ca_name, file.read_bytes(), actor())
    emit({"ca": ca_name, "crl_number": crl.crl_number, "this_update": crl.this_update,
          "next_update": crl.next_update, "stored": stored}, as_json,
         f"CRL #{crl.crl_number} of {ca_name} " + ("imported" if stored else "was held already")
         + f": thisUpdate {ts(crl.this_update)}, nextUpdate {ts(crl.next_update)}")
