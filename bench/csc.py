"""CSC v1 remote-signing throughput of `govca serve` against the HSM and HTTP bounds (a benchmark, not a test).

    .venv/bin/python bench/csc.py [--seconds 10] [--clients 4] [--json]

In one run it creates a throw-away CA (bench/sign.py's setup: agency BENCH, an API client), enrols
pools of officials with `govca official add|enrol` (run in-process through click): RSA-2048 and EC
P-256, and measures per key type:

  service  --clients Python threads loop for --seconds (after a 1 s warm-up) over one SCAL2 round
           trip: credentials/authorize with 10 fresh random SHA-256 digests (numSignatures 10, PIN
           + TOTP), then one signatures/signHash of those 10: signatures/s, p50/p99 of the round
           trip. Every answer must be 200 with 10 signatures; one signature per key type is
           verified against the certificate from credentials/info first.
  HSM      before the server starts: key.sign(digest, prehashed=True) in 1 and 2 spawned processes.
  ceiling  bench/_fixed_app.py under gunicorn (2 sync workers), wrk -t2 -c16, as bench/ocsp.py does.

Goal: service signatures/s >= 50% of min(HSM signatures/s in 2 processes, HTTP ceiling requests/s).
RFC 6238 5.2 (signer/officials.py check_factors) accepts each TOTP code of an official once, so an
official authorises at most ~3 times at once (steps t-1, t, t+1) and once per 30 s after: each
client gets its own share of a pool of officials sized from the scrypt cost of a PIN check, and
uses each (official, step) once; time spent waiting for a usable code is reported ("starved").
py-spy samples one worker for 5 s of the EC run; samples are summarised by area (bench/_signkit.py).
"""
from __future__ import annotations

import argparse, base64, http.client, importlib.util, json, math, multiprocessing as mp, os, re  # noqa: E401
import shutil, subprocess, sys, tempfile, threading, time  # noqa: E401
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT), str(HERE)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]
import _signkit as kit  # noqa: E402 - bench/_signkit.py
import sign  # noqa: E402 - bench/sign.py: setup_ca, start_server, stop, workers, free_port, BIN

_spec = importlib.util.spec_from_file_location("bench_ocsp", HERE / "ocsp.py")  # not `ocsp`: that is the package
ocsp_bench = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_path = list(sys.path)
_spec.loader.exec_module(ocsp_bench)  # type: ignore[union-attr] - wrk(): runs and parses wrk
sys.path[:] = _path

PIN, SHA256 = "135790", "2.16.840.1.101.3.4.2.1"
KEYS = {"rsa2048": ("1.2.840.113549.1.1.11", "RSA_PKCS1V15_SHA256"), "ec-p256": ("1.2.840.10045.4.3.2", "ECDSA_SHA256")}
WARMUP_S, HSM_S, PROFILE_S, BATCH = 1.0, 3.0, 5, 10
kit.AREAS = [  # first match over the whole stack wins (see _signkit.summarise)
    ("audit writes (audit_writer, ca/audit)", r"audit_writer|\(ca/audit"),
    ("PIN check: scrypt (check_secret)", r"check_secret"),
    ("TOTP: seed decrypt + codes + step write (check_factors)", r"\(pyotp/|SecretBox|OfficialRepository\.check_factors"),
    ("credential lookup (RemoteSigning.credentials: every official + seal)",
     r"RemoteSigning\.credentials? |OfficialRepository\.list|seals_of|StatusReader"),
    ("API client auth (bearer token, client row)", r"blueprint\.<locals>\.client |authenticate|client_by_id"),
    ("lock check + reset (_check_factors reads/writes)", r"RemoteSigning\._check_factors"),
    ("HSM sign (hsm/, python-pkcs11, SoftHSM)", r"\((hsm|pkcs11)/"),
    ("DB: SAD insert/redeem (csc_sads) + other SQL", r"\(sqlalchemy/|sqlite3"),
    ("JSON/HTTP (json, base64, gunicorn/Flask/werkzeug)", r"\((json|base64|gunicorn|flask|werkzeug)/|b64_list"),
]
kit._KEY_FRAMES = re.compile(r"^(RemoteSigning\.\w+|OfficialRepository\.\w+|check_secret|HsmKey\.sign|authorize"
                             r"|sign_hash|audit_writer\.<locals>\.write|SignerRepository\.\w+|Session\.commit) \(")


def govca(home: Path, *args: str) -> str:
    """One `govca` command, in this process (click's runner): no interpreter start per official."""
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
        oid = json.loads(govca(home, "official", "add", "--agency", "BENCH", "--given-name-th", "สมชาย",
                               "--surname-th", f"ทดสอบ{i}", "--given-name-en", "Somchai", "--surname-en", f"Test{i}",
                               "--title", "Director", "--json"))["id"]
        text = govca(home, "official", "enrol", str(oid), "--pin-file", str(pin_file), "--no-qr", "--key-type", key_type)
        out.append((oid, re.search(r"otpauth://totp/\S+[?&]secret=([A-Z2-7]+)", text).group(1)))  # type: ignore[union-attr]
    return out


def _hsm_worker(home: str, key_uri: str, mech: str, seconds: float, barrier, results) -> None:  # type: ignore[no-untyped-def]
    import hsm
    from cli.compose import build_ca_service

    key, digest, m = build_ca_service(Path(home)).ctx.keys.get_key(key_uri), os.urandom(32), hsm.Mechanism[mech]
    for _ in range(20):
        key.sign(digest, m, prehashed=True)
    barrier.wait()
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        key.sign(digest, m, prehashed=True)
        n += 1
    results.put(n / elapsed)


def hsm_rate(home: Path, key_uri: str, mech: str, procs: int) -> float:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_hsm_worker, args=(str(home), key_uri, mech, HSM_S, barrier, results)) for _ in range(procs)]
    [p.start() for p in ps]
    rates = [results.get(timeout=120) for _ in ps]
    [p.join() for p in ps]
    return sum(rates)


class Codes:
    """A client's share of the officials; hands out (official, TOTP code) pairs never used before, in
    ascending step order per official; t-1 only while the server cannot be in step t+1 yet."""

    def __init__(self, mine: list[tuple[int, str]]) -> None:
        import pyotp
        self.mine, self.last, self.starved = [(o, pyotp.TOTP(s)) for o, s in mine], {o: 0 for o, _ in mine}, 0.0

    def next(self, until: float) -> tuple[int, str] | None:
        while time.perf_counter() < until:
            now = time.time()
            cur = int(now // 30)
            lo = cur - 1 if 30 - now % 30 > 2 else cur
            for oid, totp in self.mine:
                step = max(self.last[oid] + 1, lo)
                if step <= cur + 1:
                    self.last[oid] = step
                    return oid, totp.generate_otp(step)
            t0 = time.perf_counter()
            time.sleep(min(30 - now % 30 + 0.05, max(0.0, until - t0)))
            self.starved += time.perf_counter() - t0
        return None


def post(conn: http.client.HTTPConnection, token: str, method: str, body: dict) -> tuple[int, dict]:
    conn.request("POST", f"/csc/v1/{method}", json.dumps(body), {"Authorization": f"Bearer {token}",
                                                                  "Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, {"raw": data[:160].decode(errors="replace")}


def round_trip(conn, token: str, oid: int, otp: str, sign_algo: str) -> tuple[str | None, list, float, float]:  # type: ignore[no-untyped-def]
    """authorize 10 fresh digests, signHash them: (error, [(digest, signature)], authorize s, signHash s)."""
    digests = [os.urandom(32) for _ in range(BATCH)]
    b64 = [base64.b64encode(d).decode() for d in digests]
    t0 = time.perf_counter()
    st, auth = post(conn, token, "credentials/authorize", {"credentialID": f"official-{oid}", "numSignatures": BATCH,
                                                           "hash": b64, "PIN": PIN, "OTP": otp})
    t1 = time.perf_counter()
    if st != 200 or "SAD" not in auth:
        return f"authorize HTTP {st}: {auth}", [], t1 - t0, 0.0
    st, out = post(conn, token, "signatures/signHash", {"credentialID": f"official-{oid}", "SAD": auth["SAD"],
                                                        "hash": b64, "hashAlgo": SHA256, "signAlgo": sign_algo})
    sigs = out.get("signatures") or []
    err = None if st == 200 and len(sigs) == BATCH else f"signHash HTTP {st}: {str(out)[:160]}"
    return err, list(zip(digests, sigs)), t1 - t0, time.perf_counter() - t1


def check(port: int, token: str, official: tuple[int, str], key_type: str) -> None:
    """One round trip with the reserved official; its first signature must verify under the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    conn, codes = http.client.HTTPConnection("127.0.0.1", port, timeout=60), Codes([official])
    err, pairs, _, _ = round_trip(conn, token, official[0], codes.next(time.perf_counter() + 40)[1], KEYS[key_type][0])  # type: ignore[index]
    st, info = post(conn, token, "credentials/info", {"credentialID": f"official-{official[0]}"})
    if err or st != 200:
        sys.exit(f"{key_type}: {err or info}")
    pub = x509.load_der_x509_certificate(base64.b64decode(info["cert"]["certificates"][0])).public_key()
    digest, sig = pairs[0][0], base64.b64decode(pairs[0][1])
    pre = utils.Prehashed(hashes.SHA256())
    pub.verify(sig, digest, ec.ECDSA(pre)) if key_type == "ec-p256" else pub.verify(sig, digest, padding.PKCS1v15(), pre)  # type: ignore[union-attr, call-arg, arg-type]


def drive(port: int, token: str, pool: list[tuple[int, str]], key_type: str, clients: int, seconds: float,
          server: list[int]) -> dict:
    rt: list[tuple[float, float]] = []
    errors: Counter = Counter()
    lock, window = threading.Lock(), [0.0]
    shares = [Codes(pool[i::clients]) for i in range(clients)]

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
                elif time.perf_counter() <= window[0]:
                    rt.append((ta, ts))
        conn.close()

    def burst(duration: float) -> float:
        rt.clear(), errors.clear()
        window[0] = time.perf_counter() + duration
        threads = [threading.Thread(target=client, args=(c,)) for c in shares]
        t0 = time.perf_counter()
        [t.start() for t in threads]
        [t.join() for t in threads]
        return min(time.perf_counter(), window[0]) - t0

    burst(WARMUP_S)
    starved0 = sum(c.starved for c in shares)
    t0, cpu0, own0 = time.perf_counter(), kit.cpu_s(server), time.process_time()
    elapsed = burst(seconds)
    wall, srv, own = time.perf_counter() - t0, kit.cpu_s(server) - cpu0, time.process_time() - own0
    tot = sorted(a + s for a, s in rt)
    pct = (lambda xs, q: 1e3 * xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan"))
    return {"signatures_per_s": BATCH * len(rt) / elapsed, "round_trips": len(rt), "p50_ms": pct(tot, 0.5),
            "p99_ms": pct(tot, 0.99), "authorize_p50_ms": pct(sorted(a for a, _ in rt), 0.5),
            "signhash_p50_ms": pct(sorted(s for _, s in rt), 0.5), "errors": sum(errors.values()),
            "error_samples": list(errors)[:3], "starved_s": sum(c.starved for c in shares) - starved0,
            "server_cpu_ms_per_round_trip": 1e3 * srv / max(1, len(rt)), "server_cpus": srv / wall,
            "client_cpus": own / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    work = Path(tempfile.mkdtemp(prefix="govca-bench-csc-"))
    servers: list = []
    try:
        port, fixed_port, home = sign.free_port(), sign.free_port(), work / "home"
        say(f"setting up a demo CA in {work} ...")
        token = sign.setup_ca(home, port)
        from signer.credentials import check_secret, hash_secret
        stored, t0 = hash_secret(PIN), time.perf_counter()
        check_secret(PIN, stored)
        scrypt_s = time.perf_counter() - t0  # each authorize pays one: 2 workers authorise <= 2/scrypt_s per s
        n = math.ceil(2 / scrypt_s * (WARMUP_S + args.seconds) / 3) + args.clients + 1
        (pin_file := work / "pin").write_text(PIN + "\n"), pin_file.chmod(0o600)
        pools, hsm = {}, {}
        for kt in KEYS:
            say(f"enrolling {n} {kt} officials (PIN scrypt {1e3 * scrypt_s:.0f} ms) ...")
            pools[kt] = enrol(home, kt, n, pin_file)
        uris = {o["id"]: o["key_uri"] for o in json.loads(govca(home, "official", "list", "--json"))}
        for kt, (_, mech) in KEYS.items():
            say(f"HSM {mech}: 1 and 2 processes, {HSM_S:g} s each ...")
            hsm[kt] = {str(p): hsm_rate(home, uris[pools[kt][0][0]], mech, p) for p in (1, 2)}
        servers.append(sign.start_server(home, port, work / "serve.log"))
        pids = sign.workers(servers[0])
        service, profile = {}, {}
        for kt in KEYS:
            check(port, token, pools[kt][0], kt)
            spy, raw = None, work / "ec.raw"
            secs = max(1, min(PROFILE_S, int(args.seconds) - 1))
            if kt == "ec-p256":
                spy = threading.Timer(WARMUP_S + 1, lambda: setattr(spy, "proc", kit.record(pids[0], raw, secs)))
                spy.start()
            say(f"service {kt}: {args.clients} clients, {args.seconds:g} s, {n - 1} officials, workers {pids} ...")
            service[kt] = drive(port, token, pools[kt][1:], kt, args.clients, args.seconds, [servers[0].pid, *pids])
            if spy is not None:
                spy.join()
                _, err = spy.proc.communicate(timeout=60)  # type: ignore[attr-defined]
                profile = {"seconds": secs, **kit.summarise(raw)} if raw.exists() else {"error": err.decode()[-500:]}
        servers.append(ocsp_bench.start([str(sign.BIN / "gunicorn"), "-w", "2", "-k", "sync", "--chdir", str(HERE),
                                         "_fixed_app:app", "-b", f"127.0.0.1:{fixed_port}"], fixed_port, "/",
                                        work / "fixed.log"))
        body = json.dumps({"credentialID": "official-1", "SAD": "x" * 43, "hashAlgo": SHA256, "signAlgo": "1.2",
                           "hash": [base64.b64encode(os.urandom(32)).decode() for _ in range(BATCH)]})
        (work / "fixed.pool").write_text(f"POST /csc/v1/signatures/signHash {body.encode().hex()}\n")
        say(f"HTTP ceiling: wrk -t2 -c16 -d{int(args.seconds)}s on the fixed-bytes app ...")
        ceiling = ocsp_bench.wrk(fixed_port, work / "fixed.pool", int(args.seconds), 16)
    finally:
        for proc in servers:
            sign.stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    report(service, hsm, ceiling, profile, n - 1, args)


def report(service: dict, hsm: dict, ceiling: dict, profile: dict, officials: int, args: argparse.Namespace) -> None:
    cases = {}
    for kt, s in service.items():
        bound = min(hsm[kt]["2"], ceiling["requests_per_s"])
        ratio = s["signatures_per_s"] / bound
        cases[kt] = {**s, "hsm_signatures_per_s": {p: round(r) for p, r in hsm[kt].items()}, "bound": round(bound),
                     "ratio": round(ratio, 4), "goal_50pct_met": ratio >= 0.5 and s["errors"] == 0}
    result = {"cases": cases, "http_ceiling": ceiling, "profile_ec_one_worker": profile,
              "settings": {"seconds": args.seconds, "clients": args.clients, "workers": 2, "officials_per_key": officials,
                           "signatures_per_sad": BATCH, "cpus": os.cpu_count()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\n{'key':8}{'sig/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'auth50':>7}{'sign50':>7}{'err':>4}{'starve':>7}"
          f"{'cpu ms':>7}{'srv':>5}{'cli':>5}{'HSM x1':>8}{'HSM x2':>8}{'bound':>7}{'ratio':>7}  goal >= 50%")
    for kt, r in cases.items():
        print(f"{kt:8}{r['signatures_per_s']:7.0f}{r['p50_ms']:8.1f}{r['p99_ms']:8.1f}{r['authorize_p50_ms']:7.1f}"
              f"{r['signhash_p50_ms']:7.1f}{r['errors']:4d}{r['starved_s']:7.1f}{r['server_cpu_ms_per_round_trip']:7.1f}"
              f"{r['server_cpus']:5.2f}{r['client_cpus']:5.2f}{r['hsm_signatures_per_s']['1']:8d}"
              f"{r['hsm_signatures_per_s']['2']:8d}{r['bound']:7d}{r['ratio']:7.1%}  "
              f"{'met' if r['goal_50pct_met'] else 'NOT met'}")
        for e in r["error_samples"]:
            print(f"    error: {e}")
    c = ceiling
    print(f"HTTP ceiling (fixed bytes, gunicorn 2 sync workers, wrk -t2 -c16): {c['requests_per_s']:.0f} req/s, "
          f"p50 {c['p50_ms']:.2f} ms, p99 {c['p99_ms']:.2f} ms, non-2xx {c['non_2xx_3xx']}, socket errors "
          f"{c['socket_errors']}")
    print(f"sig/s: signatures/s through signHash, one fresh SAD (authorize of {BATCH} digests) per signHash of {BATCH}; "
          f"p50/p99: the authorize+signHash round trip; auth50/sign50: p50 of each call; starve: client-seconds spent "
          f"waiting for an unused TOTP code; cpu ms: server CPU per round trip; srv/cli: CPUs (of {os.cpu_count()}) "
          f"used by the server and this load generator; bound: min(HSM x2, HTTP ceiling). {args.clients} clients, "
          f"{args.seconds:g} s, {officials} officials per key type.")
    if "error" in profile:
        print("py-spy failed: " + profile["error"])
    elif profile:
        print(f"\npy-spy, one worker, ec-p256, {profile['seconds']} s ({profile['samples']} samples, % of sampled time):")
        for label, p in profile["areas"].items():
            print(f"  {label:70}{p:6.1f}%")
        print("  key frames, inclusive (a frame counts once per sample):")
        for frame, p in profile["top_inclusive_frames"]:
            print(f"    {p:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
