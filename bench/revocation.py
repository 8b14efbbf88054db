"""Revocation at scale (issue 13, acceptance 1): what one more revocation, the CRLs and a B-LTA seal
cost when the issuing CA already has N revoked certificates (a benchmark, not a test).

    .venv/bin/python bench/revocation.py [--n 0,100000,1000000] [--quick] [--revocations 3] [--profile] [--json]

In one run it creates a throw-away data directory and CA as bench/sign.py does (root and issuing CA
on EC P-384, OCSP responders, the TSA, agency BENCH with an e-seal key, an API client) and starts
`govca serve --workers 2`. Then, for each N in increasing order, it tops the issuing CA up to N
revoked certificates by a fast path that exists in this benchmark only (bulk INSERT into
`certificates`: unique serials, status revoked, revoked_at and reason, notAfter spread over the next
three years as real end-entity certificates' are, the partition the CA code assigns; the DER of one
real certificate is reused for every row, the CRLs read serials, not DER) and measures:

  revoke    one more certificate, issued normally (so it lands in a partition), revoked by the
            workflow `govca cert revoke` calls (workflows.revocation.revoke_certificate, in this
            process with a warm data directory), until its OCSP answer, fetched over HTTP from the
            URL in its AIA, says revoked and the CRL its CRL distribution point names, fetched over
            HTTP, lists it (median of --revocations);
  full CRL  `govca crl generate --ca issuing` as a subprocess: wall time and peak RSS (VmHWM, from
            wait4); and CaService.generate_crl in this process (the goal's figure: no interpreter start);
  partitions `govca crl publish --ca issuing` as a subprocess (when the command exists; it signs the
            full CRL first, then every partition): wall time, peak RSS, the partitions' share of the
            time (from the audit records' times: last partition stored - full CRL stored), number
            and largest size of the partitions;
  seal      the 1-page sample e-License sealed at B-LTA through POST /api/v1/sign in each subfilter
            (ETSI.CAdES.detached, adbe.pkcs7.detached): its size;
  validate  pyHanko alone validating that seal offline from its DSS, hard-fail revocation, govca
            root as the trust root (bench/verify.py validate_offline): median of 9 after 2 warm-up
            runs, wall and CPU time of this process (the goal uses CPU: other load moves wall time).

--profile adds, at the largest N, py-spy over one more `crl publish` (samples by area) and cProfile
over one more revocation. SQLite in the temporary directory only; ~10 minutes and ~2 GB of disk
for the default N values.

Goals (issue 13): revocation at the largest N within 2x its time at 0 and under 1 s; all partitions
at the largest N published in <= 10 s (shown for the whole command and for the partitions alone)
with <= 500 MB (peak RSS of the whole command); the 100,000-entry full CRL in
<= 1 s (in-process); the seal at the largest N within 2 KB of its size at 0; pyHanko's validation at
the largest N within 1.2x its time at 0. The issue's largest N is 1,000,000; with --quick or --n the
goals compare against whatever largest N was run, and say so.
"""
from __future__ import annotations

import argparse, cProfile, datetime as dt, io, json, os, pstats, random, re, shutil, statistics  # noqa: E401
import subprocess, sys, tempfile, time  # noqa: E401
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT), str(HERE)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]
from issuance import SUBJECT  # noqa: E402 - bench/issuance.py: an e-seal subject the profile accepts
from sign import free_port, setup_ca, start_server, stop  # noqa: E402 - bench/sign.py
from verify import seal, validate_offline  # noqa: E402 - bench/verify.py
import _signkit as kit  # noqa: E402 - bench/_signkit.py: py-spy summary by area

BIN = ROOT / ".venv" / "bin"
CA = "issuing"
SUBFILTERS = ("ETSI.CAdES.detached", "adbe.pkcs7.detached")
FULL_N = [0, 100_000, 1_000_000]
QUICK_N = [0, 1_000, 5_000]
REASONS = ("keyCompromise", "superseded", "affiliationChanged", "cessationOfOperation")
VALIDATIONS = 9  # pyHanko runs per seal: the median of their CPU time is the goal's figure (other load moves wall time)
# py-spy frames are "function (path:line)"; a sample goes to the first area matching any of its frames.
PUBLISH_AREAS = [
    ("interpreter start + imports", r"_find_and_load|_call_with_frames_removed"),
    ("HSM signature (hsm/, python-pkcs11)", r"\((hsm|pkcs11)/"),
    ("pkilint on the bounded sample", r"\(pkilint/|lint_crl \("),
    # Innermost first: the rows stream through EntryChecks.stream into the writer's build_tbs.
    ("rows from the database, parsed (stream_revoked, SQLAlchemy)", r"\(sqlalchemy/|sqlite3|psycopg|stream_revoked \("),
    ("entry checks (ca/crl_checks.py EntryChecks)", r"\(ca/crl_checks\.py"),
    ("DER writer (ca/crl_der.py)", r"\(ca/crl_der\.py"),
    ("parse + verify the signed CRL (cryptography)", r"load_der_x509_crl|verify_tbs \("),
]
PUBLISH_FRAMES = re.compile(r"^(publish|publish_all|stream|build_tbs|assemble|_entries|lint_crl|sign_tbs|verify_tbs"
                            r"|stream_revoked|live_partitions|scopes|prune|append) \(")
# Seeded serials: 1 << 126 | SEED_TAG | i (unique; ca.issuance.new_serial draws 126 random bits below bit 126, so a
# clash with a real serial has a chance of about N / 2**126).
SEED_TAG = 0x5EED << 100


def partition_function(ctx):  # type: ignore[no-untyped-def]
    """notAfter -> the partition ca/partitions.py assigns at issuance (with this data directory's
    partition_days), or None on code before partitions: then every seeded row names the full CRL."""
    try:
        from ca.partitions import partition_of
    except ImportError:
        return None
    days = ctx.profiles.crl.partition_days.value
    return lambda not_after: partition_of(not_after, days)


def seed(db_url: str, ca_id: int, start: int, stop_at: int, der: bytes, now: dt.datetime,  # type: ignore[no-untyped-def]
         part) -> float:
    """Bench-only fast path: INSERT rows start..stop_at-1 of revoked certificates; seconds taken."""
    from sqlalchemy import create_engine

    from ca.records import serial_to_hex
    from ca.storage.models import CertificateRow

    rng, table = random.Random(start), CertificateRow.__table__
    engine, t0 = create_engine(db_url), time.perf_counter()
    three_years = 3 * 365 * 86400
    try:
        for lo in range(start, stop_at, 50_000):
            rows = []
            for i in range(lo, min(stop_at, lo + 50_000)):
                not_after = now + dt.timedelta(seconds=rng.randrange(86400, three_years))
                not_before = not_after - dt.timedelta(days=3 * 365)
                revoked = now - dt.timedelta(seconds=rng.randrange(60, int((now - not_before).total_seconds())))
                rows.append({"serial_hex": serial_to_hex(1 << 126 | SEED_TAG | i), "ca_id": ca_id, "profile": "eseal",
                             "subject": f"CN=seeded certificate {i}", "not_before": not_before, "not_after": not_after,
                             "der": der, "key_uri": None, "status": "revoked", "revoked_at": revoked,
                             "revocation_reason": rng.choice(REASONS), "invalidity_date": None,
                             "issued_at": not_before, "crl_partition": part(not_after) if part else None})
            with engine.begin() as conn:
                conn.execute(table.insert(), rows)
    finally:
        engine.dispose()
    return time.perf_counter() - t0


def cli(home: Path, log: Path, *args: str) -> dict:
    """`govca --home HOME ARGS` as a subprocess: wall seconds and its peak RSS (MB, wait4)."""
    with log.open("ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(BIN / "govca"), "--home", str(home), *args], stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): govca {' '.join(args)}\n{log.read_text()[-3000:]}")
    return {"s": wall, "peak_mb": usage.ru_maxrss / 1024}


def http_get(url: str, body: bytes | None = None, ctype: str | None = None) -> bytes:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype} if ctype else {})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return resp.read()


def revoked_everywhere(cert, issuer) -> None:  # type: ignore[no-untyped-def]
    """Exit unless the OCSP answer at the certificate's AIA URL says revoked and the CRL at its CRL
    distribution point lists it (both fetched over HTTP)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

    aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    ocsp_url = next(d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP)
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    answer = ocsp.load_der_ocsp_response(http_get(ocsp_url, req.public_bytes(serialization.Encoding.DER),
                                                  "application/ocsp-request"))
    if answer.certificate_status != ocsp.OCSPCertStatus.REVOKED:
        sys.exit(f"OCSP at {ocsp_url} answers {answer.certificate_status} for a revoked certificate")
    cdp = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    crl_url = cdp[0].full_name[0].value
    crl = x509.load_der_x509_crl(http_get(crl_url))
    if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is None:
        sys.exit(f"the CRL at {crl_url} does not list the certificate just revoked")


class Bench:
    def __init__(self, work: Path, revocations: int) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        from cli.admin import AdminWiring
        from policies import parse_slash_subject

        self.work, self.home, self.log, self.revocations = work, work / "home", work / "govca.log", revocations
        self.port = free_port()
        self.token = setup_ca(self.home, self.port)
        self.server = start_server(self.home, self.port, work / "serve.log")
        self.admin = AdminWiring(self.home)
        key = ec.generate_private_key(ec.SECP256R1())
        self.csr = (x509.CertificateSigningRequestBuilder()
                    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench subject")]))
                    .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        self.subject = parse_slash_subject(SUBJECT)
        issuing, root = self.admin.ca.get_ca(CA), self.admin.ca.get_ca("root")
        self.ca_id, self.issuer, self.roots = issuing.id, issuing.certificate, [root.certificate_der]
        self.template = self.issue().der
        self.seeded = 0
        self.revoke_once()  # warm-up: imports, token logins, prepared statements (not timed)

    def close(self) -> None:
        self.admin.close()
        stop(self.server)

    def issue(self):  # type: ignore[no-untyped-def]
        return self.admin.ca.issue(ca_name=CA, profile_name="eseal", actor="bench", csr=self.csr, subject=self.subject)

    def revoke_once(self) -> float:
        from cryptography import x509

        from workflows.revocation import revoke_certificate

        rec = self.issue()
        cert = x509.load_der_x509_certificate(rec.der)
        t0 = time.perf_counter()
        revoke_certificate(self.admin, CA, rec.serial_hex, "keyCompromise", "bench")
        revoked_everywhere(cert, self.issuer)
        return time.perf_counter() - t0

    def at(self, n: int) -> dict:
        from asn1crypto import x509 as ax509

        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        part = partition_function(self.admin.ca.ctx)
        fig: dict = {"n": n, "seed_s": seed(self.admin.cfg.database_url, self.ca_id, self.seeded, n, self.template, now,
                                            part) if n > self.seeded else 0.0}
        self.seeded = max(self.seeded, n)
        fig["full_cli"] = cli(self.home, self.log, "crl", "generate", "--ca", CA, "--out", str(self.work / "full.crl"))
        fig["full_crl_bytes"] = (self.work / "full.crl").stat().st_size
        t0 = time.perf_counter()
        self.admin.ca.generate_crl(CA, "bench")
        fig["full_in_process_s"] = time.perf_counter() - t0
        fig["partitions"] = self.publish()
        times = [self.revoke_once() for _ in range(self.revocations)]
        fig["revoke_s"], fig["revoke_all_s"] = statistics.median(times), times
        roots = [ax509.Certificate.load(der) for der in self.roots]
        for sf in SUBFILTERS:
            pdf = seal(self.port, self.token, subfilter=sf)
            validate_offline(pdf, roots), validate_offline(pdf, roots)  # warm-up: first calls import and cache
            walls, cpus = [], []
            for _ in range(VALIDATIONS):
                t0, c0 = time.perf_counter(), time.process_time()
                validate_offline(pdf, roots)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            fig[sf] = {"seal_bytes": len(pdf), "validate_s": statistics.median(walls),
                       "validate_cpu_s": statistics.median(cpus)}
        return fig

    def profile(self) -> dict:
        """py-spy over one more `govca crl publish --ca issuing`, and cProfile over one more
        revocation, in this data directory (untimed: profilers slow what they watch)."""
        raw = self.work / "publish.raw"
        spy = subprocess.run([str(kit.py_spy_path()), "record", "-r", "200", "--format", "raw", "-o", str(raw), "--",
                              str(BIN / "govca"), "--home", str(self.home), "crl", "publish", "--ca", CA],
                             capture_output=True, cwd=ROOT)
        publish = (kit.summarise(raw, PUBLISH_AREAS, PUBLISH_FRAMES, top=14) if spy.returncode == 0 and raw.exists()
                   else {"error": spy.stderr.decode(errors="replace")[-500:]})
        prof = cProfile.Profile()
        prof.runcall(self.revoke_once)
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(r"(ca|workflows|hsm|policies|ocsp)/", 18)
        return {"publish": {"seconds": "whole command", **publish}, "revoke_cprofile": out.getvalue()}

    def publish(self) -> dict | None:
        """`govca crl publish` (all partitions) when main has it; None before issue 13's partitions."""
        has = subprocess.run([str(BIN / "govca"), "crl", "publish", "--help"], capture_output=True, cwd=ROOT)
        if has.returncode != 0:
            return None
        from sqlalchemy import create_engine, func, select

        from ca.storage.models import AuditRow, CrlRow

        engine = create_engine(self.admin.cfg.database_url)
        try:
            with engine.connect() as conn:
                before = conn.execute(select(func.max(AuditRow.seq))).scalar_one()
            fig = cli(self.home, self.log, "crl", "publish", "--ca", CA)  # every partition and the full CRL
            with engine.connect() as conn:
                # publish_all signs the full CRL first, then each partition: their audit records'
                # times split the command's time (the record is written once a CRL is stored).
                done = conn.execute(select(AuditRow.action, AuditRow.time).where(
                    AuditRow.seq > before, AuditRow.outcome == "success",
                    AuditRow.action.in_(("crl.generate", "crl.publish"))).order_by(AuditRow.seq)).all()
                newest = (select(CrlRow.partition, func.max(CrlRow.crl_number).label("num"))
                          .where(CrlRow.ca_id == self.ca_id, CrlRow.partition.is_not(None))
                          .group_by(CrlRow.partition).subquery())
                sizes = conn.execute(select(func.length(CrlRow.der)).join(
                    newest, (CrlRow.partition == newest.c.partition) & (CrlRow.crl_number == newest.c.num))
                    .where(CrlRow.ca_id == self.ca_id)).scalars().all()
        finally:
            engine.dispose()
        full_at = next(t for a, t in done if a == "crl.generate")
        parts = [t for a, t in done if a == "crl.publish"]
        return {**fig, "count": len(sizes), "largest_bytes": max(sizes, default=0),
                "partitions_only_s": (max(parts) - full_at).total_seconds() if parts else 0.0}


def goals(figs: list[dict]) -> list[dict]:
    """Each goal of issue 13 with its measured value, its ratio to the goal, PASS/MISS (or n/a)."""
    by_n = {f["n"]: f for f in figs}
    zero, big = by_n.get(0), max(figs, key=lambda f: f["n"])
    out: list[dict] = []

    def goal(name: str, value: float | None, limit: float | None, unit: str) -> None:
        ok = None if value is None or limit is None else value <= limit
        out.append({"goal": name, "value": value, "limit": limit, "unit": unit,
                    "ratio": None if ok is None else value / limit,
                    "result": {None: "n/a", True: "PASS", False: "MISS"}[ok]})

    big_n = f"N={big['n']:,}" + ("" if big["n"] == 1_000_000 else " (the issue's N is 1,000,000)")
    if zero is not None and big is not zero:
        goal(f"revoke at {big_n} <= 2x at 0", big["revoke_s"], 2 * zero["revoke_s"], "s")
    goal(f"revoke at {big_n} < 1 s", big["revoke_s"], 1.0, "s")
    p = big["partitions"]
    goal(f"all partitions at {big_n} <= 10 s (whole crl publish, full CRL included)", p and p["s"], 10.0, "s")
    goal(f"all partitions at {big_n} <= 10 s (partitions alone, from the audit times)", p and p["partitions_only_s"],
         10.0, "s")
    goal(f"all partitions at {big_n} <= 500 MB (peak RSS of the whole crl publish)", p and p["peak_mb"], 500.0, "MB")
    full = by_n.get(100_000)
    goal("full 100,000-entry CRL <= 1 s (in-process)", full and full["full_in_process_s"], 1.0, "s")
    for sf in SUBFILTERS:
        if zero is not None and big is not zero:
            goal(f"{sf} seal at {big_n} <= size at 0 + 2 KB", big[sf]["seal_bytes"], zero[sf]["seal_bytes"] + 2048, "B")
            goal(f"{sf} pyHanko validation (CPU) at {big_n} <= 1.2x at 0", big[sf]["validate_cpu_s"],
                 1.2 * zero[sf]["validate_cpu_s"], "s")
    return out


def print_report(figs: list[dict], results: list[dict], head: str) -> None:
    print(f"\ngovca revocation at scale, issuing CA with N seeded revoked certificates; code at {head}")
    cols = ("N revoked", "seed s", "revoke s", "crl generate s / MB (CLI)", "full CRL s (in-process)", "full CRL size",
            "crl publish s / MB (CLI)", "of which partitions s", "partitions (largest)", "B-LTA CAdES size",
            "B-LTA pkcs7 size", "pyHanko CAdES s (CPU)", "pyHanko pkcs7 s (CPU)")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for f in figs:
        p, c, a = f["partitions"], f[SUBFILTERS[0]], f[SUBFILTERS[1]]
        cells = (f"{f['n']:,}", f"{f['seed_s']:.1f}", f"{f['revoke_s']:.3f}",
                 f"{f['full_cli']['s']:.2f} / {f['full_cli']['peak_mb']:.0f}", f"{f['full_in_process_s']:.3f}",
                 f"{f['full_crl_bytes'] / 1024:,.1f} KB",
                 f"{p['s']:.2f} / {p['peak_mb']:.0f}" if p else "(no crl publish)",
                 f"{p['partitions_only_s']:.2f}" if p else "-",
                 f"{p['count']} ({p['largest_bytes'] / 1024:,.1f} KB)" if p else "-",
                 f"{c['seal_bytes'] / 1024:,.1f} KB", f"{a['seal_bytes'] / 1024:,.1f} KB",
                 f"{c['validate_s']:.3f} ({c['validate_cpu_s']:.3f})",
                 f"{a['validate_s']:.3f} ({a['validate_cpu_s']:.3f})")
        print("| " + " | ".join(cells) + " |")
    print("\ngoals:")
    for r in results:
        fmt = "{:,.0f} B" if r["unit"] == "B" else "{:,.0f} MB" if r["unit"] == "MB" else "{:.3f} s"
        shown = "-" if r["value"] is None else (f"{fmt.format(r['value'])} against {fmt.format(r['limit'])}: "
                                                f"{r['ratio']:.2f}x of the goal")
        print(f"  {r['result']:4}  {r['goal']}: {shown}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", help="comma-separated N values (default 0,100000,1000000)")
    ap.add_argument("--quick", action="store_true", help=f"a smoke run: N = {', '.join(map(str, QUICK_N))}")
    ap.add_argument("--revocations", type=int, default=3, help="timed revocations per N (the median is shown)")
    ap.add_argument("--profile", action="store_true",
                    help="at the largest N, also profile crl publish (py-spy) and one revocation (cProfile)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    ns = sorted({int(x) for x in args.n.split(",")}) if args.n else (QUICK_N if args.quick else FULL_N)
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=ROOT).stdout.strip() or "(not a git checkout)"
    work = Path(tempfile.mkdtemp(prefix="govca-bench-revocation-"))
    bench, figs, profile = None, [], {}
    try:
        say(f"setting up a demo CA in {work} ...")
        bench = Bench(work, args.revocations)
        for n in ns:
            say(f"N = {n:,}: seeding, crl generate, crl publish, {args.revocations} revocations, seals ...")
            figs.append(bench.at(n))
            say(json.dumps(figs[-1]))
        if args.profile:
            say(f"profiling crl publish (py-spy) and one revocation (cProfile) at N = {ns[-1]:,} ...")
            profile = bench.profile()
    finally:
        if bench is not None:
            bench.close()
        shutil.rmtree(work, ignore_errors=True)
    results = goals(figs)
    if args.json:
        print(json.dumps({"head": head, "figures": figs, "goals": results, "profile": profile}, indent=2))
        return
    print_report(figs, results, head)
    if profile:
        kit.print_profile(f"`govca crl publish --ca {CA}` at N={ns[-1]:,}", profile["publish"], width=56)
        print(f"\ncProfile of one revocation at N={ns[-1]:,} (govca frames, cumulative):\n{profile['revoke_cprofile']}")


if __name__ == "__main__":
    main()
