"""gunicorn as a library: sync pre-fork workers, the app loaded in each worker after the fork
(never preloaded: PKCS#11 must be opened by the process that uses it).

`govca serve` runs two pools of these behind nginx, each as `python -m cli.gunicorn_app`; sync
workers are safe there since nginx hands them complete requests. With --no-front, one pool
listens on the public address itself (development)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _post_worker_init(worker: Any) -> None:
    """SIGUSR2 makes this worker write what it holds to the private run directory (cli/contexts.py)."""
    from .contexts import install_report

    install_report(worker.app.home, worker.app.pool_name)


def _post_fork(server: Any, worker: Any) -> None:
    """A worker dies with its arbiter (were the arbiter killed, it would linger until its next
    poll of the parent pid, serving nothing)."""
    import ctypes
    import os
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != server.pid:  # the arbiter died before the line above
        os._exit(1)


@dataclass(frozen=True)
class Pool:
    name: str  # "main", "ocsp" or "direct"
    bind: str  # "unix:/path" or "host:port"
    workers: int
    behind_front: bool
    access_log: bool = False
    # Workers are recycled after about this many requests (+ up to 10% jitter, so that they do
    # not all restart at once). OCSP answers are small and many: recycle that pool more rarely.
    max_requests: int = 2000

    def argv(self, python: str, home: Path) -> list[str]:
        return [python, "-m", "cli.gunicorn_app", "--home", str(home), "--name", self.name, "--bind", self.bind,
                "--workers", str(self.workers), "--max-requests", str(self.max_requests)] + \
            (["--behind-front"] if self.behind_front else []) + (["--access-log"] if self.access_log else [])


class GovcaApplication(BaseApplication):
    def __init__(self, home: Path, options: dict[str, Any], behind_front: bool = False,
                 pool_name: str = "main") -> None:
        self.home = home
        self.pool_name = pool_name
        self.options = options
        self.behind_front = behind_front
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .web import create_app

        app = create_app(self.home)
        if not self.behind_front:
            return app
        from .front import ClientAddressFromFront

        return ClientAddressFromFront(app)


def options(pool: Pool) -> dict[str, Any]:
    return {
        "bind": pool.bind,
        "workers": pool.workers,
        "worker_class": "sync",
        "preload_app": False,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        "max_requests": pool.max_requests,
        "max_requests_jitter": max(1, pool.max_requests // 10),
        "backlog": 1024,
        "child_exit": _child_exit,
        "post_fork": _post_fork,
        "post_worker_init": _post_worker_init,
        "accesslog": "-" if pool.access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": f"govca-{pool.name}",
        "control_socket_disable": True,
    }


def run(home: Path, pool: Pool) -> None:
    # Import (not create) the application in the arbiter: workers inherit the modules, so a
    # worker that is recycled or replaced is back within a fraction of a second.
    import cli.web  # noqa: F401

    GovcaApplication(home, options(pool), pool.behind_front, pool.name).run()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m cli.gunicorn_app", description="one gunicorn pool of govca serve")
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--name", default="main")
    ap.add_argument("--bind", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-requests", type=int, default=2000)
    ap.add_argument("--behind-front", action="store_true")
    ap.add_argument("--access-log", action="store_true")
    a = ap.parse_args()
    run(a.home, Pool(a.name, a.bind, a.workers, a.behind_front, a.access_log, a.max_requests))


if __name__ == "__main__":
    main()
