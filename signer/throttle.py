"""Cost before trust: refused authentication is rate-limited and its audit aggregated, per client address.

Unauthenticated and failed-authentication requests (no, malformed or wrong bearer token on
/api/v1/* and /csc/v*/*, a wrong CSC auth/login) count against the client's address
(``flask.request.remote_addr``: nginx in front makes it the real client address). Past
``limit`` refusals in a fixed window of ``window`` seconds the address is answered 429 Too Many
Requests with Retry-After (RFC 6585 4; RFC 9110 10.2.3) until its window ends; a request with a
right credential is never refused by this count (only an old ``scrypt$`` API-client record is
not checked from an address past its limit, so that a flood cannot buy scrypt work).

State is in process memory, per gunicorn worker: the EFFECTIVE limit of one address is
``workers × limit`` refusals per window. At most ``max_addresses`` addresses are tracked (least
recently seen dropped first, their pending aggregates written), so memory is bounded.

Audit, aggregated: the first refusal of each (address, action, window) is written at once, with
its details; the rest are counted and written as ONE aggregated record when the window closes
(noticed on the next refusal after it, and at worker exit by :meth:`Throttle.close`, registered
with atexit by :func:`install`). Across all addresses at most ``audit_per_window`` records are
written per window; past it refusals are counted into one overflow record (address ``*``). So a
flood costs a bounded number of fsync'd audit records, not one per request.

The composition root uses a second instance, whose limit is never reached, only to aggregate the
audit of 500s (``http.error``): a request that can trigger a bug costs no fsync per request either.
"""
from __future__ import annotations

import atexit
import collections
import datetime as dt
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import SignerError

Audit = Callable[[str, str, str, str, dict], None]  # actor, action, subject, outcome, details
EXTENSION = "govca.throttle"
MAX_ACTORS = 5  # actors named in one aggregated record


class ThrottledError(SignerError):
    """429 Too Many Requests (RFC 6585 4), with the seconds to wait."""

    status = 429
    title = "Too Many Requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many unauthenticated or failed requests from this address; retry after "
                         f"{retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ThrottleSettings:
    limit: int = 30                  # refusals per address per window, per worker
    window: int = 60                 # seconds
    max_addresses: int = 10000       # addresses tracked per worker (LRU)
    audit_per_window: int = 200      # audit records per window over all addresses, per worker


@dataclass
class _Tally:
    repeated: int = 0                # refusals after the first of the window (not yet written)
    throttled: int = 0               # of all refusals, those answered 429
    actors: set[str] = field(default_factory=set)
    subject: str = "-"
    outcome: str = "refused"


@dataclass
class _Window:
    start: float                     # monotonic
    started_at: dt.datetime          # wall clock, for the record
    refusals: int = 0
    queued: bool = False             # in Throttle._closing
    tallies: dict[str, _Tally] = field(default_factory=dict)


class Throttle:
    def __init__(self, audit: Audit, settings: ThrottleSettings = ThrottleSettings(),
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> None:
        self.audit, self.settings, self.clock, self.wall = audit, settings, clock, wall
        self._lock = threading.Lock()
        self._windows: collections.OrderedDict[str, _Window] = collections.OrderedDict()
        # (window end, address, window start) of windows with something to write when they close.
        self._closing: collections.deque[tuple[float, str, float]] = collections.deque()
        self._budget_start = clock()
        self._budget_used = 0
        self._overflow = 0
        self._overflow_started_at: dt.datetime | None = None

    # --- the questions a request asks ----------------------------------------------------------
    def over(self, address: str | None) -> int | None:
        """Seconds to wait when ``address`` has spent its refusals of this window, else None."""
        if address is None:
            return None
        now = self.clock()
        with self._lock:
            w = self._windows.get(address)
            if w is None or now >= w.start + self.settings.window or w.refusals < self.settings.limit:
                return None
            return self._retry_after(w, now)

    def refuse(self, address: str | None, actor: str, action: str, subject: str, details: dict,
               outcome: str = "refused") -> int | None:
        """Count one refusal; audit it (at once, or aggregated); the seconds of Retry-After when
        the address is past its limit (answer 429), else None (answer the refusal itself)."""
        if address is None:  # outside an HTTP request: nothing to count per address
            self.audit(actor, action, subject, outcome, details)
            return None
        now = self.clock()
        writes: list[tuple[str, str, str, str, dict]] = []
        with self._lock:
            writes += self._sweep(now)
            w = self._windows.get(address)
            if w is not None and now >= w.start + self.settings.window:
                writes += self._close(address, w)
                w = None
            if w is None:
                w = _Window(now, self.wall())
                self._windows[address] = w
                while len(self._windows) > self.settings.max_addresses:
                    old_address, old = self._windows.popitem(last=False)
                    writes += self._close(old_address, old)
            self._windows.move_to_end(address)
            w.refusals += 1
            retry = self._retry_after(w, now) if w.refusals > self.settings.limit else None
            tally = w.tallies.get(action)
            if tally is None:
                w.tallies[action] = _Tally(subject=subject, outcome=outcome)
                first = {**details, "client_address": address}
                if retry is not None:
                    first["throttled"] = True
                writes.append((actor, action, subject, outcome, first))
            else:
                if not w.queued:  # once per window: its aggregates are written when it ends
                    w.queued = True
                    self._closing.append((w.start + self.settings.window, address, w.start))
                    writes += self._bound_closing()
                tally.repeated += 1
                tally.throttled += retry is not None
                if len(tally.actors) < MAX_ACTORS:
                    tally.actors.add(actor)
            writes = self._within_budget(writes, now)
        for record in writes:
            self.audit(*record)
        return retry

    def close(self) -> None:
        """Write every pending aggregate (worker exit)."""
        writes: list[tuple[str, str, str, str, dict]] = []
        with self._lock:
            for address, w in list(self._windows.items()):
                writes += self._close(address, w)
            self._windows.clear()
            self._closing.clear()
            if self._overflow:
                writes.append(self._overflow_record())
        for record in writes:
            try:
                self.audit(*record)
            except Exception:  # noqa: BLE001 - at exit, one failed write must not lose the others
                pass

    # --- internals (caller holds the lock) -------------------------------------------------------
    def _retry_after(self, w: _Window, now: float) -> int:
        return max(1, math.ceil(w.start + self.settings.window - now))

    def _sweep(self, now: float) -> list[tuple[str, str, str, str, dict]]:
        """Close the windows that ended (their aggregates become records)."""
        out: list[tuple[str, str, str, str, dict]] = []
        while self._closing and self._closing[0][0] <= now:
            _, address, start = self._closing.popleft()
            w = self._windows.get(address)
            if w is not None and w.start == start:
                out += self._close(address, w)
                del self._windows[address]
        return out

    def _bound_closing(self) -> list[tuple[str, str, str, str, dict]]:
        """Windows evicted from the LRU leave their entries here until they end; past twice the
        address cap the oldest are closed early (their aggregates written now), so this queue,
        too, is bounded."""
        out: list[tuple[str, str, str, str, dict]] = []
        while len(self._closing) > 2 * self.settings.max_addresses:
            _, address, start = self._closing.popleft()
            w = self._windows.get(address)
            if w is not None and w.start == start:
                out += self._close(address, w)
                w.queued = False
        return out

    def _close(self, address: str, w: _Window) -> list[tuple[str, str, str, str, dict]]:
        out = []
        for action, tally in w.tallies.items():
            if tally.repeated:
                out.append(("throttle", action, tally.subject, tally.outcome, {
                    "client_address": address, "aggregated": True, "repeated": tally.repeated,
                    "throttled": tally.throttled, "actors": sorted(tally.actors),
                    "window_start": w.started_at.isoformat(timespec="seconds"),
                    "window_seconds": self.settings.window}))
            # Counted and written: the next refusal of this action in the window is a repeat.
            tally.repeated, tally.throttled, tally.actors = 0, 0, set()
        return out

    def _within_budget(self, writes: list, now: float) -> list:
        """At most ``audit_per_window`` records per window over all addresses; the rest counted
        and written as one overflow record when that window closes."""
        out = []
        if now >= self._budget_start + self.settings.window:
            if self._overflow:
                out.append(self._overflow_record())
            self._budget_start, self._budget_used = now, 0
        for record in writes:
            if self._budget_used < self.settings.audit_per_window:
                self._budget_used += 1
                out.append(record)
            else:
                if not self._overflow:
                    self._overflow_started_at = self.wall()
                self._overflow += record[4]["repeated"] if record[4].get("aggregated") else 1
        return out

    def _overflow_record(self) -> tuple[str, str, str, str, dict]:
        count, self._overflow = self._overflow, 0
        started = self._overflow_started_at or self.wall()
        return ("throttle", "throttle.overflow", "-", "refused", {
            "client_address": "*", "aggregated": True, "repeated": count,
            "window_start": started.isoformat(timespec="seconds"), "window_seconds": self.settings.window,
            "note": "refusals past the audit budget of the window, all addresses together"})


# --- the HTTP edge: the throttle of the current app, the client's address -------------------------
def install(app: Any, throttle: Throttle) -> None:
    """Make ``throttle`` the app's (read by :func:`refuse`), add Retry-After to its 429 answers,
    and write its pending aggregates when the worker exits."""
    from flask import g

    app.extensions[EXTENSION] = throttle

    @app.after_request
    def _retry_after(resp: Any) -> Any:
        retry = g.get("govca_retry_after")
        if retry is not None and resp.status_code == 429:
            resp.headers["Retry-After"] = str(retry)
        return resp

    atexit.register(throttle.close)


def current() -> tuple[Throttle | None, str | None]:
    """The app's throttle and the client's address, or (None, None) outside a request."""
    from flask import current_app, has_request_context, request

    if not has_request_context():
        return None, None
    return current_app.extensions.get(EXTENSION), request.remote_addr or "unknown"


def refuse(audit: Audit, actor: str, action: str, subject: str, details: dict) -> None:
    """Count and audit one refused authentication of the current request; raise ThrottledError
    (429) when its address is past the limit. Outside a request, or without a throttle, the
    refusal is audited with ``audit`` as before and nothing is raised."""
    throttle, address = current()
    if throttle is None:
        audit(actor, action, subject, "refused", details)
        return
    retry = throttle.refuse(address, actor, action, subject, details)
    if retry is not None:
        from flask import g

        g.govca_retry_after = retry
        raise ThrottledError(retry)


def over_limit() -> int | None:
    """Seconds of Retry-After when the current request's address is past its limit, else None."""
    throttle, address = current()
    return None if throttle is None else throttle.over(address)


def mark_retry_after(seconds: int) -> None:
    from flask import g

    g.govca_retry_after = seconds
