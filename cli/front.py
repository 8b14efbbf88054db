"""The buffering front of `govca serve`: nginx reads whole requests from clients (slow or idle
ones cost it a connection slot, never a worker) and hands them to two gunicorn pools on unix
sockets in the private run directory: the OCSP pool (/ocsp, /crl/, /certs/, /healthz, /metrics)
and the main pool (everything else), so that a sealing or verification burst cannot starve OCSP.

The pools trust X-Real-IP, which nginx overwrites with the peer address, only when they were
started behind this front (ClientAddressFromFront); without it the header is ignored.
"""
from __future__ import annotations

import grp
import ipaddress
import json
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

# Paths answered by the OCSP pool; nginx matches them on the normalised URI and passes the
# request line unchanged (base64 in OCSP GET URLs may hold "//" and %2F).
OCSP_POOL_PATHS = r"^/(?:ocsp(?:/|$)|crl/|certs/|healthz$|metrics$)"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
OCSP_MAX_KB = 64


class ClientAddressFromFront:
    """WSGI middleware of the pools behind the front: REMOTE_ADDR from nginx's X-Real-IP, so
    that everything downstream reads the client's address as request.remote_addr."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            environ["REMOTE_ADDR"] = str(ipaddress.ip_address(environ.get("HTTP_X_REAL_IP", "").strip()))
        except ValueError:
            pass  # not from nginx (it always sets one): keep what the socket says
        return _Drained(self.app(environ, start_response), environ.get("wsgi.input"))


class _Drained:
    """The app's response, then the rest of the request body read and dropped before the worker
    closes the connection. A handler that answers early (a 401 before a large PDF, a 413) leaves
    body bytes unread; closing a socket with unread data makes the kernel send a reset, and nginx
    may lose the answer to it and say 502 instead. nginx has buffered the whole body (at most
    the front's body limit), so reading it costs a copy over a unix socket, not a client's pace."""

    def __init__(self, body: Iterable[bytes], stream: Any) -> None:
        self.body, self.stream = body, stream

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            try:
                while self.stream is not None and self.stream.read(1 << 16):
                    pass
            except (OSError, ValueError):
                pass  # the client (nginx) went away: nothing left to protect


@dataclass(frozen=True)
class FrontPlan:
    run_dir: Path
    host: str
    port: int
    main_socket: Path
    ocsp_socket: Path
    max_body_mb: int  # the app's MAX_CONTENT_LENGTH: bigger bodies get nginx's 413
    max_pdf_mb: int
    worker_connections: int = 4096
    read_timeout_s: int = 35  # a little above the pools' worker timeout: theirs answers first

    @property
    def conf_path(self) -> Path:
        return self.run_dir / "nginx.conf"


def _problem(status: int, title: str, detail: str) -> str:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return "'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _q(path: Path) -> str:
    """A path as an nginx string (a data directory may hold spaces)."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _user_line() -> str:
    """As root, nginx workers would switch to `nobody` and lose the private run directory:
    keep them as the invoking user. Another user's nginx cannot switch (the directive would
    only add a warning), so there is none."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};\n"


def render_nginx_conf(plan: FrontPlan) -> str:
    run = plan.run_dir
    temps = "".join(f"    {name}_temp_path {_q(run / 'nginx' / name)};\n" for name in TEMP_DIRS)
    ocsp_too_large = _problem(413, "Payload Too Large", f"the request body is larger than {OCSP_MAX_KB} KB (an OCSP "
                                                        f"request is at most 16 KB)")
    too_large = _problem(413, "Payload Too Large", f"the request body is larger than {plan.max_body_mb} MB "
                                                   f"(a PDF may be at most {plan.max_pdf_mb} MB)")
    unavailable = _problem(503, "Service Unavailable", "the service is busy or restarting; try again shortly")
    timeout = _problem(504, "Gateway Timeout", "the request took too long to process")
    return f"""# Written by `govca serve` at every start; edits are lost.
daemon off;
master_process on;
worker_processes 1;
{_user_line()}pid {_q(run / 'nginx.pid')};
error_log stderr error;

events {{
    worker_connections {plan.worker_connections};
}}

http {{
{temps}    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    underscores_in_headers off;

    # Clients: whole requests within short, bounded times (header: in total; body and
    # answer: between two reads or writes), idle keep-alive connections closed soon.
    client_header_timeout 10s;
    client_body_timeout 10s;
    send_timeout 15s;
    keepalive_timeout 15s;
    keepalive_requests 1000;
    reset_timedout_connection on;
    client_header_buffer_size 1k;
    large_client_header_buffers 4 8k;
    client_max_body_size {plan.max_body_mb}m;
    client_body_buffer_size 256k;

    # Pools: complete requests only, answers buffered so a slow reader holds no worker.
    proxy_http_version 1.1;
    proxy_request_buffering on;
    proxy_buffering on;
    proxy_buffer_size 16k;
    proxy_buffers 16 32k;
    proxy_busy_buffers_size 64k;
    proxy_connect_timeout 5s;
    proxy_send_timeout 30s;
    proxy_read_timeout {plan.read_timeout_s}s;
    proxy_next_upstream off;
    proxy_set_header Host $govca_host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Ssl "";
    proxy_set_header X-Forwarded-Protocol "";

    # The Host the client sent (with its port); an HTTP/1.0 client may send none.
    map $http_host $govca_host {{ "" $server_addr:$server_port; default $http_host; }}
    upstream main_pool {{ server "unix:{plan.main_socket}"; }}
    upstream ocsp_pool {{ server "unix:{plan.ocsp_socket}"; }}

    server {{
        listen {_listen(plan.host, plan.port)} backlog=1024;
        merge_slashes off;
        error_page 413 =413 @too_large;
        error_page 502 503 =503 @unavailable;
        error_page 504 =504 @timeout;
        location @too_large {{ default_type application/json; return 413 {too_large}; }}
        location @ocsp_too_large {{ default_type application/json; return 413 {ocsp_too_large}; }}
        location @unavailable {{
            default_type application/json;
            add_header Retry-After 5 always;
            return 503 {unavailable};
        }}
        location @timeout {{ default_type application/json; return 504 {timeout}; }}
        # OCSP requests are small (16 KB in ocsp/wsgi.py): nothing bigger reaches that pool. A
        # level with an error_page of its own inherits none, hence 502-504 once more.
        location ~ "{OCSP_POOL_PATHS}" {{
            client_max_body_size {OCSP_MAX_KB}k;
            error_page 413 =413 @ocsp_too_large;
                error_page 502 503 =503 @unavailable;
            error_page 504 =504 @timeout;
            proxy_pass http://ocsp_pool;
        }}
        location / {{ proxy_pass http://main_pool; }}
    }}
}}
"""


def prepare(plan: FrontPlan) -> None:
    """The config and nginx's temporary directories in the (private) run directory."""
    for name in TEMP_DIRS:
        (plan.run_dir / "nginx" / name).mkdir(parents=True, exist_ok=True, mode=0o700)
    plan.conf_path.write_text(render_nginx_conf(plan), encoding="utf-8")


def nginx_argv(nginx: str, plan: FrontPlan) -> list[str]:
    # -e: the log before the config is read (the built-in path is not writable for a user).
    return [nginx, "-e", "stderr", "-p", str(plan.run_dir / "nginx"), "-c", str(plan.conf_path)]


def find_nginx() -> str | None:
    """nginx is in /usr/sbin, which a normal user's PATH often lacks."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/usr/local/sbin"
    return shutil.which("nginx", path=path)
