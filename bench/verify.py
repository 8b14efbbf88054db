"""Verification throughput of `govca serve` against pyHanko's own floor (a benchmark, not a test).

    .venv/bin/python bench/verify.py [--seconds 10] [--clients 4] [--json]

In one run it creates a throw-away data directory and CA exactly as bench/sign.py does (root and
issuing CA on EC P-384, OCSP responders, the TSA, agency BENCH with an e-seal key, an API client),
starts `govca serve --workers 2` (gunicorn, sync workers) and seals the 1-page sample e-License
once at B-LTA through POST /api/v1/sign. On that one sealed file it measures:

  floor     first, with the server idle: pyHanko alone in this one process, one full validation
            per iteration: parse the PDF, read the DSS, one ValidationContext from it (govca root as
            trust root, no fetching, hard-fail revocation), validate_pdf_signature (with its
            signature time-stamp) and validate_pdf_timestamp (the document time-stamp);
  verifier  govca's own signer.verification.verify.Verifier.verify(pdf) in this process, wired as cli/web.py
            does (build_verifier with the in-process revocation source): the validation logic
            without HTTP;
  service   POST /api/v1/verify (body: the PDF, application/pdf) from --clients Python threads for
            --seconds after a 2 s warm-up: verifications/s, p50/p99 latency; every answer must be
            200 with verdict "valid".

Goal: service p50 latency <= 1.5x the floor's time per validation. With more clients than workers,
p50 includes queueing, so the service time per request (workers / throughput) and CPU per request
(from /proc, independent of contention for the cores) are printed next to it. py-spy samples one
worker for 5 s during the load; samples are given to the first matching area of AREAS below.
"""
from __future__ import annotations

import argparse, datetime as dt, http.client, io, json, os, re, shutil, sys, tempfile, threading, time  # noqa: E401
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), str(HERE)] + [p for p in sys.path if Path(p or ".").resolve() not in
                                               (HERE, HERE.parent)]
import _signkit as kit  # noqa: E402 - CPU accounting from /proc, py-spy record
from sign import free_port, multipart, setup_ca, start_server, stop, workers  # noqa: E402 - bench/sign.py

WARMUP_S, PROFILE_S, GOAL = 2.0, 5, 1.5
# py-spy frames are "function (path:line)"; a sample goes to the first area matching any of its frames.
AREAS = [
    ("govca today's status (Verifier._current, OCSP responder)", r"_current \(signer/verification/verify|\(ocsp/responder"),
    ("pyHanko diff analysis (incremental updates)", r"\(sign/diff_analysis/|evaluate_modifications"),
    ("certvalidator revocation checks (OCSP/CRL)", r"\(pyhanko_certvalidator/revinfo/|_check_revocation"),
    ("ValidationContext build (DSS -> context, cert registry)",
     r"as_validation_context|__init__ \(\S*certvalidator/context\.py"),
    ("certvalidator path building + validation", r"\(pyhanko_certvalidator/"),
    ("PDF open: parse, xref, signature fields (load_checked, read_dss)", r"^load_checked|read_dss"),
    ("pyHanko rest: CMS signature, digest, coverage, TST checks", r"\(sign/validation/"),
    ("PDF parse elsewhere (pdf_utils)", r"\(pdf_utils/"),
    ("our report building (signer/verification/verify.py, texts, dates)", r"\(signer/(verification/(verify|text)|thai|sealing/stamp)\.py"),
    ("HTTP: JSON response (jsonify)", r"jsonify|\(json/"),
    ("HTTP: gunicorn/Flask/werkzeug rest (request read, routing)", r"\((gunicorn|flask|werkzeug)/"),
]
# py-spy 0.4 names a frame by its bare function name, so a method is told apart by its file.
KEY_FRAMES = re.compile(
    r"^((verify|_one|_context|_current|_cert_status|_level) \(signer/verification/verify|load_checked \(|_uploaded \(|jsonify \("
    r"|validate_pdf_(signature|timestamp) \(|compute_integrity_info \(|review_file \(|read_dss \("
    r"|as_validation_context \(|__init__ \(\S*certvalidator/context\.py|async_validate_path \(|_check_revocation \("
    r"|verify_ocsp_response \(|async_build_paths \(|validate_tst_signed_data \(|cms_basic_validation \("
    r"|(__init__|embedded_signatures) \(\S*pdf_utils/reader\.py|__call__ \(cli/signer_wiring)")


def seal(port: int, token: str, **options: str) -> bytes:
    """The 1-page sample e-License sealed at B-LTA through POST /api/v1/sign (options: e.g. subfilter)."""
    from signer.sealing.sample_pdf import sample_elicense_pdf

    pdf = sample_elicense_pdf(agency_th="กรมทดสอบ", agency_en="Benchmark Department", licensee_th="บริษัท ทดสอบ จำกัด",
                              licence_no="BENCH-0001", issued_on=dt.date(2025, 1, 1))
    body, ctype = multipart(pdf, "B-LTA", **options)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/api/v1/sign", body, {"Content-Type": ctype, "Authorization": f"Bearer {token}"})
    sealed = (resp := conn.getresponse()).read()
    if resp.status != 200 or sealed[:5] != b"%PDF-":
        sys.exit(f"sealing failed: HTTP {resp.status}: {sealed[:300]!r}")
    return sealed


def loop(fn, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    """fn() in a loop for `seconds` after 2 warm-up calls: per-call wall and CPU time of this process."""
    fn(), fn()
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - t0) < seconds:
        fn()
        n += 1
    return {"per_s": n / elapsed, "ms": 1e3 * elapsed / n, "cpu_ms": 1e3 * (time.process_time() - c0) / n, "n": n}


def validate_offline(pdf: bytes, roots: list) -> None:
    """pyHanko alone, one full validation: parse the PDF, read the DSS, one ValidationContext from it
    (`roots` as trust roots, no fetching, hard-fail revocation), every signature with its time-stamp
    and every document time-stamp; raises AssertionError unless all are intact, valid and trusted."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    r = PdfFileReader(io.BytesIO(pdf), strict=False)
    vc = DocumentSecurityStore.read_dss(r).as_validation_context(
        {"trust_roots": roots, "allow_fetching": False, "revocation_mode": "hard-fail"})
    for sig in r.embedded_signatures:
        if sig.sig_object.get("/Type") == "/DocTimeStamp":
            st = validate_pdf_timestamp(sig, validation_context=vc)
        else:
            st = validate_pdf_signature(sig, signer_validation_context=vc, ts_validation_context=vc)
            ts = st.timestamp_validity
            assert ts is not None and ts.intact and ts.valid and ts.trusted, f"signature time-stamp: {ts}"
        assert st.intact and st.valid and st.trusted, f"{sig.field_name}: {st}"


def in_process(home: Path, pdf: bytes, seconds: float) -> tuple[dict, dict]:
    """(floor, verifier): pyHanko alone, then govca's Verifier, on the same file in this process."""
    from asn1crypto import x509 as ax509
    from ca import Database
    from cli.config import load_config
    from cli.ocsp_wiring import build_responder
    from cli.signer_wiring import InProcessRevocation, build_verifier

    cfg = load_config(home)
    responder, reader = build_responder(cfg, db := Database(cfg.database_url))
    # cli/web.py: build_verifier(cfg, db, sealing.revocation); that revocation is this InProcessRevocation.
    verifier = build_verifier(cfg, db, InProcessRevocation(responder, reader))
    roots = [ax509.Certificate.load(der) for der in verifier.trust().roots]  # the govca root

    def floor() -> None:
        validate_offline(pdf, roots)

    def govca() -> None:
        assert (verdict := verifier.verify(pdf)["verdict"]) == "valid", verdict

    return loop(floor, seconds), loop(govca, seconds)


def drive(port: int, pdf: bytes, clients: int, seconds: float, server: list[int]) -> dict:
    """--clients threads POST the sealed PDF for `seconds` (after a warm-up); every answer is checked."""
    headers, lat, errors = {"Content-Type": "application/pdf"}, [], Counter()  # type: ignore[var-annotated]
    lock, window, late = threading.Lock(), [0.0], [0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.perf_counter() < window[0]:
            t0, err = time.perf_counter(), None
            try:
                conn.request("POST", "/api/v1/verify", pdf, headers)
                data = (resp := conn.getresponse()).read()
                verdict = json.loads(data).get("verdict") if resp.status == 200 else None
                if verdict != "valid":
                    err = f"HTTP {resp.status} verdict {verdict}: {data[:160]!r}"
            except (OSError, ValueError, http.client.HTTPException) as exc:
                err, conn = f"{type(exc).__name__}: {exc}", http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                if err is not None:
                    errors[err] += 1
                elif time.perf_counter() <= window[0]:
                    lat.append(time.perf_counter() - t0)
                else:
                    late[0] += 1  # answered after the window: counted for CPU per request only
        conn.close()

    def burst(duration: float) -> float:
        lat.clear(), errors.clear()
        late[0], window[0], t0 = 0, time.perf_counter() + duration, time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        [t.start() for t in threads], [t.join() for t in threads]
        return min(time.perf_counter(), window[0]) - t0

    burst(WARMUP_S)
    t0, cpu0, own0, busy0 = time.perf_counter(), kit.cpu_s(server), time.process_time(), kit.machine_busy_s()
    elapsed = burst(seconds)
    wall, busy = time.perf_counter() - t0, kit.machine_busy_s() - busy0
    srv, own = kit.cpu_s(server) - cpu0, time.process_time() - own0
    lat.sort()
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3) if lat else (lambda q: float("nan"))
    return {"verifications_per_s": len(lat) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "verifications": len(lat), "errors": sum(errors.values()), "error_samples": list(errors)[:3],
            "cpu_ms_per_request": 1e3 * srv / max(1, len(lat) + late[0]), "server_cpus": srv / wall,
            "client_cpus": own / wall, "other_cpus": max(0.0, busy - srv - own) / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kit.py_spy_path()
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    work = Path(tempfile.mkdtemp(prefix="govca-bench-verify-"))
    server, profile = None, {}
    try:
        port, home = free_port(), work / "home"
        say(f"setting up a demo CA in {work} ...")
        token = setup_ca(home, port)
        server = start_server(home, port, work / "serve.log")
        pids = workers(server)
        pdf = seal(port, token)
        say(f"sealed 1-page B-LTA: {len(pdf):,} bytes; in-process floor and Verifier (server idle) ...")
        floor, verifier = in_process(home, pdf, min(5.0, args.seconds))
        say(f"service: {args.clients} clients, {args.seconds:g} s, workers {pids}; py-spy on {pids[0]} ...")
        raw, dur = work / "verify.raw", max(1, min(PROFILE_S, int(args.seconds) - 1))
        spy = threading.Timer(WARMUP_S + 1, lambda: setattr(spy, "proc", kit.record(pids[0], raw, dur)))
        spy.start()
        service = drive(port, pdf, args.clients, args.seconds, [server.pid, *pids])
        spy.join()
        _, err = spy.proc.communicate(timeout=60)  # type: ignore[attr-defined]
        profile = ({"seconds": dur, **kit.summarise(raw, AREAS, KEY_FRAMES, top=22)} if raw.exists()
                   else {"error": err.decode()[-500:]})
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)
    report(service, floor, verifier, profile, args)


def report(service: dict, floor: dict, verifier: dict, profile: dict, args: argparse.Namespace) -> None:
    s, f, queue = service, floor, max(1.0, args.clients / 2)  # p50 of a service at the floor, 2 workers busy
    ratio, per_worker = s["p50_ms"] / f["ms"], 2e3 / s["verifications_per_s"] if s["verifications_per_s"] else 0.0
    met = ratio <= GOAL and s["errors"] == 0
    result = {"service": s, "floor": f, "verifier_in_process": verifier, "p50_over_floor": ratio, "goal_met": met,
              "queueing_bound_p50_over_floor": queue, "service_time_ms_per_request": per_worker,
              "service_time_over_floor": per_worker / f["ms"], "verifier_over_floor": verifier["ms"] / f["ms"],
              "verifier_cpu_over_floor": verifier["cpu_ms"] / f["cpu_ms"],
              "service_cpu_over_floor": s["cpu_ms_per_request"] / f["cpu_ms"], "profile": profile,
              "settings": {"seconds": args.seconds, "clients": args.clients, "workers": 2, "cpus": os.cpu_count()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\nservice, 2 workers, {args.clients} clients, {args.seconds:g} s: {s['verifications_per_s']:.1f} "
          f"verifications/s, p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms ({s['verifications']} answers, "
          f"{s['errors']} errors); CPU {s['cpu_ms_per_request']:.0f} ms/request; CPUs (of {os.cpu_count()}) used by "
          f"server {s['server_cpus']:.2f}, clients {s['client_cpus']:.2f}, other processes {s['other_cpus']:.2f}")
    for e in s["error_samples"]:
        print(f"  error: {e}")
    print(f"floor, pyHanko alone, 1 process: {f['per_s']:.2f} validations/s = {f['ms']:.0f} ms per validation "
          f"(CPU {f['cpu_ms']:.0f} ms)")
    print(f"govca Verifier.verify in-process: {verifier['ms']:.0f} ms (CPU {verifier['cpu_ms']:.0f} ms) = "
          f"{verifier['ms'] / f['ms']:.2f}x the floor (CPU {verifier['cpu_ms'] / f['cpu_ms']:.2f}x): our validation "
          "logic, no HTTP")
    print(f"service p50 / floor per validation: {ratio:.2f}x (goal <= {GOAL}x: {'met' if met else 'NOT met'}); "
          f"queueing alone, {args.clients} clients on 2 workers, puts a service at the floor at ~{queue:.1f}x")
    print(f"  service time per request (2 workers / throughput): {per_worker:.0f} ms = {per_worker / f['ms']:.2f}x "
          f"the floor; service CPU per request / floor CPU: {s['cpu_ms_per_request'] / f['cpu_ms']:.2f}x")
    kit.print_profile("during the load", profile, width=62)


if __name__ == "__main__":
    main()
