"""gunicorn as a library: sync pre-fork workers, the app loaded in each worker after the fork
(never preloaded: PKCS#11 must be opened by the process that uses it)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class GovcaApplication(BaseApplication):
    def __init__(self, home: Path, options: dict[str, Any]) -> None:
        self.home = home
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .web import create_app

        return create_app(self.home)


def run(home: Path, host: str, port: int, workers: int, access_log: bool) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync",
        "preload_app": False,
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "child_exit": _child_exit,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "govca",
        "control_socket_disable": True,
    }
    GovcaApplication(home, options).run()
