"""Prometheus metrics. Under gunicorn, counters of all workers are merged through
prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `govca serve`); the
ages of the newest CRL and of pre-signed OCSP responses are read from the database at scrape."""
from __future__ import annotations

import datetime as dt
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        kw = {} if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else {"registry": self.registry}
        self.requests = Counter("govca_http_requests_total", "HTTP requests", ["endpoint", "method", "status"], **kw)
        self.latency = Histogram("govca_http_request_duration_seconds", "HTTP request latency", ["endpoint"],
                                 buckets=BUCKETS, **kw)
        self.ocsp = Counter("govca_ocsp_responses_total", "OCSP responses by status and source",
                            ["status", "source"], **kw)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_edge(self, endpoint: str, method: str, status: int, seconds: float, answer) -> None:  # type: ignore[no-untyped-def]
        """A request answered at the WSGI layer (OCSP), with its OCSP result when there is one."""
        self.observe_request(endpoint, method, status, seconds)
        if answer is not None:
            self.ocsp.labels(answer.status, "presigned" if answer.presigned else "signed").inc()

    def render(self, repository, presigned, now: dt.datetime) -> bytes:  # type: ignore[no-untyped-def]
        """``repository``: ocsp RepositorySource; ``presigned``: ocsp PresignedStore (ca/status.py)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        text = generate_latest(registry)
        lines = []
        for name, help_text, probe in (
                ("govca_crl_newest_age_seconds", "Age of the stalest CA's newest CRL", repository.newest_crl_this_update),
                ("govca_ocsp_presigned_oldest_age_seconds", "Age of the oldest pre-signed OCSP response",
                 presigned.oldest_this_update)):
            try:
                when = probe()
            except Exception:  # noqa: BLE001 - metrics must render with the database down
                when = None
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines.append(f"{name} {(now - when).total_seconds():.0f}" if when else f"{name} NaN")
        lines += parent_status_lines(repository, now)
        return text + ("\n".join(lines) + "\n").encode()


def parent_status_lines(repository, now: dt.datetime) -> list[str]:  # type: ignore[no-untyped-def]
    """The external parent's status (`govca ca refresh-parent`), for each CA certificate an external
    CA issued: the age of the stalest CA's newest fetch (+Inf for a CA never refreshed) and the
    seconds until the earliest of the CAs' latest nextUpdate (negative once passed). Absent when
    no CA has an external parent, and when the database cannot be read."""
    try:
        rows = repository.parent_status()
    except Exception:  # noqa: BLE001 - metrics must render with the database down
        return []
    fetched: dict[str, list] = {}
    until: dict[str, list] = {}
    for r in rows:
        fetched.setdefault(r.ca, []).extend([r.fetched_at] if r.fetched_at else [])
        until.setdefault(r.ca, []).extend([r.next_update] if r.next_update else [])
    if not fetched:
        return []
    newest = [max(times) if times else None for times in fetched.values()]
    age = "+Inf" if None in newest else f"{(now - min(newest)).total_seconds():.0f}"  # type: ignore[type-var]
    lines = ["# HELP govca_parent_status_age_seconds Age of the stalest CA's newest status from its external parent",
             "# TYPE govca_parent_status_age_seconds gauge", f"govca_parent_status_age_seconds {age}"]
    latest = [max(times) for times in until.values() if times]
    if latest and len(latest) == len(until):
        lines += ["# HELP govca_parent_status_next_update_seconds Seconds until the earliest of the CAs' latest "
                  "nextUpdate from their external parent",
                  "# TYPE govca_parent_status_next_update_seconds gauge",
                  f"govca_parent_status_next_update_seconds {(min(latest) - now).total_seconds():.0f}"]
    return lines
