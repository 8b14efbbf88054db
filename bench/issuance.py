"""Issuance throughput benchmark: certificates/s through the whole govca path, and its ceiling.

What it measures, on a fresh temporary data directory (own SoftHSM2 token, own database):

* path   - ``CaService.issue`` of an e-seal certificate from one PKCS#10 CSR (software P-256
           subject key): profile checks, pkilint (PKIX + ETSI), HSM signature, database, audit;
* hsm    - raw signatures with the issuing CA's token key (host hash + CKM_ECDSA), on TBS-sized data;
* lint   - ``lint_certificate`` (pkilint ETSI legal person) + ``check_certificate`` on an issued
           certificate.

Each is run with 1 and 2 worker processes (spawn start method: every worker builds its own
service and opens the PKCS#11 library itself; python-pkcs11 is not fork/thread safe, one login
per process). Workers warm up, then meet at a barrier so all of them time the same window;
the rate is the total count over the span from the first start to the last finish.

  ceiling        = 1 / (1/hsm_rate + 1/lint_rate)    (for the same process count)
  overhead share = 1 - (t_hsm + t_lint) / t_path      (everything else: builders, throwaway-key
                                                       lint copy, verification, database, audit)

Goal: >= 100 certificates/s with 2 processes, overhead share below 30%.

Run:  .venv/bin/python bench/issuance.py [--n 400] [--key-type ec-p384|ec-p256]
                                          [--database-url URL] [--json]
An explicit --database-url must point at an empty database (the CAs 'root' and 'issuing' are
created in it). No network is used; the temporary directory is removed at the end.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUBJECT = "/C=TH/O=Bench Agency/CN=หน่วยงานทดสอบ/organizationIdentifier=NTRTH-0994000000001"
WARMUP = 10
KINDS = ("path", "hsm", "lint")


def make_op(kind: str, home: str, payload: dict):
    """Build a service in this process and return a zero-argument callable doing one unit of work."""
    from cryptography import x509

    from cli.compose import build_ca_service
    from hsm import default_mechanism
    from policies import check_certificate, parse_slash_subject
    from policies.lint import lint_certificate

    svc = build_ca_service(Path(home))
    if kind == "path":
        csr, subject = payload["csr"], parse_slash_subject(SUBJECT)
        return lambda: svc.issue(ca_name="issuing", profile_name="eseal", actor="bench", csr=csr, subject=subject)
    if kind == "hsm":
        key = svc.ctx.keys.get_key(svc.get_ca("issuing").key_uri)
        mech, tbs = default_mechanism(key.key_type), x509.load_der_x509_certificate(payload["der"]).tbs_certificate_bytes
        return lambda: key.sign(tbs, mech)
    profile, settings, der = svc.ctx.profiles.get("eseal"), svc.ctx.settings, payload["der"]

    def lint() -> None:
        lint_certificate(der, profile.etsi_type)
        check_certificate(x509.load_der_x509_certificate(der), profile, settings)
    return lint


def worker(kind: str, home: str, count: int, payload: dict, barrier, out) -> None:
    try:
        op = make_op(kind, home, payload)
        for _ in range(WARMUP):
            op()
        barrier.wait(timeout=300)
        t0 = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        for _ in range(count):
            op()
        out.put(("ok", t0, time.perf_counter()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        barrier.abort()
        out.put(("error", f"{kind}: {type(exc).__name__}: {exc}", None))


def run(kind: str, procs: int, total: int, home: Path, payload: dict) -> float:
    """Rate (units/s) of ``total`` units split over ``procs`` spawned processes timing one window."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    shares = [total // procs + (i < total % procs) for i in range(procs)]
    ps = [ctx.Process(target=worker, args=(kind, str(home), n, payload, barrier, out)) for n in shares]
    [p.start() for p in ps]
    results = [out.get(timeout=600) for _ in ps]
    [p.join() for p in ps]
    errors = [r[1] for r in results if r[0] != "ok"]
    if errors:
        raise SystemExit("worker failed: " + "; ".join(errors))
    return total / (max(r[2] for r in results) - min(r[1] for r in results))


def setup(home: Path, database_url: str | None, key_type: str) -> dict:
    """Data directory, root and issuing CA, one CSR, and one issued certificate's DER."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from cli.compose import build_ca_service
    from cli.config import CONFIG_NAME
    from cli.init_cmd import initialise
    from hsm import KeyType
    from policies import parse_slash_subject
    from policies.loader import DEFAULT_PROFILES

    initialise(home, database_url=database_url, base_url="http://127.0.0.1:8080")
    if key_type == "ec-p256":  # the shipped issuing-ca profile allows only P-384/RSA: a bench-only copy
        text = resources.files("policies").joinpath("data", DEFAULT_PROFILES).read_text(encoding="utf-8")
        allowed = 'values = ["ec-p384", "rsa3072", "rsa4096"]'
        assert text.count(allowed) == 1, "issuing-ca key_types changed: update bench/issuance.py"
        (home / "bench-profiles.toml").write_text(text.replace(allowed, allowed.replace("[", '["ec-p256", ')))
        conf = home / CONFIG_NAME
        conf.write_text(conf.read_text().replace("version = 1\n", 'version = 1\nprofiles_file = "'
                                                 + str(home / "bench-profiles.toml") + '"\n', 1))
    svc = build_ca_service(home)
    svc.create_root(name="root", subject=parse_slash_subject("/C=TH/O=Bench/CN=Bench Root"),
                    key_type=KeyType.EC_P384, actor="bench")
    svc.create_issuing(name="issuing", parent="root", subject=parse_slash_subject("/C=TH/O=Bench/CN=Bench Issuing CA"),
                       key_type=KeyType(key_type), actor="bench")
    subject_key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench subject")]))
           .sign(subject_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    rec = svc.issue(ca_name="issuing", profile_name="eseal", actor="bench", csr=csr,
                    subject=parse_slash_subject(SUBJECT))
    der = rec.certificate.public_bytes(serialization.Encoding.DER)
    svc.ctx.db.dispose()
    return {"csr": csr, "der": der}


def report(args: argparse.Namespace, rates: dict) -> dict:
    fig: dict = {"n": args.n, "key_type": args.key_type + (" (bench-only issuing-ca profile override)" if
                 args.key_type == "ec-p256" else ""), "database": args.database_url or "sqlite (temp dir)"}
    for p in (1, 2):
        r = {k: rates[(k, p)] for k in KINDS}
        ceiling = 1 / (1 / r["hsm"] + 1 / r["lint"])
        # Per-certificate time of one process (ms): p / rate.
        t = {k: 1000 * p / r[k] for k in KINDS}
        fig[f"{p}p"] = {"certs_per_s": r["path"], "hsm_signatures_per_s": r["hsm"], "lint_per_s": r["lint"],
                        "ceiling_certs_per_s": ceiling, "measured_over_ceiling": r["path"] / ceiling,
                        "overhead_share": 1 - (t["hsm"] + t["lint"]) / t["path"],
                        "ms_per_cert": {"path": t["path"], "hsm": t["hsm"], "lint": t["lint"],
                                        "other": t["path"] - t["hsm"] - t["lint"]}}
    fig["scaling_2p_over_1p"] = fig["2p"]["certs_per_s"] / fig["1p"]["certs_per_s"]
    fig["goal_100_per_s_2p_met"] = fig["2p"]["certs_per_s"] >= 100
    fig["goal_overhead_below_30pct_met"] = fig["2p"]["overhead_share"] < 0.30
    return fig


def print_table(fig: dict) -> None:
    a, b = fig["1p"], fig["2p"]
    rows = [("issuance, whole path (certs/s)", "certs_per_s", "{:10.1f}"),
            ("HSM signatures/s (issuing key)", "hsm_signatures_per_s", "{:10.1f}"),
            ("lint + profile checks/s", "lint_per_s", "{:10.1f}"),
            ("ceiling 1/(1/hsm+1/lint) (certs/s)", "ceiling_certs_per_s", "{:10.1f}"),
            ("measured / ceiling", "measured_over_ceiling", "{:10.1%}"),
            ("overhead share (goal < 30%)", "overhead_share", "{:10.1%}")]
    print(f"govca issuance benchmark: N={fig['n']} per run, issuing key {fig['key_type']}, "
          f"database {fig['database']}")
    print(f"{'':38}{'1 process':>10}  {'2 processes':>11}")
    for label, key, fmt in rows:
        print(f"{label:38}{fmt.format(a[key])}  {fmt.format(b[key]):>11}")
    print("ms of one process per certificate:")
    for k in ("path", "hsm", "lint", "other"):
        print(f"  {k:36}{a['ms_per_cert'][k]:10.2f}  {b['ms_per_cert'][k]:11.2f}")
    print(f"scaling 2p/1p: {fig['scaling_2p_over_1p']:.2f}x")
    print(f"goal >= 100 certificates/s with 2 processes: "
          f"{'MET' if fig['goal_100_per_s_2p_met'] else 'NOT MET'} ({b['certs_per_s']:.1f}/s)")
    print(f"goal overhead share < 30% with 2 processes: "
          f"{'MET' if fig['goal_overhead_below_30pct_met'] else 'NOT MET'} ({b['overhead_share']:.1%})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="certificates (and lint runs) per measured run")
    ap.add_argument("--key-type", choices=["ec-p384", "ec-p256"], default="ec-p384", help="issuing CA key")
    ap.add_argument("--database-url", help="SQLAlchemy URL of an empty database (default: SQLite in the temp dir)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="govca-bench-"))
    try:
        home = tmp / "home"
        payload = setup(home, args.database_url, args.key_type)
        counts = {"path": args.n, "hsm": 10 * args.n, "lint": args.n}  # signatures are fast: longer runs
        rates = {(k, p): run(k, p, counts[k], home, payload) for k in KINDS for p in (1, 2)}
        fig = report(args, rates)
        if args.json:
            print(json.dumps(fig, indent=2, ensure_ascii=False))
        else:
            print_table(fig)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
