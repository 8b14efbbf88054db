"""Issue 9 against `govca serve` (nginx in front of the OCSP and main gunicorn pools): slow or idle
clients cannot starve the service, and a verification burst cannot starve OCSP. Also the
client address the pools see, the process layout, and a dying child stopping the whole service."""
from __future__ import annotations

import math
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.x509 import ocsp

from cli.front import ClientAddressFromFront
from conftest import REPO, Cli, make_home
from ocsp_helpers import LiveServer, free_port, load, request_der
from sealing_helpers import sample_pdf
from verify_helpers import api_seal, api_verify

ATTACK_CAP_S = 60  # the slow clients stop by themselves after this, whatever happens


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import base64
    import urllib.parse

    from sealing_helpers import setup_sealing

    tmp = tmp_path_factory.mktemp("slow")
    port = free_port()
    cli = Cli(make_home(tmp, base_url=f"http://127.0.0.1:{port}"))
    info = setup_sealing(cli, tmp)
    f = info["files"]
    der = request_der(load(f["good"]), load(f["issuing"]))
    info["ocsp_get"] = "/ocsp/" + urllib.parse.quote(base64.b64encode(der).decode(), safe="")
    server = LiveServer(cli.home, port)
    try:
        url, token = server.url, info["tokens"]["A"]
        info.update(server=server, url=url, token=token, pdf=sample_pdf())
        info["sealed"] = api_seal(url, token, info["pdf"])[0]
        for _ in range(2):  # every worker has opened the HSM and its database connection
            _parallel(lambda: (api_seal(url, token, info["pdf"]), api_verify(url, info["sealed"]), _ocsp(info)), 2)
        yield info
    finally:
        server.stop()
    # SIGTERM to the group (as LiveServer and service managers send it): all gone, exit 0.
    assert server.proc.returncode == 0 and _gone(server.proc.pid), _group(server.proc.pid)


def _parallel(fn, n: int) -> None:  # type: ignore[no-untyped-def]
    threads = [threading.Thread(target=fn) for _ in range(n)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]


def _ocsp(env: dict) -> float:
    """One OCSP GET on a new connection, as relying parties send them; the answer is checked."""
    started = time.perf_counter()
    with urllib.request.urlopen(env["url"] + env["ocsp_get"], timeout=10) as r:
        body = r.read()
        assert r.status == 200 and r.headers["Content-Type"] == "application/ocsp-response"
    took = time.perf_counter() - started
    answer = ocsp.load_der_ocsp_response(body)
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    return took


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def p99(samples: list[float]) -> float:
    return sorted(samples)[math.ceil(0.99 * len(samples)) - 1]


class SlowClients:
    """Loopback connections that hold on: idle ones (connect, send nothing), and ones trickling
    their headers or their body one byte a second, on OCSP and on main-pool paths. A connection
    the server closes is opened again at once (as an attacker would)."""

    def __init__(self, port: int, idle: int = 50, trickling: int = 50) -> None:
        self.port, self.stop, self.reopened = port, threading.Event(), 0
        prefixes = [b"GET /ocsp/MEIwQDA HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
                    b"GET /verify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
                    b"POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
                    b"Content-Length: 5000\r\n\r\n",
                    b"POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/pdf\r\n"
                    b"Content-Length: 100000\r\n\r\n"]
        self.conns: list[list] = [[None, b""] for _ in range(idle)]
        self.conns += [[None, prefixes[i % len(prefixes)]] for i in range(trickling)]
        for c in self.conns:
            self._open(c)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self, c: list) -> None:
        if c[0] is not None:
            c[0].close()
            self.reopened += 1
        c[0] = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        c[0].sendall(c[1])

    def _closed(self, s: socket.socket) -> bool:
        if not select.select([s], [], [], 0)[0]:
            return False
        try:
            return s.recv(4096, socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _run(self) -> None:
        deadline = time.monotonic() + ATTACK_CAP_S
        while not self.stop.wait(1.0) and time.monotonic() < deadline:
            for c in self.conns:
                try:
                    if self._closed(c[0]):
                        self._open(c)
                    elif c[1]:
                        c[0].send(b"a")
                except OSError:
                    try:
                        self._open(c)
                    except OSError:
                        pass

    def open_count(self) -> int:
        return sum(1 for c in self.conns if not self._closed(c[0]))

    def __enter__(self) -> "SlowClients":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        for c in self.conns:
            c[0].close()


def test_ocsp_sealing_and_verification_answer_within_1s_while_100_slow_clients_hold_connections(env: dict) -> None:
    with SlowClients(env["server"].port) as attack:
        time.sleep(1.5)  # every trickler has sent a byte or two
        assert attack.open_count() == 100  # the front holds them all
        ocsp_s = []
        seal_s, verify_s = [], []
        for i in range(100):
            ocsp_s.append(_ocsp(env))
            if i % 10 == 0:
                seal_s.append(_timed(lambda: api_seal(env["url"], env["token"], env["pdf"])))
                verify_s.append(_timed(lambda: api_verify(env["url"], env["sealed"])))
        assert attack.open_count() >= 95
    assert p99(ocsp_s) < 1.0, sorted(ocsp_s)[-5:]
    assert p99(seal_s) < 1.0 and p99(verify_s) < 1.0, (seal_s, verify_s)


def test_ocsp_keeps_answering_while_the_main_pool_is_saturated(env: dict) -> None:
    stop, spans = threading.Event(), []

    def burst() -> None:  # four clients for the two main-pool workers: both always busy
        while not stop.is_set():
            started = time.monotonic()
            status = api_verify(env["url"], env["sealed"])[0]
            spans.append((started, time.monotonic(), status))

    threads = [threading.Thread(target=burst) for _ in range(4)]
    [t.start() for t in threads]
    try:
        time.sleep(0.5)
        begin = time.monotonic()
        ocsp_s = [_ocsp(env) for _ in range(100)]
        end = time.monotonic()
    finally:
        stop.set()
        [t.join(60) for t in threads]
    assert p99(ocsp_s) < 1.0, sorted(ocsp_s)[-5:]
    assert all(status == 200 for _, _, status in spans)
    # The burst covered the whole measurement: verifications ran before, during and after it.
    assert min(s for s, _, _ in spans) < begin and max(e for _, e, _ in spans) > end
    assert sum(1 for s, e, _ in spans if s < end and e > begin) >= 4


# --- the client address, the process layout, failures -----------------------------------------
def _serve(home: Path, port: int, *extra: str) -> tuple[subprocess.Popen, Path]:
    log = home.parent / f"serve-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "--home", str(home), "serve", "--port", str(port),
                             *extra], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, log
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("govca serve did not come up: " + log.read_text())


def _group(pgid: int) -> list[str]:
    """The command names of the processes still in a process group."""
    names = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text() if proc.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
            names.append(stat.split("(", 1)[1].rsplit(")", 1)[0])
    return names


def _children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(int(p.name)) == pid]


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _args(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _gone(pgid: int, within: float = 5.0) -> bool:
    """Whether every process of the group has exited (nginx's and gunicorn's workers included)."""
    deadline = time.monotonic() + within
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _group(pgid)


def _forged_get(port: int) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/healthz",
                                 headers={"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "203.0.113.9"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


@pytest.fixture
def bare_home(tmp_path: Path) -> Path:
    return make_home(tmp_path)


def test_behind_the_front_the_pools_see_the_peer_address_and_a_dying_pool_stops_everything(bare_home: Path) -> None:
    port = free_port()
    proc, log = _serve(bare_home, port, "--access-log")
    try:
        run_dir = bare_home / "run"
        assert run_dir.stat().st_mode & 0o777 == 0o700
        assert {p.name for p in run_dir.iterdir()} >= {"main.sock", "ocsp.sock", "nginx.conf", "metrics"}
        names = _group(proc.pid)  # serve, 2 arbiters, 4 workers, nginx's master and worker
        assert names.count("nginx") >= 2 and len(names) >= 1 + 2 * 3 + 2, names
        second = subprocess.run([sys.executable, "-m", "cli.main", "--home", str(bare_home), "serve", "--port",
                                 str(free_port())], capture_output=True, text=True, timeout=30,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert second.returncode == 1 and second.stderr.strip().startswith("govca: error: another govca serve")
        _forged_get(port)
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page", timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 404 and e.headers["Content-Type"] == "application/json"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read()  # one scrape, both pools' counters (the OCSP pool's and the main pool's)
        assert b'govca_http_requests_total{endpoint="/healthz"' in text
        assert b'govca_http_requests_total{endpoint="unmatched",method="GET",status="404"}' in text
        time.sleep(0.3)
        lines = [ln for ln in log.read_text().splitlines() if '"GET /healthz' in ln]
        assert lines and all(ln.startswith("127.0.0.1 ") for ln in lines), lines

        ocsp_pool = [pid for pid in _children(proc.pid) if "--name ocsp" in _args(pid)]
        assert len(ocsp_pool) == 1
        os.kill(ocsp_pool[0], signal.SIGKILL)
        assert proc.wait(20) == 1
        assert "govca: error: the OCSP pool (gunicorn) was killed by signal 9; stopped the others" in log.read_text()
        assert _gone(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_without_the_front_the_header_is_ignored(bare_home: Path) -> None:
    port = free_port()
    proc, log = _serve(bare_home, port, "--no-front", "--access-log")
    try:
        assert "nginx" not in _group(proc.pid)
        _forged_get(port)
        time.sleep(0.3)
        lines = [ln for ln in log.read_text().splitlines() if '"GET /healthz' in ln]
        assert lines and all(ln.startswith("127.0.0.1 ") for ln in lines), lines
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def test_the_middleware_takes_a_valid_x_real_ip_only() -> None:
    seen = {}

    def app(environ: dict, start_response):  # type: ignore[no-untyped-def]
        seen["addr"] = environ.get("REMOTE_ADDR")
        start_response("200 OK", [])
        return [b""]

    wrapped = ClientAddressFromFront(app)
    for header, expected in (("198.51.100.7", "198.51.100.7"), ("2001:db8::1", "2001:db8::1"),
                             ("not an address", ""), (None, "")):
        environ = {"REMOTE_ADDR": ""} | ({"HTTP_X_REAL_IP": header} if header else {})
        list(wrapped(environ, lambda *a: None))
        assert seen["addr"] == expected


def test_an_early_answer_before_a_large_body_is_read_reaches_the_client(env: dict) -> None:
    """RFC 9112 9.6: a server that answers before reading the body should read it before it
    closes, or the reset can destroy its answer. A 415 given before a 5 MB body is read must
    reach the client as a 415 every time, never as the front's 502/503."""
    import http.client

    body = b"x" * (5 << 20)
    statuses = []
    for _ in range(15):
        conn = http.client.HTTPConnection("127.0.0.1", int(env["url"].rsplit(":", 1)[1]), timeout=30)
        conn.request("POST", "/api/v1/sign", body=body,
                     headers={"Authorization": f"Bearer {env['token']}", "Content-Type": "text/plain"})
        resp = conn.getresponse()
        statuses.append(resp.status)
        resp.read()
        conn.close()
    assert statuses == [415] * 15, statuses


def test_the_pools_read_the_rest_of_an_unread_body_before_the_connection_closes() -> None:
    """The mechanism behind the test above, deterministically: after the app's answer, what is
    left of wsgi.input is read (RFC 9112 9.6), and the app's own close() still runs first."""
    import io

    events = []

    class Answer(list):
        def close(self) -> None:
            events.append(("closed", stream.tell()))

    def app(environ: dict, start_response):  # type: ignore[no-untyped-def]
        environ["wsgi.input"].read(10)  # a handler that stops reading early
        start_response("401 Unauthorized", [])
        return Answer([b"no"])

    stream = io.BytesIO(b"y" * 300_000)
    response = ClientAddressFromFront(app)({"REMOTE_ADDR": "", "wsgi.input": stream}, lambda *a: None)
    assert list(response) == [b"no"] and stream.tell() == 10
    response.close()
    assert events == [("closed", 10)] and stream.tell() == 300_000


def _flood_request(env: dict, kind: str, i: int) -> int:
    """One request of a flood: anonymous sealing, a wrong API token, or a wrong CSC login."""
    import base64

    client_id = env["token"].split("_")[1]
    wrong = "w" * 43
    if kind == "anonymous":
        req = urllib.request.Request(env["url"] + "/api/v1/sign", data=b"%PDF-1.7\n", method="POST",
                                     headers={"Content-Type": "application/pdf"})
    elif kind == "wrong-token":
        req = urllib.request.Request(env["url"] + "/api/v1/sign", data=b"%PDF-1.7\n", method="POST",
                                     headers={"Content-Type": "application/pdf",
                                              "Authorization": f"Bearer gvc_{client_id}_{wrong}{i % 10}"})
    else:
        basic = base64.b64encode(f"{client_id}:{wrong}{i % 10}".encode()).decode()
        req = urllib.request.Request(env["url"] + "/csc/v1/auth/login", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Basic {basic}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_rfc6585_4_bounded_floods_get_429s_ocsp_keeps_answering_and_the_audit_grows_by_a_bounded_count(
        env: dict) -> None:
    """Anonymous sealing, wrong tokens and wrong CSC logins from one address, 150 of each at
    once: past the threshold (throttle.failures_per_window per worker) they get 429; OCSP, on its
    own pool, answers within 1 s at p99 throughout; the audit log grows by a few aggregated
    records, not one per request."""
    import sqlite3

    def audit_rows() -> int:
        with sqlite3.connect(env["server"].home / "govca.db") as db:
            return db.execute("SELECT count(*) FROM audit_log").fetchone()[0]

    before = audit_rows()
    kinds = ("anonymous", "wrong-token", "wrong-login")
    statuses: dict[str, list[int]] = {k: [] for k in kinds}
    ocsp_times: list[float] = []
    done = threading.Event()

    def flood(kind: str) -> None:
        for i in range(150):
            statuses[kind].append(_flood_request(env, kind, i))

    def relying_party() -> None:
        while not done.is_set() and len(ocsp_times) < 300:
            ocsp_times.append(_ocsp(env))

    watcher = threading.Thread(target=relying_party)
    watcher.start()
    floods = [threading.Thread(target=flood, args=(k,)) for k in kinds for _ in range(2)]
    [t.start() for t in floods]
    [t.join(120) for t in floods]
    done.set()
    watcher.join(30)
    for kind in kinds:
        codes = statuses[kind]
        assert len(codes) == 300 and set(codes) <= {400, 401, 429}, (kind, sorted(set(codes)))
        assert codes.count(429) >= 150, (kind, codes.count(429))  # past 2 workers x 30, at most 60 judged
    assert len(ocsp_times) >= 20 and p99(ocsp_times) < 1.0, (len(ocsp_times), p99(ocsp_times))
    # First refusal per (address, action) per worker written at once; the rest wait for the
    # window to close as one record each: 3 actions x 2 workers at most, not 900.
    grown = audit_rows() - before
    assert grown <= 3 * 2 + 2, grown
