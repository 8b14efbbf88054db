"""Which CA a task uses when the administrator names none: the active issuing CA.

After `govca ca rollover` the old CA is retiring, so new seals, officials, TSA units and OCSP
responders go to its successor without anyone changing a command line."""
from __future__ import annotations

from .context import Admin
from .errors import ChoiceNeededError


def default_issuing_ca(admin: Admin) -> str:
    """The one active, unexpired issuing CA; with none or several, the administrator must choose."""
    from ca.records import CaState

    now = admin.now()
    active = [c.name for c in admin.ca.list_cas()
              if c.profile == "issuing-ca" and c.shown_state(now) is CaState.ACTIVE]
    if len(active) != 1:
        shown = f": {', '.join(active)}" if active else ""
        raise ChoiceNeededError(f"name the issuing CA with --ca (there are {len(active)} active issuing CAs{shown})")
    return active[0]
