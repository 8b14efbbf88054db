"""The `govca` command."""
from __future__ import annotations

import os
from pathlib import Path

import click

from .audit_cmds import audit_group
from .ca_cmds import ca_group, cert_group, crl_group, profiles_group
from .db_cmds import db_group
from .demo import demo_command
from .hsm_cmds import hsm_group
from .init_cmd import init_command
from .runtime import GovcaGroup
from .agency_cmds import agency_group, apiclient_group, tsa_group
from .official_cmds import official_group
from . import external_cmds  # noqa: F401 - registers `ca import-certificate`
from . import parent_cmds  # noqa: F401 - registers `ca refresh-parent`
from . import rollover_cmds  # noqa: F401 - registers `ca rollover`
from .ceremony_cmds import ceremony_group  # also registers `crl import`
from .serve_cmds import ocsp_group, serve_command


@click.group(cls=GovcaGroup)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="GOVCA_HOME",
              default=lambda: os.path.join(os.getcwd(), "govca-data"), show_default="./govca-data",
              help="data directory (or GOVCA_HOME)")
@click.option("--json", "as_json", is_flag=True,
              help="JSON output: handed to the command (as its own --json); refused by commands without JSON output")
@click.pass_context
def main(ctx: click.Context, home: Path, as_json: bool) -> None:
    """govca: the government CA and signing service."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home.absolute()


for command in (init_command, ca_group, cert_group, crl_group, audit_group, profiles_group, hsm_group, ocsp_group,
                serve_command, agency_group, apiclient_group, tsa_group, official_group, demo_command):
    main.add_command(command)
main.add_command(db_group)
main.add_command(ceremony_group)

if __name__ == "__main__":
    main()
