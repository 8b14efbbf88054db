"""What a `govca serve` worker holds, reported by /healthz as booleans (issue 11, "Custody by
context"): operators and tests see that the public process loaded no CA workflow code and holds
no session on the CA token. Only booleans: no module list, key label or path reaches the public.
"""
from __future__ import annotations

import sys
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
