"""OCSP throughput benchmark of `govca serve` (a benchmark, not a test).

    .venv/bin/python bench/ocsp.py [--seconds 10] [--connections 16] [--json]

In one run it creates a throw-away data directory and CA (root and issuing CA on EC P-384, a few
e-seal certificates, an EC P-256 delegated OCSP responder with pre-signed responses), starts
`govca serve --workers 2` (gunicorn, sync workers) and measures with wrk (2 threads, N
connections, --seconds each, a 1 s warm-up first):

  (a) nonce-less GET /ocsp/<base64>: answered from the pre-signed responses in the database;
  (b) POST /ocsp with a nonce (a pool of 1,000 distinct requests): signed on demand in the HSM;
  (c) the HTTP ceiling: bench/_fixed_app.py, ~1 KB of fixed bytes from Flask under the same
      gunicorn (2 sync workers);
  (d) before any server starts, the raw SoftHSM signature rate of the responder key
      (ECDSA-SHA256) in 1 and in 2 processes (spawned; each opens its own session).

It first checks one GET and one POST answer (openssl verifies chain and status; the nonce must be
echoed) and reports wrk's non-2xx responses and socket errors. Goals: pre-signed >= 70% of the
HTTP ceiling; on-demand >= 60% of min(HSM rate in 2 processes, HTTP ceiling). wrk and the servers
share this machine's cores, so figures vary from run to run (10-20%, more on a busy machine).
"""
from __future__ import annotations

import argparse, base64, json, multiprocessing as mp, os, re, shutil, signal, socket  # noqa: E401
import subprocess, sys, tempfile, time, urllib.parse, urllib.request  # noqa: E401
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# This file is named ocsp.py: keep bench/ off sys.path so that `ocsp` is the project's package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
BIN = ROOT / ".venv" / "bin"
N_CERTS, N_NONCES, HSM_SECONDS = 3, 1000, 3.0
SUBJECT = "/C=TH/O=Bench/CN=Seal {}/organizationIdentifier=NTRTH-0994000000001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


def setup_ca(work: Path, port: int) -> list[Path]:
    home, g = str(work / "home"), str(BIN / "govca")
    run(g, "--home", home, "init", "--base-url", f"http://127.0.0.1:{port}")
    run(g, "--home", home, "ca", "create-root", "--name", "root", "--subject", "/C=TH/O=Bench/CN=Bench Root",
        "--key-type", "ec-p384")
    run(g, "--home", home, "ca", "create-issuing", "--name", "issuing", "--parent", "root", "--subject",
        "/C=TH/O=Bench/CN=Bench Issuing", "--key-type", "ec-p384")
    certs = []
    for i in range(N_CERTS):
        out = work / f"cert{i}.pem"
        run(g, "--home", home, "cert", "issue", "--ca", "issuing", "--profile", "eseal", "--generate-key", "ec-p256",
            "--subject", SUBJECT.format(i), "--out", str(out), "--json")
        certs.append(out)
    run(g, "--home", home, "ocsp", "setup", "--ca", "issuing")
    for name in ("issuing", "root"):
        run(g, "--home", home, "ca", "export", name, "--out", str(work / f"{name}.pem"))
    return certs


# --- (d) raw HSM signature rate -------------------------------------------------------------------
def _hsm_worker(home: str, seconds: float, barrier, results) -> None:  # type: ignore[no-untyped-def]
    import hsm
    from cli.compose import build_ca_service

    svc = build_ca_service(Path(home))
    key = svc.ctx.service_keys.get_key(svc.ocsp_responders()[0].key_uri)
    data = b"x" * 200
    for _ in range(50):
        key.sign(data, hsm.Mechanism.ECDSA_SHA256)
    barrier.wait()
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        key.sign(data, hsm.Mechanism.ECDSA_SHA256)
        n += 1
    results.put(n / elapsed)


def hsm_rate(home: Path, procs: int) -> float:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    workers = [ctx.Process(target=_hsm_worker, args=(str(home), HSM_SECONDS, barrier, results)) for _ in range(procs)]
    [w.start() for w in workers]
    rates = [results.get(timeout=120) for _ in workers]
    [w.join() for w in workers]
    return sum(rates)


def start(cmd: list[str], port: int, probe: str, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    stop(proc)
    sys.exit(f"server did not become healthy: {' '.join(cmd)}\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM), proc.wait(15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def build_pools(work: Path, certs: list[Path]) -> tuple[list[str], list[tuple[bytes, bytes]]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp

    gets = []
    for cert in certs:
        for digest in ("-sha1", "-sha256"):
            req = work / "req.der"
            run("openssl", "ocsp", "-issuer", str(work / "issuing.pem"), digest, "-cert", str(cert), "-no_nonce",
                "-reqout", str(req))
            gets.append("/ocsp/" + urllib.parse.quote(base64.b64encode(req.read_bytes()).decode(), safe=""))
    issuer = x509.load_pem_x509_certificate((work / "issuing.pem").read_bytes())
    loaded = [x509.load_pem_x509_certificate(c.read_bytes()) for c in certs]
    posts = []
    for i in range(N_NONCES):
        nonce = os.urandom(16)
        req = (ocsp.OCSPRequestBuilder().add_certificate(loaded[i % len(loaded)], issuer, hashes.SHA1())
               .add_extension(x509.OCSPNonce(nonce), critical=False).build())
        posts.append((req.public_bytes(Encoding.DER), nonce))
    return gets, posts


def check_answer(work: Path, der: bytes, cert: Path, nonce: bytes | None, what: str) -> None:
    from cryptography import x509
    from cryptography.x509 import ocsp

    path = work / "answer.der"
    path.write_bytes(der)
    out = run("openssl", "ocsp", "-respin", str(path), "-issuer", str(work / "issuing.pem"), "-CAfile",
              str(work / "root.pem"), "-cert", str(cert), "-no_nonce")
    parsed = ocsp.load_der_ocsp_response(der)
    ok = ("Response verify OK" in out and f"{cert}: good" in out
          and parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL)
    if ok and nonce is not None:
        ok = parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    if not ok:
        sys.exit(f"{what}: not a valid successful OCSP answer\n{out}")


def verify(work: Path, port: int, cert: Path, get_path: str, post: tuple[bytes, bytes]) -> None:
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(base + get_path, timeout=10) as resp:
        check_answer(work, resp.read(), cert, None, "pre-signed GET")
    req = urllib.request.Request(base + "/ocsp", data=post[0], headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        check_answer(work, resp.read(), cert, post[1], "nonce POST")


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(port: int, pool: Path, seconds: int, connections: int) -> dict:
    base = ["wrk", "-t2", f"-c{connections}", "--latency", "-s", str(HERE / "_wrk_pool.lua")]
    run(*base, "-d1s", f"http://127.0.0.1:{port}", "--", str(pool))  # warm-up: every worker opens the HSM
    out = run(*base, f"-d{seconds}s", f"http://127.0.0.1:{port}", "--", str(pool))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        "non_2xx_3xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    work = Path(tempfile.mkdtemp(prefix="govca-bench-"))
    servers: list[subprocess.Popen] = []
    try:
        port, fixed_port = free_port(), free_port()
        say(f"setting up a demo CA in {work} ...")
        certs = setup_ca(work, port)
        gets, posts = build_pools(work, certs)
        (work / "get.pool").write_text("".join(f"GET {p}\n" for p in gets))
        (work / "post.pool").write_text("".join(f"POST /ocsp {der.hex()}\n" for der, _ in posts))
        (work / "fixed.pool").write_text("GET /ocsp/fixed\n")
        say("measuring the HSM signature rate ...")
        hsm1, hsm2 = hsm_rate(work / "home", 1), hsm_rate(work / "home", 2)
        servers.append(start([str(BIN / "govca"), "--home", str(work / "home"), "serve", "--port", str(port),
                              "--workers", "2"], port, "/healthz", work / "serve.log"))
        servers.append(start([str(BIN / "gunicorn"), "-w", "2", "-k", "sync", "--chdir", str(HERE),
                              "_fixed_app:app", "-b", f"127.0.0.1:{fixed_port}"], fixed_port, "/", work / "fixed.log"))
        verify(work, port, certs[0], gets[0], posts[0])
        say(f"answers verified; wrk: 2 threads, {args.connections} connections, {args.seconds} s each ...")
        runs = {name: wrk(p, work / f"{pool}.pool", args.seconds, args.connections)
                for name, p, pool in (("presigned_get", port, "get"), ("nonce_post", port, "post"),
                                      ("fixed_bytes", fixed_port, "fixed"))}
    finally:
        for proc in servers:
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    ceiling = runs["fixed_bytes"]["requests_per_s"]
    bound = min(hsm2, ceiling)
    pre_ratio = runs["presigned_get"]["requests_per_s"] / ceiling
    dyn_ratio = runs["nonce_post"]["requests_per_s"] / bound
    result = {**runs, "hsm_signatures_per_s": {"1_process": round(hsm1), "2_processes": round(hsm2)},
              "presigned_over_ceiling": round(pre_ratio, 3), "presigned_goal_met": pre_ratio >= 0.70,
              "ondemand_over_bound": round(dyn_ratio, 3), "ondemand_bound": round(bound),
              "ondemand_goal_met": dyn_ratio >= 0.60,
              "settings": {"seconds": args.seconds, "connections": args.connections, "wrk_threads": 2,
                           "workers": 2, "cpus": os.cpu_count()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\n{'':26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'sock err':>9}")
    for name, label in (("presigned_get", "pre-signed GET"), ("nonce_post", "nonce POST (HSM-signed)"),
                        ("fixed_bytes", "fixed bytes (ceiling)")):
        r = runs[name]
        print(f"{label:26}{r['requests_per_s']:9.0f}{r['p50_ms']:9.2f}{r['p99_ms']:9.2f}"
              f"{r['non_2xx_3xx']:9d}{r['socket_errors']:9d}")
    print(f"HSM ECDSA P-256 signatures/s: {hsm1:.0f} (1 process), {hsm2:.0f} (2 processes)")
    for label, ratio, goal in (("pre-signed / HTTP ceiling", pre_ratio, 0.70),
                               (f"on-demand / min(HSM x2, ceiling) = /{bound:.0f}", dyn_ratio, 0.60)):
        print(f"{label:44}{ratio:7.1%}  (goal >= {goal:.0%}: {'met' if ratio >= goal else 'NOT met'})")


if __name__ == "__main__":
    main()
