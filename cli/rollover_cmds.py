"""`govca ca rollover` (the workflow is workflows/rollover.py)."""
from __future__ import annotations

from pathlib import Path

import click

from hsm import KeyType
from workflows.rollover import roll_over

from .admin import admin_of
from .ca_cmds import KEY_TYPES, _ca_json, _pending_json, _years_to_days, ca_group, pem_text
from .external_cmds import write_new_file
from .runtime import actor, emit, ts


@ca_group.command("rollover")
@click.option("--name", "old_name", required=True, help="the active issuing CA to replace")
@click.option("--new-name", required=True, help="the successor's name")
@click.option("--key-type", type=KEY_TYPES, help="the successor's key type (default: the old CA's)")
@click.option("--subject", help="the successor's subject in slash form (default: the old CA's; the new key tells "
              "them apart)")
@click.option("--validity-years", type=int, help="the successor's validity (parent here only)")
@click.option("--csr-out", type=click.Path(dir_okay=False, path_type=Path),
              help="parent external or offline: the file for the successor's request")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ca_rollover(ctx, old_name, new_name, key_type, subject, validity_years, csr_out, as_json):  # type: ignore[no-untyped-def]
    """Create the successor of an issuing CA, certified by the same parent (through a request file
    when that parent is external); the old CA becomes retiring at once, or when the successor's
    certificate is imported (it keeps its CRLs, OCSP responder and repository entries, and issues
    nothing else)."""
    if csr_out is not None:
        if csr_out.exists():
            raise click.UsageError(f"{csr_out} exists already: choose a new file for the request")
        if not csr_out.parent.is_dir():
            raise click.UsageError(f"{csr_out.parent} is not a directory")
    done = roll_over(admin_of(ctx), old_name, new_name, actor=actor(), key_type=KeyType(key_type) if key_type else None,
                     subject=subject, validity_days=_years_to_days(validity_years), request=csr_out is not None)
    old, new = done.old, done.new
    if done.pending:
        assert csr_out is not None and done.request_der is not None
        write_new_file(csr_out, pem_text(done.request_der, "CERTIFICATE REQUEST").encode())
        emit({"old": _ca_json(old), "new": _pending_json(new), "request": str(csr_out)}, as_json,
             f"{new.name} (successor of {old.name}) is pending: key {new.key_uri} in the CA token; request written "
             f"to {csr_out}.\nSend it to {old.parent_name}, then: govca ca import-certificate --name {new.name} "
             f"--certificate FILE --chain FILE\n{old.name} stays active until then; the import marks it retiring. "
             f"Then give {new.name} its OCSP responder: govca ocsp setup --ca {new.name}")
        return
    responder = done.responder
    emit({"old": _ca_json(old), "new": _ca_json(new), "presigned": done.presigned,
          "responder": None if responder is None else {"serial": responder.serial_hex, "not_after": responder.not_after}},
         as_json,
         f"{new.name} is active under {new.parent_name}: {new.subject}, serial {new.serial_hex}, valid until "
         f"{ts(new.not_after)}\n"
         + (f"OCSP responder of {new.name}: serial {responder.serial_hex}; {done.presigned} responses pre-signed\n"
            if responder is not None else "")
         + f"{old.name} is retiring: it issues nothing more, and keeps its CRLs, OCSP responder and repository "
           f"entries until {ts(old.not_after)}")
