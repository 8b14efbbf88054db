"""Where a token PIN comes from: an environment variable, a 0600 file, or a prompt.

A PIN source is described by a short spec kept in configuration (``env:NAME``,
``file:PATH``, ``prompt``); the PIN itself is never stored in configuration, a URI or a log.
"""
from __future__ import annotations

import getpass
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import PinSourceError


@dataclass(frozen=True)
class PinSource:
    """A parsed PIN source spec. ``kind`` is ``env``, ``file`` or ``prompt``."""

    kind: str
    where: str = ""

    @classmethod
    def parse(cls, spec: str, base_dir: Path | None = None) -> "PinSource":
        kind, _, where = spec.partition(":")
        if kind == "env" and where:
            return cls("env", where)
        if kind == "file" and where:
            path = Path(where)
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            return cls("file", str(path))
        if kind == "prompt" and not where:
            return cls("prompt")
        raise PinSourceError(f"PIN source must be env:NAME, file:PATH or prompt, not {kind!r}")

    def read(self, what: str = "token user PIN") -> str:
        if self.kind == "env":
            value = os.environ.get(self.where)
            if not value:
                raise PinSourceError(f"environment variable {self.where} with the {what} is not set")
            return value
        if self.kind == "file":
            return _read_pin_file(Path(self.where), what)
        try:
            return getpass.getpass(f"{what}: ")
        except (EOFError, OSError) as exc:
            raise PinSourceError(f"cannot prompt for the {what}: no terminal") from exc


def _read_pin_file(path: Path, what: str) -> str:
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise PinSourceError(f"{what} file {path} does not exist") from exc
    # A PIN file readable by group or others is refused, as ssh refuses such key files.
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise PinSourceError(f"{what} file {path} must be mode 0600 (it is {stat.S_IMODE(st.st_mode):04o})")
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise PinSourceError(f"{what} file {path} is empty")
    return value


def write_pin_file(path: Path, pin: str) -> None:
    """Create a PIN file readable only by its owner (mode 0600 from the start)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(pin + "\n")
