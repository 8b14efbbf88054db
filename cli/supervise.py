"""The processes of `govca serve`: started in order, watched, and stopped together.

Every child is in the supervisor's process group (a signal to the group reaches all of them)
and is told by the kernel to stop when the supervisor dies (PR_SET_PDEATHSIG), so none is left
behind. If one exits, the others are stopped and the supervisor exits non-zero with one line.
"""
from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
GRACE_S = 12.0  # above the pools' graceful_timeout (10 s)


class ServeError(Exception):
    """One line for the operator."""


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


def _stop_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    label: str  # "the OCSP pool", "nginx", ...
    argv: list[str]
    stop_signal: int = signal.SIGTERM
    ready_at: Path | tuple[str, int] | None = None  # a unix socket or TCP address it listens on once up
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, preexec_fn=_stop_with_parent)

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.poll()


def _accepts(at: Path | tuple[str, int]) -> bool:
    if isinstance(at, Path):
        family, address = socket.AF_UNIX, str(at)
    else:  # a wildcard address is reached on the loopback interface
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(at[0], at[0])
        family, address = (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, at[1])
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(address)
            return True
        except OSError:
            return False


def _check(children: list[Child]) -> None:
    for child in children:
        code = child.exited()
        if code is not None:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            raise ServeError(f"{child.label} {how}; stopped the others (see the lines above)")


def _wait_ready(waiting: list[Child], children: list[Child], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for child in waiting:
        while child.ready_at is not None and not _accepts(child.ready_at):
            _check(children)
            if time.monotonic() > deadline:
                raise ServeError(f"{child.label} did not listen on {child.ready_at} within {timeout:.0f} s")
            time.sleep(0.05)


def _stop_all(children: list[Child]) -> None:
    running = [c for c in children if c.exited() is None]
    for child in running:
        try:
            child.proc.send_signal(child.stop_signal)  # type: ignore[union-attr]
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + GRACE_S
    for child in running:
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            child.proc.kill()  # type: ignore[union-attr]
            child.proc.wait()  # type: ignore[union-attr]


def supervise(backends: list[Child], front: list[Child], started: str, ready_timeout: float = 60.0) -> int:
    """Starts the backends, waits for their sockets, starts the front and waits for it, then
    watches all of them until a signal (exit 0) or a child's exit (ServeError)."""
    children = backends + front
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        for child in backends:
            child.start()
        _wait_ready(backends, backends, ready_timeout)
        for child in front:
            child.start()
        _wait_ready(front, children, ready_timeout)
        print(started, file=sys.stderr, flush=True)
        while True:
            _check(children)
            time.sleep(0.25)
    except _Stop:
        return 0
    finally:
        for s in previous:  # a second signal must not interrupt the stopping
            signal.signal(s, signal.SIG_IGN)
        _stop_all([c for c in children if c.proc is not None])
        for s, handler in previous.items():
            signal.signal(s, handler)
