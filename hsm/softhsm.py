"""Create a SoftHSM2 token inside a data directory, with its own softhsm2.conf.

softhsm2-util reads PINs only from a terminal, so they are typed into a pseudo-terminal
rather than passed on the command line, where any local user could read them in /proc.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .errors import HsmError

SOFTHSM_MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


def find_softhsm_module() -> str:
    for candidate in SOFTHSM_MODULE_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    raise HsmError("SoftHSM2 is not installed (Debian package softhsm2); `make install` installs it")


def write_softhsm_conf(hsm_dir: Path) -> Path:
    """Write ``hsm_dir/softhsm2.conf`` pointing at ``hsm_dir/tokens``."""
    tokens = hsm_dir / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    os.chmod(tokens, 0o700)
    conf = hsm_dir / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
        encoding="utf-8",
    )
    return conf


def init_softhsm_token(conf: Path, label: str, so_pin: str, user_pin: str) -> None:
    """Initialise a fresh token labelled ``label`` in the next free slot."""
    util = shutil.which("softhsm2-util")
    if util is None:
        raise HsmError("softhsm2-util not found (Debian package softhsm2)")
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [util, "--init-token", "--free", "--label", label],
            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )
        os.close(slave)
        slave = -1
        os.write(master, f"{so_pin}\n{so_pin}\n{user_pin}\n{user_pin}\n".encode())
        out, _ = proc.communicate(timeout=60)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    if proc.returncode != 0:
        # The transcript shows only asterisks for the PINs; keep its last line as the reason.
        reason = out.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise HsmError(f"softhsm2-util could not create token {label!r}: {reason[0]}")
