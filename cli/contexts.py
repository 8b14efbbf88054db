"""What a `govca serve` worker holds (issue 11, "Custody by context"): whether it loaded CA
workflow code and whether it holds a session on the CA token.

- /healthz reports it as booleans, for the worker that answers: no module list, key label or
  path reaches the public.
- On SIGUSR2 a worker writes the details to the private run directory,
  ``GOVCA_HOME/run/contexts/<pid>.json`` (0600): its pool, the CA modules it has loaded and the
  labels of the tokens it holds a session on. An operator, or a test, can so ask every worker of
  every pool, which a request to /healthz (answered by whichever worker accepts it) cannot.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

# The CA function's code: certificate issuance and revocation, the CA service, the profile lint
# (pkilint) and the administrator workflows. None of it is imported by the serve application
# (setup.cfg, contract serve-no-ca-code); this reports whether that still holds at run time.
CA_CODE = ("ca.issuance", "ca.revocation", "ca.service", "policies.lint", "pkilint", "workflows")


def ca_code_loaded() -> bool:
    return any(name in sys.modules for name in CA_CODE)


def process_contexts(cfg: Any) -> dict[str, bool]:
    """``ca_code_loaded``: any CA function module is imported in this process; ``ca_token_open``:
    this process holds a logged-in session on the CA token (``hsm.library.sessions_open``). With
    a data directory of one token for both (``custody: shared-token`` in /healthz), that token is
    the CA token, so a worker that has signed anything reports it open."""
    from hsm.library import sessions_open

    return {"ca_code_loaded": ca_code_loaded(), "ca_token_open": cfg.hsm_ca.token_label in sessions_open()}


REPORT_SIGNAL = signal.SIGUSR2


def report_path(home: Path, pid: int) -> Path:
    return home / "run" / "contexts" / f"{pid}.json"


def write_report(home: Path, pool: str) -> Path:
    """This process's contexts, written atomically (0600) for the administrator of ``home``."""
    from hsm.library import sessions_open

    from .config import load_config

    cfg = load_config(home)
    report = {"pool": pool, "pid": os.getpid(), **process_contexts(cfg),
              "ca_modules": sorted(name for name in CA_CODE if name in sys.modules),
              "sessions": sorted(sessions_open()), "ca_token": cfg.hsm_ca.token_label,
              "service_token": cfg.hsm_service.token_label}
    path = report_path(home, os.getpid())
    path.parent.mkdir(mode=0o700, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(report, fh)
    os.replace(tmp, path)
    return path


def install_report(home: Path, pool: str) -> None:
    """In a worker: REPORT_SIGNAL writes the report (gunicorn leaves SIGUSR2 to its arbiter)."""
    signal.signal(REPORT_SIGNAL, lambda _signum, _frame: write_report(home, pool))
