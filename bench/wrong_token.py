"""What a wrong bearer token costs the server (a benchmark, not a test; issue 9).

    .venv/bin/python bench/wrong_token.py [--seconds 5] [--json]

One throw-away data directory (SQLite, its own SoftHSM token), agency BENCH and an API client made
by `govca apiclient create`; then, in this process through Flask's test client (no HTTP, one
thread: the CPU and fsync cost of the answer, not the network), POST /api/v1/sign with a token
of that client and a wrong secret, for --seconds per case:

  unthrottled   the per-address limit out of the way (failures_per_window = 10^9): the cost of
                checking a wrong secret against the record `apiclient create` made, and of
                auditing the refusal
  throttled     the defaults of govca.toml [throttle]: what one flooding address gets
  old scrypt    (only where the HMAC record exists) a client whose record is an old scrypt$ one,
                unthrottled: the cost that remains for records not yet upgraded

Reported: requests/s, the answers by status, the audit records written, the stored record's
scheme. Run it in a checkout before issue 9 and after it to compare (a checkout without the
[throttle] section runs the first case only, as its config parser refuses the section).

    .venv/bin/python bench/wrong_token.py --server [--govca PATH] [--seconds 8]

e.g. before issue 9: `git worktree add ../before c834d01~1` (the commit before it) and a
wrapper ../before-bin/govca: `PYTHONPATH=../before exec .venv/bin/python -c 'import sys;
sys.argv[0] = "govca"; from cli.main import main; main()' "$@"` (run from ../before).

The same through `govca serve --workers 2` (nginx in front) and `wrk -t1 -c4`: requests/s and
the audit records written during the run (the aggregates of the second worker are written at its
exit, after the count). --govca runs another checkout's `govca` (a wrapper that sets PYTHONPATH
to it), for the before figure.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WRONG = "A" * 43
ADDR = "203.0.113.9"


def _setup(home: Path) -> tuple[int, str]:
    from click.testing import CliRunner

    from cli.init_cmd import initialise
    from cli.main import main

    initialise(home, None, "http://pki.example.com")
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(main, ["--home", str(home), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    cli("agency", "add", "--code", "BENCH", "--name-th", "ทดสอบ", "--name-en", "Bench", "--juristic-id", "0994000159889")
    token = json.loads(cli("apiclient", "create", "--agency", "BENCH", "--name", "bench", "--json"))["token"]
    return int(token.split("_")[1]), token


def _config(home: Path, limit: int | None) -> bool:
    """Set the throttle limit; False when this checkout has no [throttle] section."""
    import cli.config as config

    if not hasattr(config, "ThrottleConfig"):
        return limit is None
    cfg = home / "govca.toml"
    text = cfg.read_text()
    text = text[:text.index("[throttle]")] if "[throttle]" in text else text
    if limit is not None:
        text += f"[throttle]\nfailures_per_window = {limit}\n"
    cfg.write_text(text)
    return True


def _audit_count(home: Path) -> int:
    import sqlite3

    with sqlite3.connect(home / "govca.db") as c:
        return c.execute("SELECT count(*) FROM audit_log").fetchone()[0]


def _record(home: Path, client_id: int) -> str:
    import sqlite3

    with sqlite3.connect(home / "govca.db") as c:
        return c.execute("SELECT secret_hash FROM api_clients WHERE id = ?", (client_id,)).fetchone()[0]


def _run(home: Path, client_id: int, seconds: float) -> dict:
    from cli.web import create_app

    app = create_app(home)
    client = app.test_client()
    header = {"Authorization": f"Bearer gvc_{client_id}_{WRONG}"}
    for _ in range(3):  # warm-up
        client.post("/api/v1/sign", data=b"%PDF-1.7", content_type="application/pdf", headers=header,
                    environ_base={"REMOTE_ADDR": "192.0.2.1"})
    before, answers = _audit_count(home), Counter()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        r = client.post("/api/v1/sign", data=b"%PDF-1.7", content_type="application/pdf", headers=header,
                        environ_base={"REMOTE_ADDR": ADDR})
        answers[r.status_code] += 1
    elapsed = time.perf_counter() - start
    throttle = app.extensions.get("govca.throttle")
    if throttle is not None:
        throttle.close()  # what the worker writes at exit
    n = sum(answers.values())
    return {"requests": n, "seconds": round(elapsed, 2), "requests_per_s": round(n / elapsed, 1),
            "answers": dict(sorted(answers.items())), "audit_records": _audit_count(home) - before}


def _server(govca: str, seconds: float, limit: int | None) -> dict:
    """One run against `govca serve`: a fresh data directory made with ``govca`` (so that the
    checkout it runs decides the record), wrong tokens from wrk, the audit records counted."""
    import socket
    import sqlite3
    import subprocess
    import urllib.request

    tmp = Path(tempfile.mkdtemp(prefix="govca-bench-"))
    home, proc = tmp / "home", None
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]

        def run(*cmd: str) -> str:
            done = subprocess.run([govca, "--home", str(home), *cmd], capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"govca {' '.join(cmd)} failed: {done.stdout}{done.stderr}")
            return done.stdout

        run("init", "--base-url", f"http://127.0.0.1:{port}")
        run("agency", "add", "--code", "BENCH", "--name-th", "ทดสอบ", "--name-en", "Bench", "--juristic-id",
            "0994000159889")
        client_id = int(json.loads(run("apiclient", "create", "--agency", "BENCH", "--name", "b", "--json"))["id"])
        if limit is not None:
            _config(home, limit)
        script = tmp / "wrong.lua"
        script.write_text(f'wrk.method = "POST"\nwrk.body = "%PDF-1.7"\nwrk.headers["Content-Type"] = '
                          f'"application/pdf"\nwrk.headers["Authorization"] = "Bearer gvc_{client_id}_{WRONG}"\n')
        proc = subprocess.Popen([govca, "--home", str(home), "serve", "--port", str(port), "--workers", "2"],
                                stdout=(tmp / "serve.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    sys.exit("the server did not start:\n" + (tmp / "serve.log").read_text()[-2000:])
                time.sleep(0.2)
        time.sleep(1.0)

        def audit_count() -> int:
            with sqlite3.connect(home / "govca.db") as c:
                return c.execute("SELECT count(*) FROM audit_log").fetchone()[0]

        before = audit_count()
        out = subprocess.run(["wrk", "-t1", "-c4", f"-d{int(seconds)}s", "-s", str(script),
                              f"http://127.0.0.1:{port}/api/v1/sign"], capture_output=True, text=True).stdout
        time.sleep(0.5)
        rate = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec"))
        total = next(int(line.split()[0]) for line in out.splitlines() if "requests in" in line)
        return {"record": _record(home, client_id).split("$", 1)[0], "requests": total, "requests_per_s": rate,
                "audit_records": audit_count() - before}
    finally:
        if proc is not None:
            import os
            import signal

            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--server", action="store_true", help="through `govca serve` and wrk")
    ap.add_argument("--govca", default=str(ROOT / ".venv" / "bin" / "govca"), help="the govca command to run")
    args = ap.parse_args()
    if args.server:
        import cli.config as config

        # Another checkout (--govca) is run as its `govca init` makes it: its parser may not know
        # [throttle]; this one is run with the limit out of the way, then with its defaults.
        own = hasattr(config, "ThrottleConfig") and args.govca == ap.get_default("govca")
        results = {"govca": args.govca, "unthrottled" if own else "as made": _server(
            args.govca, args.seconds, 10**9 if own else None)}
        if own:
            results["throttled"] = _server(args.govca, args.seconds, None)
        print(json.dumps(results, indent=2) if args.json else "\n".join(
            f"{case:<12} {r['requests_per_s']:>8} req/s  {r['requests']:>6} requests  record {r['record']}  "
            f"audit records {r['audit_records']}" for case, r in results.items() if isinstance(r, dict)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="govca-bench-"))
    try:
        home = tmp / "home"
        client_id, _ = _setup(home)
        scheme = _record(home, client_id).split("$", 1)[0]
        results: dict = {"checkout": str(ROOT), "record": scheme}
        _config(home, 10**9)
        results["unthrottled"] = _run(home, client_id, args.seconds)
        if _config(home, None) and hasattr(__import__("cli.config").config, "ThrottleConfig"):
            results["throttled"] = _run(home, client_id, args.seconds)
        if scheme != "scrypt":
            from signer.credentials import hash_secret, new_secret
            from signer.registry import SignerRepository

            from ca import Database, utcnow

            db = Database(f"sqlite:///{home / 'govca.db'}")
            old_id = SignerRepository(db.unit_of_work, db.reader).add_client("BENCH", "old", hash_secret(new_secret()),
                                                                            utcnow())
            _config(home, 10**9)
            results["old scrypt"] = _run(home, old_id, args.seconds)
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            print(f"{results['checkout']}: record {results['record']}")
            for case in ("unthrottled", "throttled", "old scrypt"):
                if case in results:
                    r = results[case]
                    print(f"  {case:<12} {r['requests_per_s']:>8} req/s  {r['requests']:>6} requests in {r['seconds']} s"
                          f"  answers {r['answers']}  audit records {r['audit_records']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
