"""A long mutation-fuzz run of every PDF entry point of `govca serve` (a benchmark, not a test).

    .venv/bin/python bench/fuzz.py [--mutants 10000] [--seed S] [--clients 2] [--json]

The fuzzer of tests/test_fuzz_pdf.py (tests/fuzz_helpers.py), for longer: a throw-away data
directory with a CA ready to seal (tests/sealing_helpers.py), `govca serve` on it (nginx in
front of the gunicorn pools), and the bases: the sample PDF (xref stream), the same with a
classic xref table, the same sealed at B-LTA, and the malformed-PDF corpus (tests/pdf_corpus.py).
Each corpus entry goes once as it is to every entry point; then mutant i (of the seed) goes to
entry point i mod 6: POST /api/v1/sign (multipart and raw), POST /verify, POST /verify/<id>,
POST /api/v1/verify and CSC v2 signatures/signDoc with the agency's seal credential.

Prints the answers per entry point and status class, the failures (5xx, 429, no answer, a
non-JSON API error; the inputs saved under test-output/fuzz/bench-seed<S>/), what the serve log says (tracebacks,
worker deaths), the largest growth of the workers' total RSS (sampled every 0.5 s; the main pool
recycles its workers every ~2,000 requests, which resets them), and the throughput against a
ceiling measured in the same run: GET /healthz through the same server from the same clients.
"""
from __future__ import annotations

import argparse, http.client, json, random, shutil, sys, tempfile, threading, time  # noqa: E401
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT), str(ROOT / "tests")] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]
import fuzz_helpers as fz  # noqa: E402 - tests/fuzz_helpers.py
from pdf_corpus import all_entries  # noqa: E402 - tests/pdf_corpus.py

CEILING_S = 5.0


def ceiling(port: int, clients: int, seconds: float) -> float:
    """Requests/s of GET /healthz (database ping, HSM check, a small JSON) through the same front."""
    stop, counts = time.monotonic() + seconds, []

    def client() -> None:
        n = 0
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            conn.close()
            n += resp.status == 200
        counts.append(n)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


class RssWatch:
    """The largest growth of the workers' total RSS over the value at start, and the worker pids seen."""

    def __init__(self, pgid: int) -> None:
        self.pgid, self.start = pgid, sum(fz.worker_rss(pgid).values())
        self.max_growth, self.pids, self._stop = 0, set(fz.worker_rss(pgid)), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            rss = fz.worker_rss(self.pgid)
            self.pids |= set(rss)
            self.max_growth = max(self.max_growth, sum(rss.values()) - self.start)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run(args: argparse.Namespace, say) -> dict:  # type: ignore[no-untyped-def]
    work = Path(tempfile.mkdtemp(prefix="govca-fuzz-"))
    try:
        say(f"setting up a CA ready to seal in {work} and starting govca serve ...")
        server, target, bases = fz.live_target(work)
        try:
            extra = all_entries(bases["sealed"])
            entries = list(fz.ENTRIES)
            jobs = [(e, m) for e in entries for m in fz.as_is(extra)]
            jobs += [(entries[i % len(entries)], fz.mutant(args.seed, i, bases, extra)) for i in range(args.mutants)]
            say(f"ceiling: GET /healthz for {CEILING_S:g} s from {args.clients} clients ...")
            top = ceiling(target.port, args.clients, CEILING_S)
            say(f"fuzzing: {len(jobs)} requests ({args.mutants} mutants, seed {args.seed}), {args.clients} clients ...")
            watch = RssWatch(server.proc.pid)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                outcomes = list(pool.map(lambda job: fz.send(target, *job), jobs))
            elapsed = time.perf_counter() - t0
            watch.stop()
        finally:
            server.stop()
        log = server.log.read_text(encoding="utf-8", errors="replace")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "test-output" / "fuzz" / f"bench-seed{args.seed}"
    failures = fz.save_failures(outcomes, args.seed, out)
    if failures or fz.log_problems(log):
        out.mkdir(parents=True, exist_ok=True)
        (out / "serve.log").write_text(log, encoding="utf-8")  # the tracebacks behind the failures
    table: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        status_class = "none" if o.status == 0 else "429" if o.status == 429 else f"{o.status // 100}xx"
        table[o.entry][status_class] += 1
    rate = len(jobs) / elapsed
    return {"seed": args.seed, "mutants": args.mutants, "requests": len(jobs), "seconds": round(elapsed, 1),
            "requests_per_s": round(rate, 1), "ceiling_healthz_per_s": round(top, 1),
            "ratio_to_ceiling": round(rate / top, 3), "by_entry": {e: dict(c) for e, c in table.items()},
            "failures": len(failures), "failure_examples": failures[:10], "failures_dir": str(out.relative_to(ROOT)),
            "log": dict(Counter(fz.log_problems(log)).most_common(15)),
            "max_worker_rss_growth_mb": round(watch.max_growth / 2**20, 1), "worker_pids_seen": len(watch.pids),
            "settings": {"clients": args.clients, "corpus_entries": len(extra)}}


def report(r: dict) -> None:
    classes = ["2xx", "4xx", "429", "5xx", "none"]
    print(f"\n{'entry point':16}" + "".join(f"{c:>8}" for c in classes))
    for entry, counts in r["by_entry"].items():
        print(f"{entry:16}" + "".join(f"{counts.get(c, 0):8d}" for c in classes))
    print(f"\n{r['requests']} requests ({r['mutants']} mutants + the corpus at every entry point), seed {r['seed']}, "
          f"in {r['seconds']} s: {r['requests_per_s']:.1f} mutants/s")
    print(f"ceiling, GET /healthz through the same server: {r['ceiling_healthz_per_s']:.0f} requests/s; "
          f"fuzz throughput / ceiling = {r['ratio_to_ceiling']:.1%}")
    print(f"max growth of the workers' total RSS: {r['max_worker_rss_growth_mb']:.0f} MB "
          f"({r['worker_pids_seen']} worker pids seen; more than at start: workers recycled or restarted)")
    print(f"failures: {r['failures']}" + (f" (inputs in {r['failures_dir']}/)" if r["failures"] else ""))
    for line in r["failure_examples"]:
        print("  " + line[:240])
    if r["log"]:
        print("serve log:")
        for line, n in r["log"].items():
            print(f"  {n:5d}  {line[:200]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=None, help="default: a random seed (printed)")
    ap.add_argument("--clients", type=int, default=2, help="client threads (one per main-pool worker by default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    result = run(args, say)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        report(result)


if __name__ == "__main__":
    main()
