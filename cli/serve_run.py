"""`govca serve`: the layout of its processes and of the private run directory.

    GOVCA_HOME/run/            0700, this user's only
        serve.lock             one `govca serve` per data directory
        main.sock ocsp.sock    the two gunicorn pools (cli/gunicorn_app.py)
        nginx.conf nginx.pid   the front (cli/front.py)
        nginx/*                nginx's temporary files (buffered bodies and answers)
        metrics/               prometheus_client's multiprocess files of both pools
"""
from __future__ import annotations

import fcntl
import os
import resource
import shutil
import signal
import socket
import sys
from pathlib import Path

from .config import load_config
from .front import FrontPlan, find_nginx, nginx_argv, prepare
from .gunicorn_app import Pool, run
from .supervise import Child, ServeError, supervise

__all__ = ["ServeError", "serve"]

OCSP_MAX_REQUESTS = 50000  # OCSP answers are small: recycle that pool's workers rarely
MAIN_MAX_REQUESTS = 2000
SUN_PATH_MAX = 107  # sockaddr_un.sun_path on Linux, less the terminating NUL


def _private_run_dir(home: Path) -> Path:
    run_dir = home / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)
    return run_dir


def _lock(run_dir: Path) -> int:
    fd = os.open(run_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ServeError(f"another govca serve is running with the data directory {run_dir.parent}") from None
    return fd  # held until this process exits (not inherited: close-on-exec)


def _check_port_free(host: str, port: int) -> None:
    """A clear line now rather than nginx's (or gunicorn's) bind retries later."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _fresh_metrics_dir(run_dir: Path) -> None:
    metrics_dir = run_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)


def _worker_connections() -> int:
    """Raise the open-file limit as far as allowed; nginx needs two descriptors a proxied request."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return max(256, min(8192, (soft - 64) // 2))


def serve(home: Path, host: str, port: int, workers: int, ocsp_workers: int, front: bool, access_log: bool) -> int:
    cfg = load_config(home)  # fail here, with one line, rather than in every worker
    nginx = find_nginx() if front else None
    if front and nginx is None:
        raise ServeError("nginx is not installed (install the Debian package nginx), or use --no-front")
    run_dir = _private_run_dir(home)
    _lock(run_dir)
    _check_port_free(host, port)
    _fresh_metrics_dir(run_dir)
    os.environ["GOVCA_HOME"] = str(home)
    if not front:
        print(f"govca serving {cfg.base_url} on http://{host}:{port} with {workers} workers, no front "
              f"(development only)", file=sys.stderr, flush=True)
        run(home, Pool("direct", f"{host}:{port}", workers, False, access_log, MAIN_MAX_REQUESTS))
        return 0
    if len(os.fsencode(run_dir / "ocsp.sock")) > SUN_PATH_MAX:
        raise ServeError(f"the data directory {home} is too long a path for the pools' unix sockets "
                         f"(at most {SUN_PATH_MAX - len('/run/ocsp.sock')} bytes); use a shorter one")
    plan = FrontPlan(run_dir, host, port, run_dir / "main.sock", run_dir / "ocsp.sock",
                     max_body_mb=cfg.signer.max_pdf_mb + 16, max_pdf_mb=cfg.signer.max_pdf_mb,
                     worker_connections=_worker_connections())
    prepare(plan)
    pools = [Pool("ocsp", f"unix:{plan.ocsp_socket}", ocsp_workers, True, access_log, OCSP_MAX_REQUESTS),
             Pool("main", f"unix:{plan.main_socket}", workers, True, access_log, MAIN_MAX_REQUESTS)]
    backends = [Child(f"the {'OCSP' if p.name == 'ocsp' else p.name} pool (gunicorn)", p.argv(sys.executable, home),
                      ready_at=Path(p.bind[len("unix:"):])) for p in pools]
    # SIGQUIT: nginx finishes the requests it has, then exits.
    nginx_child = Child("nginx", nginx_argv(nginx, plan), stop_signal=signal.SIGQUIT,  # type: ignore[arg-type]
                        ready_at=(host, port))
    for p in pools:  # a socket left by a killed run would pass for ready
        Path(p.bind[len("unix:"):]).unlink(missing_ok=True)
    return supervise(backends, [nginx_child],
                     f"govca serving {cfg.base_url} on http://{host}:{port}: nginx in front of the OCSP pool "
                     f"({ocsp_workers} workers) and the main pool ({workers} workers)")
