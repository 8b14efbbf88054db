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

from ca import CaError
from hsm import HsmError
from policies import PolicyError

from .config import ConfigError

EXPECTED = (CaError, HsmError, PolicyError, ConfigError, ValueError, OSError)


class GovcaGroup(click.Group):
    """Turns library errors into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except EXPECTED as exc:
            _fail(str(exc) or type(exc).__name__)
        except SQLAlchemyError as exc:
            _fail(f"database error: {type(exc.orig).__name__ if getattr(exc, 'orig', None) else type(exc).__name__}: "
                  f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}")
        except Exception as exc:  # noqa: BLE001 - the last line of defence prints one line, not a traceback
            if os.environ.get("GOVCA_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}): {exc}; set GOVCA_DEBUG=1 for a traceback", code=2)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"govca: error: {message}", err=True)
    sys.exit(code)


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


def ts(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
