"""CSC v1 remote-signing throughput of `govca serve` against the HSM and HTTP bounds (a benchmark, not a test).

    .venv/bin/python bench/csc.py [--seconds 10] [--clients 4] [--json]

One run: a throw-away CA (bench/sign.py's setup, agency BENCH, an API token), pools of RSA-2048 and
of EC P-256 officials enrolled with `govca official add|enrol` (in this process, through click),
then per key type:
  service  --clients Python threads loop for --seconds (after a 1 s warm-up) on one SCAL2 round trip:
           credentials/authorize of 10 fresh random SHA-256 digests (numSignatures 10, PIN + TOTP),
           then one signatures/signHash of those 10. Signatures/s, p50/p99 of the round trip; every
           answer must be 200 with 10 signatures, and one signature per key type is verified first
           against the certificate from credentials/info.
  HSM      before the server starts: key.sign(digest, prehashed=True) in 1 and 2 spawned processes.
  ceiling  bench/_fixed_app.py under gunicorn (2 sync workers), wrk -t2 -c16, as bench/ocsp.py does.
Goal: signatures/s >= 50% of min(HSM signatures/s in 2 processes, HTTP ceiling requests/s).

Each TOTP code of an official is accepted once (RFC 6238 5.2, signer/remote/officials.py check_factors),
so one official can authorise ~3 times at once (steps t-1, t, t+1), then once per 30 s: each client
owns a share of a pool of officials (--officials per key type) and never reuses an (official, step).
"starve" is time spent waiting for an unused code (non-zero: the pool, not the server, limited
the run). py-spy samples one worker for
5 s of the EC run, summarised by area (bench/_signkit.py, first matching area per sample).
"""
from __future__ import annotations

import argparse, base64, http.client, importlib.util, json, multiprocessing as mp, os, re  # noqa: E401
import shutil, sys, tempfile, threading, time  # noqa: E401
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT), str(HERE)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]
import _signkit as kit  # noqa: E402 - bench/_signkit.py: cpu_s, machine_busy_s, record, summarise
import sign  # noqa: E402 - bench/sign.py: setup_ca, start_server, workers, stop, free_port, BIN

_spec, _path = importlib.util.spec_from_file_location("bench_ocsp", HERE / "ocsp.py"), list(sys.path)
ocsp_bench = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type] - not `ocsp`: that is the package
_spec.loader.exec_module(ocsp_bench)  # type: ignore[union-attr] - bench/ocsp.py: start, wrk
sys.path[:] = _path

PIN, SHA256, WARMUP_S, HSM_S, PROFILE_S, BATCH = "135790", "2.16.840.1.101.3.4.2.1", 1.0, 3.0, 5, 10
POOL = {"rsa2048": 400, "ec-p256": 1000}  # officials per key type, sized so no client waits for a code
KEYS = {"rsa2048": ("1.2.840.113549.1.1.11", "RSA_PKCS1V15_SHA256"), "ec-p256": ("1.2.840.10045.4.3.2", "ECDSA_SHA256")}
AREAS = [  # bare function names with their files (py-spy 0.4 frames: "function (path:line)")
    ("audit writes (ca/audit.py, in the caller's transaction or its own)",
     r"\(ca/audit\.py|audit_in \(|write \(cli/signer_wiring"),
    ("PIN check: HMAC in the HSM (signer/pins.py)", r"\(signer/pins\.py|\(hsm/mac\.py"),
    ("TOTP: seed decrypt, codes (check_factors), step consumed (consume_step)",
     r"\(pyotp/|check_factors \(|consume_step \("),
    ("credential lookup (official row, certificate status)", r"credential \(signer/remote/csc|_official_credential \(|\(ca/status"),
    ("API client auth (bearer token, client row)", r"authenticate \(signer/sealing/service|__call__ \(signer/remote/csc_http|get_client \("),
    ("HSM key lookup (get_key, first use per worker)", r"get_key \(hsm/"),
    ("HSM sign (hsm/, python-pkcs11, SoftHSM)", r"\((hsm|pkcs11)/"),
    ("DB: SAD insert + redeem, commits, other SQL", r"\(sqlalchemy/|sqlite3|redeem \(signer/remote/csc"),
    ("JSON/HTTP (json, base64, gunicorn, Flask, werkzeug)", r"\((json|base64|gunicorn|flask|werkzeug)/|b64_list"),
]
KEY_FRAMES = re.compile(r"^(\w+) \((signer|ca|hsm|cli)/")


def govca(home: Path, *args: str) -> str:
    from click.testing import CliRunner
    from cli.main import main as cli

    res = CliRunner().invoke(cli, ["--home", str(home), *args])
    if res.exit_code != 0:
        sys.exit(f"govca {' '.join(args)} failed: {res.output}{res.exception!r}")
    return res.output


def enrol(home: Path, key_type: str, n: int, pin_file: Path) -> list[tuple[int, str]]:
    """n officials of agency BENCH with keys of key_type: [(id, TOTP seed)]."""
    out = []
    for i in range(n):
        oid = json.loads(govca(home, "official", "add", "--agency", "BENCH", "--given-name-th", "สมชาย", "--surname-th",
                               f"ทดสอบ{i}", "--given-name-en", "Somchai", "--surname-en", f"Test{i}", "--title",
                               "Director", "--json"))["id"]
        text = govca(home, "official", "enrol", str(oid), "--pin-file", str(pin_file), "--no-qr", "--key-type",
                     key_type)
        out.append((oid, re.search(r"otpauth://\S+[?&]secret=([A-Z2-7]+)", text).group(1)))  # type: ignore[union-attr]
    return out


def _hsm_worker(home: str, key_uri: str, mech: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    import hsm
    from cli.compose import build_ca_service

    key, digest, m = build_ca_service(Path(home)).ctx.service_keys.get_key(key_uri), os.urandom(32), hsm.Mechanism[mech]
    [key.sign(digest, m, prehashed=True) for _ in range(20)]
    barrier.wait()
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < HSM_S:
        n += bool(key.sign(digest, m, prehashed=True))
    results.put(n / elapsed)


def hsm_rate(home: Path, key_uri: str, mech: str, procs: int) -> float:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_hsm_worker, args=(str(home), key_uri, mech, barrier, results)) for _ in range(procs)]
    [p.start() for p in ps]
    rate = sum(results.get(timeout=120) for _ in ps)
    [p.join() for p in ps]
    return rate


class Codes:
    """One client's officials: (official, TOTP code) pairs never used before, steps ascending per
    official; step t-1 only while the server cannot reach step t+1 before the request lands."""

    def __init__(self, mine: list[tuple[int, str]]) -> None:
        import pyotp
        self.mine, self.last, self.starved = [(o, pyotp.TOTP(s)) for o, s in mine], {o: 0 for o, _ in mine}, 0.0

    def next(self, until: float) -> tuple[int, str] | None:
        while time.perf_counter() < until:
            now = time.time()
            cur = int(now // 30)
            for oid, totp in self.mine:
                if (step := max(self.last[oid] + 1, cur - 1 if 30 - now % 30 > 2 else cur)) <= cur + 1:
                    self.last[oid] = step
                    return oid, totp.generate_otp(step)
            t0 = time.perf_counter()
            time.sleep(min(30 - now % 30 + 0.05, max(0.0, until - t0)))
            self.starved += time.perf_counter() - t0
        return None


def post(conn: http.client.HTTPConnection, token: str, method: str, body: dict) -> tuple[int, dict]:
    conn.request("POST", f"/csc/v1/{method}", json.dumps(body), {"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, json.loads(data) if data[:1] == b"{" else {"raw": data[:160].decode(errors="replace")}


def round_trip(conn: http.client.HTTPConnection, token: str, oid: int, otp: str, algo: str) -> tuple:
    """authorize 10 fresh digests, signHash them: (error, [(digest, signature)], authorize s, signHash s)."""
    digests = [os.urandom(32) for _ in range(BATCH)]
    b64, cred, t0 = [base64.b64encode(d).decode() for d in digests], f"official-{oid}", time.perf_counter()
    st, auth = post(conn, token, "credentials/authorize", {"credentialID": cred, "numSignatures": BATCH, "hash": b64,
                                                           "PIN": PIN, "OTP": otp})
    if st != 200 or "SAD" not in auth:
        return f"authorize HTTP {st}: {auth}", [], time.perf_counter() - t0, 0.0
    t1 = time.perf_counter()
    st, out = post(conn, token, "signatures/signHash", {"credentialID": cred, "SAD": auth["SAD"], "hash": b64,
                                                        "hashAlgo": SHA256, "signAlgo": algo})
    sigs = out.get("signatures") or []
    err = None if st == 200 and len(sigs) == BATCH else f"signHash HTTP {st}: {str(out)[:160]}"
    return err, list(zip(digests, sigs)), t1 - t0, time.perf_counter() - t1


def check(port: int, token: str, official: tuple[int, str], key_type: str) -> None:
    """One round trip with the reserved official; its first signature must verify under the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    oid, otp = Codes([official]).next(1e12)  # type: ignore[misc]
    err, pairs, _, _ = round_trip(conn, token, oid, otp, KEYS[key_type][0])
    st, info = post(conn, token, "credentials/info", {"credentialID": f"official-{oid}"})
    if err or st != 200:
        sys.exit(f"{key_type}: {err or info}")
    pub, pre = x509.load_der_x509_certificate(base64.b64decode(info["cert"]["certificates"][0])).public_key(), \
        utils.Prehashed(hashes.SHA256())
    pub.verify(base64.b64decode(pairs[0][1]), pairs[0][0],  # type: ignore[call-arg, arg-type]
               *([ec.ECDSA(pre)] if key_type == "ec-p256" else [padding.PKCS1v15(), pre]))


def drive(port: int, token: str, pool: list, key_type: str, clients: int, seconds: float, server: list[int]) -> dict:
    """`clients` threads, each with its own share of the officials, loop authorize + signHash of 10."""
    rt: list[tuple[float, float]] = []
    errors: Counter = Counter()
    lock, window, shares = threading.Lock(), [0.0], [Codes(pool[i::clients]) for i in range(clients)]

    def client(codes: Codes) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while (code := codes.next(window[0])) is not None:
            try:
                err, _, ta, ts = round_trip(conn, token, *code, KEYS[key_type][0])
            except (OSError, http.client.HTTPException) as exc:
                err, conn = f"{type(exc).__name__}: {exc}", http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                if err is not None:
                    errors[err[:120]] += 1
                elif time.perf_counter() <= window[0]:  # answers inside the window only
                    rt.append((ta, ts))

    def burst(duration: float) -> float:
        rt.clear(), errors.clear()
        t0 = time.perf_counter()
        window[0], threads = t0 + duration, [threading.Thread(target=client, args=(c,)) for c in shares]
        [t.start() for t in threads], [t.join() for t in threads]
        return min(time.perf_counter(), window[0]) - t0

    burst(WARMUP_S)  # every worker imports, opens the HSM, fills its caches
    starved0, t0, cpu0, own0, busy0 = (sum(c.starved for c in shares), time.perf_counter(), kit.cpu_s(server),
                                       time.process_time(), kit.machine_busy_s())
    elapsed = burst(seconds)
    wall, srv, own = time.perf_counter() - t0, kit.cpu_s(server) - cpu0, time.process_time() - own0
    other = max(0.0, kit.machine_busy_s() - busy0 - srv - own)
    pct = (lambda xs, q: 1e3 * sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan"))
    return {"signatures_per_s": BATCH * len(rt) / elapsed, "round_trips": len(rt),
            "p50_ms": pct([a + s for a, s in rt], 0.5), "p99_ms": pct([a + s for a, s in rt], 0.99),
            "authorize_p50_ms": pct([a for a, _ in rt], 0.5), "signhash_p50_ms": pct([s for _, s in rt], 0.5),
            "errors": sum(errors.values()), "error_samples": list(errors)[:3],
            "starved_s": sum(c.starved for c in shares) - starved0, "server_cpus": srv / wall,
            "server_cpu_ms_per_round_trip": 1e3 * srv / max(1, len(rt)), "client_cpus": own / wall,
            "other_cpus": other / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--officials", type=int, help="officials per key type (default: RSA 400, EC 1000; each "
                    "authorises ~3 times per 30 s, RFC 6238 5.2); the starve column says when they were too few")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kit.py_spy_path()
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    work, servers, service, profile, hsm, pools = Path(tempfile.mkdtemp(prefix="govca-bench-csc-")), [], {}, {}, {}, {}
    try:
        port, fixed_port, home = sign.free_port(), sign.free_port(), work / "home"
        say(f"setting up a demo CA in {work} ...")
        token = sign.setup_ca(home, port)
        (pin_file := work / "pin").write_text(PIN + "\n"), pin_file.chmod(0o600)
        for kt in KEYS:
            n = args.officials or POOL[kt]
            say(f"enrolling {n} {kt} officials ...")
            pools[kt] = enrol(home, kt, n, pin_file)
        uris = {o["id"]: o["key_uri"] for o in json.loads(govca(home, "official", "list", "--json"))}
        for kt, (_, mech) in KEYS.items():
            say(f"HSM {mech}: 1 and 2 processes, {HSM_S:g} s each ...")
            hsm[kt] = {str(p): hsm_rate(home, uris[pools[kt][0][0]], mech, p) for p in (1, 2)}
        servers.append(sign.start_server(home, port, work / "serve.log"))
        pids = sign.workers(servers[0])
        for kt in KEYS:
            check(port, token, pools[kt][0], kt)  # pools[kt][0] is kept for this check
            spy, raw, secs = None, work / "ec.raw", max(1, min(PROFILE_S, int(args.seconds) - 1))
            if kt == "ec-p256":  # one worker, from 1 s into the timed window
                spy = threading.Timer(WARMUP_S + 1, lambda: setattr(spy, "proc", kit.record(pids[0], raw, secs)))
                spy.start()
            say(f"service {kt}: {args.clients} clients, {args.seconds:g} s, {len(pools[kt]) - 1} officials, "
                f"workers {pids} ...")
            service[kt] = drive(port, token, pools[kt][1:], kt, args.clients, args.seconds, [servers[0].pid, *pids])
            if spy is not None:
                spy.join()
                _, err = spy.proc.communicate(timeout=60)  # type: ignore[attr-defined]
                profile = {"seconds": secs, **kit.summarise(raw, AREAS, KEY_FRAMES)} if raw.exists() else {"error": err.decode()[-500:]}
        servers.append(ocsp_bench.start([str(sign.BIN / "gunicorn"), "-w", "2", "-k", "sync", "--chdir", str(HERE),
                                         "_fixed_app:app", "-b", f"127.0.0.1:{fixed_port}"], fixed_port, "/",
                                        work / "fixed.log"))
        body = json.dumps({"credentialID": "official-1", "SAD": "x" * 43, "hashAlgo": SHA256, "signAlgo": "1.2",
                           "hash": [base64.b64encode(os.urandom(32)).decode() for _ in range(BATCH)]})
        (work / "fixed.pool").write_text(f"POST /csc/v1/signatures/signHash {body.encode().hex()}\n")
        say(f"HTTP ceiling: wrk -t2 -c16 -d{int(args.seconds)}s, a signHash-sized POST to the fixed-bytes app ...")
        ceiling = ocsp_bench.wrk(fixed_port, work / "fixed.pool", int(args.seconds), 16)
    finally:
        for proc in servers:
            sign.stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    report(service, hsm, ceiling, profile, {kt: len(p) - 1 for kt, p in pools.items()}, args)


def report(service: dict, hsm: dict, ceiling: dict, profile: dict, officials: dict, args: argparse.Namespace) -> None:
    cases = {}
    for kt, s in service.items():
        bound = min(hsm[kt]["2"], ceiling["requests_per_s"])
        cases[kt] = {**s, "hsm_signatures_per_s": {p: round(r) for p, r in hsm[kt].items()}, "bound": round(bound),
                     "ratio": s["signatures_per_s"] / bound, "goal_50pct_met": s["signatures_per_s"] / bound >= 0.5
                     and s["errors"] == 0}
    if args.json:
        print(json.dumps({"cases": cases, "http_ceiling": ceiling, "profile_ec_one_worker": profile, "settings": {
            "seconds": args.seconds, "clients": args.clients, "workers": 2, "officials_per_key_type": officials,
            "signatures_per_sad": BATCH, "cpus": os.cpu_count()}}, indent=2))
        return
    cols = [("sig/s", "signatures_per_s", "6.0f"), ("p50 ms", "p50_ms", "7.0f"), ("p99 ms", "p99_ms", "7.0f"),
            ("auth50", "authorize_p50_ms", "7.0f"), ("sign50", "signhash_p50_ms", "7.0f"), ("err", "errors", "4d"),
            ("starve", "starved_s", "7.1f"), ("cpu ms", "server_cpu_ms_per_round_trip", "7.1f"),
            ("srv", "server_cpus", "5.2f"), ("cli", "client_cpus", "5.2f"), ("oth", "other_cpus", "5.2f"),
            ("HSM x1", "hsm1", "7.0f"), ("HSM x2", "hsm2", "7.0f"), ("bound", "bound", "6d"),
            ("ratio", "ratio", "7.1%")]
    print("\n" + f"{'key':8}" + "".join(f"{h:>{f[0]}}" for h, _, f in cols) + "  goal >= 50%")
    for kt, r in cases.items():
        r = {**r, "hsm1": hsm[kt]["1"], "hsm2": hsm[kt]["2"]}
        row = "".join(format(r[k], f) for _, k, f in cols)
        print(f"{kt:8}{row}  {'met' if r['goal_50pct_met'] else 'NOT met'}")
        print("".join(f"    error: {e}\n" for e in r["error_samples"]), end="")
    c = ceiling
    print(f"HTTP ceiling (fixed bytes, gunicorn 2 sync workers, wrk -t2 -c16): {c['requests_per_s']:.0f} req/s, p50 "
          f"{c['p50_ms']:.2f} ms, p99 {c['p99_ms']:.2f} ms, non-2xx {c['non_2xx_3xx']}, socket errors "
          f"{c['socket_errors']}\n"
          f"sig/s: through signHash, a fresh SAD (authorize of {BATCH} digests) per signHash of {BATCH}. p50/p99: the "
          "authorize+signHash round trip; auth50/sign50: p50 of each call. starve: client-seconds waiting for an "
          f"unused TOTP code. cpu ms: server CPU per round trip; srv/cli/oth: CPUs (of {os.cpu_count()}) used by the "
          f"server, this load generator and all else. bound: min(HSM x2, HTTP ceiling). {args.clients} clients, "
          f"{args.seconds:g} s, officials: {', '.join(f'{n} {kt}' for kt, n in officials.items())}.")
    if profile:
        kit.print_profile("ec-p256", profile, width=66)


if __name__ == "__main__":
    main()
