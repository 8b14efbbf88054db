"""The CLI's one exception manager and output helpers (after pyHanko's cli/runtime.py)."""
from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import SQLAlchemyError

from ca.errors import CaError
from hsm import HsmError
from ocsp.errors import OcspError
from policies import PolicyError
from signer.errors import SignerError
from signer.remote.csc import CscError
from signer.tsa.authority import TsaRejection
from workflows import WorkflowError
from workflows.context import utc_text

from .config import ConfigError
from .supervise import ServeError

# The error base of every package (tests/test_cli_refusals.py finds each one by walking the
# packages and checks it is here): each is a refusal the command reports in one line, exit 1.
# PIN-source errors are HsmErrors (hsm.PinSourceError); ValueError and OSError cover bad values
# and files (ocsp.der.DerError is a ValueError).
EXPECTED = (CaError, HsmError, OcspError, PolicyError, ConfigError, SignerError, CscError, TsaRejection,
            WorkflowError, ServeError, ValueError, OSError)


def _one_line(message: str) -> str:
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _command_path(ctx: click.Context | None) -> str:
    """`govca agency add`, whatever the program was called (`python -m cli.main`, CliRunner)."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        if ctx.info_name:
            names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["govca", *reversed(names)])


def _path_of_args(group: click.Group, args: list[str]) -> str:
    """The command path the words of ``args`` name (`govca audit list`), for a usage mistake click
    reports without its context (an option missing its value)."""
    names: list[str] = []
    command: click.Command = group
    i = 0
    while i < len(args) and isinstance(command, click.Group) and args[i] != "--":
        if args[i].startswith("-"):
            i += 2 if args[i] == "--home" and not names else 1
            continue
        found = command.commands.get(args[i])
        if found is None:
            break
        names.append(args[i])
        command, i = found, i + 1
    return " ".join(["govca", *names])


def _usage_failure(exc: click.UsageError, fallback: str = "govca") -> None:
    """A usage mistake (missing option, bad type or choice, unknown command or option): one line
    naming the command and where its help is, exit 2, as click's own usage errors exit."""
    path = _command_path(exc.ctx) if exc.ctx is not None else fallback
    where = path.removeprefix("govca").strip()  # the line already starts with "govca:"
    _fail(f"{where + ': ' if where else ''}{_one_line(exc.format_message())} (see '{path} --help')",
          code=exc.exit_code or 2)


class GovcaGroup(click.Group):
    """Turns every refusal into one line on stderr (`govca: error: ...`) and a non-zero exit:
    library errors, click's own errors and usage mistakes alike; `--help` is left as it is."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if parent is None:
            args = self._pass_json_down(list(args))
            extra.setdefault("obj", {})["argv"] = list(args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise                               # bare `govca`: the help, as click prints it
        except click.UsageError as exc:         # `govca --bogus`
            _usage_failure(exc)
            raise                               # not reached

    def _pass_json_down(self, args: list[str]) -> list[str]:
        """`govca [--home H] --json COMMAND ...` is `govca [--home H] COMMAND ... --json`: the
        global --json is handed to the command, and refused (one line) by a command without JSON
        output."""
        i = 0
        while i < len(args) and args[i] != "--json":
            if args[i] == "--" or not args[i].startswith("-"):
                return args                     # no global --json before the command word
            i += 2 if args[i] == "--home" else 1
        if i >= len(args) or "--help" in args:
            return args
        del args[i]
        j = i
        while j < len(args) and args[j].startswith("-") and args[j] != "--":
            j += 2 if args[j] == "--home" else 1
        command: click.Command | None = self
        names: list[str] = []
        while isinstance(command, click.Group) and j < len(args) and not args[j].startswith("-"):
            names.append(args[j])
            command = command.commands.get(args[j])
            j += 1
        if command is None or isinstance(command, click.Group):
            return args                         # click tells the unknown or missing command
        if not any(p.name == "as_json" for p in command.params):
            _fail(f"govca {' '.join(names)}: --json is not available for this command "
                  f"(see 'govca {' '.join(names)} --help')", code=2)
        end = args.index("--") if "--" in args else len(args)
        return [*args[:end], "--json", *args[end:]]

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except click.exceptions.NoArgsIsHelpError:
            raise                               # `govca agency` alone: its help
        except click.UsageError as exc:
            _usage_failure(exc, _path_of_args(self, (ctx.obj or {}).get("argv", [])))
        except click.ClickException as exc:
            _fail(_one_line(exc.format_message()), code=exc.exit_code or 1)
        except (click.exceptions.Abort, EOFError, KeyboardInterrupt):
            _fail("aborted; nothing was changed by the step that was interrupted", code=1)
        except EXPECTED as exc:
            _fail(_one_line(str(exc)) or type(exc).__name__)
        except SQLAlchemyError as exc:
            _fail(f"database error: {type(exc.orig).__name__ if getattr(exc, 'orig', None) else type(exc).__name__}: "
                  f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}")
        except Exception as exc:  # noqa: BLE001 - the last line of defence prints one line, not a traceback
            if os.environ.get("GOVCA_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}): {exc}; set GOVCA_DEBUG=1 for a traceback", code=2)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"govca: error: {_one_line(message)}", err=True)
    sys.exit(code)


def thai_id_check_digit_ok(value: str) -> bool:
    """The Thai 13-digit identification number (citizen ID, juristic person ID): the last digit
    is (11 - sum(digit[i] * (13 - i) for i in 0..11) mod 11) mod 10."""
    if len(value) != 13 or not value.isascii() or not value.isdigit():
        return False
    total = sum(int(value[i]) * (13 - i) for i in range(12))
    return (11 - total % 11) % 10 == int(value[12])


THAI_ID_RULE = ("13 digits, the 13th the Thai check digit (11 - (sum of digit n x (14 - n), n = 1..12) mod 11) "
                "mod 10")


def check_thai_id(option: str, value: str) -> str:
    """``value`` when it is a valid Thai 13-digit id, else one refusal naming the rule."""
    value = value.strip()
    if not thai_id_check_digit_ok(value):
        raise click.ClickException(f"{option} {value!r} is not a valid Thai 13-digit id: it must be {THAI_ID_RULE}")
    return value


def home_of(ctx: click.Context) -> Path:
    return Path(ctx.obj["home"])


def actor() -> str:
    return os.environ.get("GOVCA_ACTOR") or f"cli:{getpass.getuser()}"


def _default(o: Any) -> Any:
    if isinstance(o, dt.datetime):
        return o.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "value"):
        return o.value
    raise TypeError(type(o).__name__)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, default=_default, ensure_ascii=False, indent=2))
    elif text is not None:
        click.echo(text)


ts = utc_text   # UTC to the second, "-" for none (the workflows' audit details use the same form)
