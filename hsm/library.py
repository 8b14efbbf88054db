"""The PKCS#11 library as loaded in this process: one object per module path.

python-pkcs11 initialises the library without mutexes (C_Initialize(NULL)), so SoftHSM is not
thread-safe here: every call into one module is serialised by that module's lock. The library is
process-global, and two events invalidate every session and object handle opened through it:
- a fork (the child inherits the parent's handles, which are not valid in it);
- a different SoftHSM configuration (SoftHSM reads SOFTHSM2_CONF at C_Initialize, so a fresh token
  directory, as each test has, needs the library re-initialised; a service has one).
Either re-initialises the library and bumps ``generation``; each :class:`hsm.token.Pkcs11Token`
keeps its own session, handles and index and drops them when the pid or generation it saw changed
(docs/field-notes.md).
"""
from __future__ import annotations

import os
import threading
from typing import Any


class _Library:
    """Lock, owning pid, active SoftHSM conf and generation of one PKCS#11 module in this process."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.lock = threading.RLock()
        self.pid: int | None = None
        self.conf: str | None = None
        self.generation = 0
        # Labels of tokens logged in through this library in (pid, generation): see sessions_open().
        self.logged_in: set[str] = set()

    def load(self, conf: str | None) -> Any:
        """The initialised pkcs11.lib, re-initialised after a fork or a change of SoftHSM conf.
        Caller holds ``self.lock``."""
        import pkcs11

        pid = os.getpid()
        if conf is not None:
            os.environ["SOFTHSM2_CONF"] = conf
        lib = pkcs11.lib(self.module)
        forked = self.pid is not None and self.pid != pid
        switched = conf is not None and self.conf is not None and self.conf != conf
        if forked or switched:
            lib.reinitialize()
            self.generation += 1
            self.logged_in = set()
        self.pid = pid
        if conf is not None:
            self.conf = conf
        return lib

    def reinitialise(self) -> Any:
        """Re-initialise the library now (SoftHSM re-reads its token directory), dropping every
        session and handle opened through it (``generation`` bumped). Caller holds ``self.lock``."""
        import pkcs11

        lib = pkcs11.lib(self.module)
        lib.reinitialize()
        self.generation += 1
        self.logged_in = set()
        return lib

    def current(self) -> bool:
        """Whether sessions opened through this library belong to this process."""
        return self.pid == os.getpid()


class _Libraries:
    """The one registry of loaded modules (a process loads each PKCS#11 module once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_module: dict[str, _Library] = {}

    def get(self, module: str) -> _Library:
        with self._lock:
            lib = self._by_module.get(module)
            if lib is None:
                lib = self._by_module[module] = _Library(module)
            return lib

    def all(self) -> list[_Library]:
        with self._lock:
            return list(self._by_module.values())


LIBRARIES = _Libraries()


def library(module: str) -> _Library:
    return LIBRARIES.get(module)


def sessions_open() -> set[str]:
    """Labels of the tokens this process holds a logged-in session on (none after a fork until reopened)."""
    out: set[str] = set()
    for lib in LIBRARIES.all():
        with lib.lock:
            if lib.current():
                out |= lib.logged_in
    return out
