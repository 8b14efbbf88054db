"""PAdES sealing throughput of `govca serve` against pyHanko's own floor (a benchmark, not a test).

    .venv/bin/python bench/sign.py [--seconds 10] [--clients 4] [--json]

In one run it creates a throw-away data directory and CA (root and issuing CA on EC P-384, OCSP
responders, the TSA, agency BENCH with an EC P-256 e-seal key in SoftHSM, an API client), makes
the inputs (the 1-page sample e-License, PDF/A-3u; 100 pages, ~5 MB, of text and incompressible
images; the e-License's XML data; an e-Receipt) and starts `govca serve --workers 2` (gunicorn,
sync workers). For {1-page, 100-page} x {B-B, B-LTA}, the 1-page e-License with its XML as a
`data` part at B-LTA (an associated file, docs/pdfa.md), and the e-Receipt sealed through
POST /api/v1/sign-xml at B-B and B-LTA (XAdES, docs/xades.md) it measures:

  floor    first, with the server idle: signer.sealing.pades.sign_pdf in a loop in this one process with
           the same HSM key and stamp (signer.sealing.service.default_stamp, a new document id each time)
           and, for B-LTA, one InProcessTimeStamper and one ValidationContext (revocation data at
           hand) built up front (with the data part for the PDF/A-3 case; for XML, seal_xml: signxml
           with the HSM key, the TSA and status in-process): documents/s of one process = the
           per-worker floor;
  service  POST /api/v1/sign (multipart `file` + `options` {"level": ...}, bearer token) from
           --clients Python threads for --seconds after a 2 s warm-up: documents/s, p50/p99
           latency; every answer must be 200 with X-Document-Id and a PDF body.

Goals: service docs/s / 2 >= 70% of the floor in every case; >= 50 sealed 1-page B-B documents/s
with 2 workers. CPU time per document (from /proc) is printed for both sides, with the CPUs the
load generator and every other process used meanwhile: the wall-clock ratio is only meaningful
with two idle cores, the CPU ratio does not depend on that. py-spy samples one worker for 5 s
during the 1-page B-B and B-LTA runs; samples are summarised by area (bench/_signkit.py).
"""
from __future__ import annotations

import argparse, datetime as dt, http.client, json, os, shutil, signal, socket  # noqa: E401
import subprocess, sys, tempfile, threading, time, urllib.request, uuid  # noqa: E401
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT), str(HERE)] + [p for p in sys.path if Path(p or ".").resolve() not in (HERE, ROOT)]
import _signkit as kit  # noqa: E402 - bench/_signkit.py

BIN = ROOT / ".venv" / "bin"
LEVELS = ("B-B", "B-LTA")
WARMUP_S, PROFILE_S = 2.0, 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    return done.stdout


def setup_ca(home: Path, port: int) -> str:
    g = [str(BIN / "govca"), "--home", str(home)]
    run(*g, "init", "--base-url", f"http://127.0.0.1:{port}")
    run(*g, "ca", "create-root", "--name", "root", "--subject", "/C=TH/O=Bench/CN=Bench Root", "--key-type", "ec-p384")
    run(*g, "ca", "create-issuing", "--name", "issuing", "--parent", "root", "--subject",
        "/C=TH/O=Bench/CN=Bench Issuing", "--key-type", "ec-p384")
    run(*g, "ocsp", "setup", "--ca", "issuing")
    run(*g, "ocsp", "setup", "--ca", "root")
    run(*g, "tsa", "setup", "--ca", "issuing")
    run(*g, "agency", "add", "--code", "BENCH", "--name-th", "กรมทดสอบ", "--name-en", "Benchmark Department",
        "--juristic-id", "0994000159889")
    run(*g, "agency", "seal", "issue", "--agency", "BENCH", "--ca", "issuing", "--json")
    return json.loads(run(*g, "apiclient", "create", "--agency", "BENCH", "--name", "bench", "--json"))["token"]


def make_inputs() -> dict[str, bytes]:
    """The 1-page e-License (PDF/A-3u), 100 pages, the e-License's XML data (govca e-License 1)
    and an e-Receipt (govca e-Receipt 1) to seal as XML."""
    from decimal import Decimal

    from signer.docdata.schemas import LicenceData, ReceiptData, elicense_xml, ereceipt_xml
    from signer.sealing.sample_pdf import sample_elicense_pdf

    one = sample_elicense_pdf(agency_th="กรมทดสอบ", agency_en="Benchmark Department", licensee_th="บริษัท ทดสอบ จำกัด",
                              licence_no="BENCH-0001", issued_on=dt.date(2025, 1, 1))
    licence = elicense_xml(LicenceData("BENCH-0001", "ใบอนุญาตประกอบกิจการ", "บริษัท ทดสอบ จำกัด", "Test Company Limited",
                                       "0105568000001", "BENCH", "กรมทดสอบ", "Benchmark Department",
                                       dt.date(2025, 1, 1), dt.date(2026, 1, 1)))
    receipt = ereceipt_xml(ReceiptData("BENCH-R-0001", dt.date(2025, 1, 1), "BENCH", "กรมทดสอบ", "Benchmark Department",
                                       "นาย ทดสอบ ระบบ", "3100100123456",
                                       (("ค่าธรรมเนียมใบอนุญาต", Decimal("500")), ("ค่าคัดสำเนา", Decimal("20")))))
    return {"1-page": one, "100-page": kit.hundred_pages(), "licence-xml": licence, "receipt-xml": receipt}


# (case, kind, input, level): the PDF cases, the PDF/A-3 e-License with its XML as a data part
# (embedded as an associated file, docs/pdfa.md) and an e-Receipt sealed as XAdES (docs/xades.md).
CASES = ([(f"{name} {lvl}", "pdf", name, lvl) for name in ("1-page", "100-page") for lvl in LEVELS]
         + [("PDF/A-3+XML B-LTA", "pdfa-data", "1-page", "B-LTA"),
            ("XML B-B", "xml", "receipt-xml", "B-B"), ("XML B-LTA", "xml", "receipt-xml", "B-LTA")])


def service_request(kind: str, inputs: dict[str, bytes], name: str, level: str) -> tuple[str, bytes, str, bytes]:
    """(path, body, content type, the answer's first bytes) of one case."""
    if kind == "xml":
        return ("/api/v1/sign-xml", *multipart(inputs[name], level, file_type="application/xml"), b"<?xml")
    data = ("e-license.xml", "application/xml", inputs["licence-xml"]) if kind == "pdfa-data" else None
    return ("/api/v1/sign", *multipart(inputs[name], level, data=data), b"%PDF-")


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([str(BIN / "govca"), "--home", str(home), "serve", "--port", str(port), "--workers", "2"],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                if resp.status == 200 and len(workers(proc)) == 2:
                    return proc
        except OSError:
            pass
        time.sleep(0.2)
    stop(proc)
    sys.exit(f"server did not become healthy\n{log.read_text()[-3000:]}")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def workers(proc: subprocess.Popen, pool: str = "main") -> list[int]:
    """The gunicorn workers of one pool of `govca serve`: the children of the arbiter started as
    `python -m cli.gunicorn_app ... --name POOL` (nginx and the other pool are left out)."""
    for pid in _children(proc.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cli.gunicorn_app" in argv and argv[argv.index(b"--name") + 1].decode() == pool:
            return _children(pid)
    return []


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def multipart(pdf: bytes, level: str, data: tuple[str, str, bytes] | None = None, file_type: str = "application/pdf",
              **options: str) -> tuple[bytes, str]:
    """The POST /api/v1/sign (or sign-xml) body: `file`, `options` {"level": level, **options} (e.g.
    subfilter) and, with ``data`` (file name, MIME type, bytes), one `data` part."""
    b, opts = uuid.uuid4().hex, json.dumps({"level": level, **options})
    body = (f'--{b}\r\nContent-Disposition: form-data; name="options"\r\n\r\n{opts}\r\n'
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="in"\r\n'
            f"Content-Type: {file_type}\r\n\r\n").encode() + pdf + b"\r\n"
    if data is not None:
        name, mime, raw = data
        body += (f'--{b}\r\nContent-Disposition: form-data; name="data"; filename="{name}"\r\n'
                 f"Content-Type: {mime}\r\n\r\n").encode() + raw + b"\r\n"
    return body + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def drive(port: int, token: str, request: tuple[str, bytes, str, bytes], clients: int, seconds: float,
          server: list[int]) -> dict:
    """--clients threads POST the same request (path, body, content type, the answer's first bytes)
    for `seconds` (after a warm-up); every answer is checked. `server`: the gunicorn pids (master
    first), whose CPU time is read from /proc around the run."""
    path, body, ctype, magic = request
    headers = {"Content-Type": ctype, "Authorization": f"Bearer {token}"}
    lat: list[float] = []
    errors: Counter = Counter()
    lock, window, late = threading.Lock(), [0.0], [0]

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.perf_counter() < window[0]:
            t0, err = time.perf_counter(), None
            try:
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                if not (resp.status == 200 and resp.getheader("X-Document-Id") and data.startswith(magic)):
                    err = f"HTTP {resp.status} {resp.getheader('X-Document-Id')}: {data[:160]!r}"
            except (OSError, http.client.HTTPException) as exc:
                err, conn = f"{type(exc).__name__}: {exc}", http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            with lock:
                if err is not None:
                    errors[err] += 1
                elif time.perf_counter() <= window[0]:  # throughput and latency: answers inside the window
                    lat.append(time.perf_counter() - t0)
                else:
                    late[0] += 1  # finished after the window: counted for CPU per document only
        conn.close()

    def burst(duration: float) -> float:
        lat.clear(), errors.clear()
        late[0], window[0] = 0, time.perf_counter() + duration
        threads = [threading.Thread(target=client) for _ in range(clients)]
        t0 = time.perf_counter()
        [t.start() for t in threads]
        [t.join() for t in threads]
        return min(time.perf_counter(), window[0]) - t0

    burst(WARMUP_S)  # warm-up: each worker loads fonts, finds the key, fills its caches
    t0, cpu0, own0, busy0 = time.perf_counter(), kit.cpu_s(server), time.process_time(), kit.machine_busy_s()
    elapsed = burst(seconds)
    wall, busy = time.perf_counter() - t0, kit.machine_busy_s() - busy0
    srv_cpu, own = kit.cpu_s(server) - cpu0, time.process_time() - own0
    lat.sort()
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3) if lat else (lambda q: float("nan"))
    return {"docs_per_s": len(lat) / elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "documents": len(lat),
            "errors": sum(errors.values()), "error_samples": list(errors)[:3],
            "cpu_ms_per_doc": 1e3 * srv_cpu / max(1, len(lat) + late[0]), "server_cpus": srv_cpu / wall,
            "client_cpus": own / wall, "other_cpus": max(0.0, busy - srv_cpu - own) / wall}


def library_floor(home: Path, inputs: dict[str, bytes], seconds: float) -> dict[str, dict]:
    """sign_pdf in a loop in this one process, per case; timestamper and validation context built once."""
    from ca import Database, utcnow
    from cli.compose import build_ca_service
    from cli.config import load_config
    from cli.ocsp_wiring import build_responder
    from cli.signer_wiring import build_sealing_service
    from signer.revinfo import validation_context
    from signer.sealing.pades import InProcessTimeStamper, Level, SigningMaterial, SignOptions, sign_pdf
    from signer.docdata.safe_xml import parse
    from signer.sealing.attachments import DataPart
    from signer.sealing.service import common_name, default_stamp, new_document_id
    from signer.xades.model import XadesLevel
    from signer.xades.seal import XmlOptions, seal_xml
    from signer.xades.sign import XmlMaterial

    cfg = load_config(home)
    db = Database(cfg.database_url)
    responder, reader = build_responder(cfg, db)
    keys = build_ca_service(home).ctx.service_keys
    service = build_sealing_service(cfg, db, keys, responder, reader)
    seal, agency = service.repo.seals_of("BENCH")[0], service.repo.get_agency("BENCH")
    material = SigningMaterial(seal.cert_der, seal.chain_der, keys.get_key(seal.key_uri))
    unit = service.tsa_unit()
    assert unit is not None, "no TSA"
    # The same pairs, roots and certificates as SealingService._seal, built once here.
    pairs = [(seal.cert_der, seal.chain_der[0]), (unit.cert_der, unit.chain_der[0])]
    pairs += list(zip(seal.chain_der, seal.chain_der[1:]))
    context = validation_context((seal.chain_der[-1],), seal.chain_der + unit.chain_der + (unit.cert_der,),
                                 service.revocation(pairs), utcnow())
    timestamper, signer_cn = InProcessTimeStamper(service.timestamp), common_name(seal.cert_der)

    xml_material = XmlMaterial(seal.cert_der, seal.chain_der, material.key)
    tsa_certs, revocation = (unit.cert_der, *unit.chain_der), service.revocation(pairs)
    licence = DataPart("e-license.xml", "application/xml", inputs["licence-xml"])

    def one(kind: str, data: bytes, level: Level) -> bytes:
        if kind == "xml":  # the XAdES library path: signxml + the HSM key, the TSA and status in-process
            lta = level is Level.B_LTA
            return seal_xml(parse(data).getroot(), xml_material, XmlOptions(level=XadesLevel(level.value)), utcnow(),
                            timestamp=service.timestamp if lta else None, tsa_certs=tsa_certs if lta else (),
                            revocation=revocation if lta else None)
        doc_id = new_document_id()  # the stamp differs per document, as in the service
        style, params = default_stamp({"agency_th": agency.name_th, "agency_en": agency.name_en, "signer": signer_cn,
                                       "signed_at": utcnow(), "document_id": doc_id,
                                       "verify_url": f"{cfg.base_url.rstrip('/')}/verify/{doc_id}"})
        lta = level is Level.B_LTA
        return sign_pdf(data, material, SignOptions(level=level), timestamper=timestamper if lta else None,
                        context=context if lta else None, stamp_style=style, stamp_params=params, signer_name=signer_cn,
                        data_parts=(licence,) if kind == "pdfa-data" else (), now=utcnow())

    out = {}
    for case, kind, name, lvl in CASES:
        for _ in range(3):
            one(kind, inputs[name], Level(lvl))
        n, t0, c0, busy0 = 0, time.perf_counter(), time.process_time(), kit.machine_busy_s()
        while (elapsed := time.perf_counter() - t0) < seconds:
            one(kind, inputs[name], Level(lvl))
            n += 1
        cpu, busy = time.process_time() - c0, kit.machine_busy_s() - busy0
        out[case] = {"docs_per_s": n / elapsed, "cpu_ms_per_doc": 1e3 * cpu / n,
                     "other_cpus": max(0.0, busy - cpu) / elapsed}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kit.py_spy_path()
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))
    work = Path(tempfile.mkdtemp(prefix="govca-bench-sign-"))
    server, service, profiles = None, {}, {}
    try:
        port, home = free_port(), work / "home"
        say(f"setting up a demo CA in {work} ...")
        token = setup_ca(home, port)
        inputs = make_inputs()
        say("inputs: " + ", ".join(f"{k} {len(v):,} bytes" for k, v in inputs.items()))
        server = start_server(home, port, work / "serve.log")
        pids = workers(server)
        say(f"library floor (server idle): sign_pdf in this process, {args.seconds:g} s per case ...")
        floor = library_floor(home, inputs, args.seconds)
        say(f"service: {args.clients} clients, {args.seconds:g} s per case, workers {pids} ...")
        for case, kind, name, lvl in CASES:
            spy, raw = None, work / f"{case.replace('/', '_').replace(' ', '_')}.raw"
            if case in ("1-page B-B", "1-page B-LTA"):  # one worker, from 1 s into the timed window
                secs = max(1, min(PROFILE_S, int(args.seconds) - 1))
                spy = threading.Timer(WARMUP_S + 1, lambda: setattr(spy, "proc", kit.record(pids[0], raw, secs)))
                spy.start()
            request = service_request(kind, inputs, name, lvl)
            service[case] = drive(port, token, request, args.clients, args.seconds, [server.pid, *pids])
            if spy is not None:
                spy.join()
                _, err = spy.proc.communicate(timeout=60)  # type: ignore[attr-defined]
                profiles[case] = ({"seconds": secs, **kit.summarise(raw)} if raw.exists()
                                  else {"error": err.decode()[-500:]})
            say(f"  {case}: {service[case]['docs_per_s']:.1f} docs/s")
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)
    report(service, floor, profiles, args)


def report(service: dict, floor: dict, profiles: dict, args: argparse.Namespace) -> None:
    rows, all_met = {}, True
    for case, s in service.items():
        f = floor[case]
        ratio = s["docs_per_s"] / 2 / f["docs_per_s"]
        met = ratio >= 0.70 and s["errors"] == 0
        all_met &= met
        rows[case] = {**s, "floor": f, "per_worker_over_floor": ratio, "goal_70pct_met": met,
                      "cpu_ratio": f["cpu_ms_per_doc"] / s["cpu_ms_per_doc"]}
    bb = service["1-page B-B"]["docs_per_s"]
    result = {"cases": rows, "goal_70pct_all_met": all_met, "one_page_bb_docs_per_s": bb, "goal_50_docs_met": bb >= 50,
              "profiles": profiles, "settings": {"seconds": args.seconds, "clients": args.clients, "workers": 2,
                                                 "cpus": os.cpu_count()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"\n{'':18}|{'service: 2 workers':^46}|{'floor: 1 process':^22}|{'svc/2/floor':^18}")
    print(f"{'case':18}|{'docs/s':>7}{'p50 ms':>7}{'p99 ms':>7}{'err':>4}{'cpu ms':>7}{'srv':>5}{'cli':>5}{'other':>6}"
          f"|{'docs/s':>7}{'cpu ms':>8}{'other':>6} |{'docs/s':>7}{'cpu':>6}  goal >= 70%")
    for case, r in rows.items():
        f = r["floor"]
        print(f"{case:18}|{r['docs_per_s']:7.1f}{r['p50_ms']:7.0f}{r['p99_ms']:7.0f}{r['errors']:4d}"
              f"{r['cpu_ms_per_doc']:7.0f}{r['server_cpus']:5.2f}{r['client_cpus']:5.2f}{r['other_cpus']:6.2f}"
              f"|{f['docs_per_s']:7.1f}{f['cpu_ms_per_doc']:8.0f}{f['other_cpus']:6.2f} |"
              f"{r['per_worker_over_floor']:7.0%}{r['cpu_ratio']:6.0%}  {'met' if r['goal_70pct_met'] else 'NOT met'}")
        for e in r["error_samples"]:
            print(f"    error: {e}")
    print(f"service per worker >= 70% of the floor (docs/s), every case: {'met' if all_met else 'NOT met'}")
    print(f"1-page B-B with 2 workers: {bb:.1f} docs/s (goal >= 50: {'met' if bb >= 50 else 'NOT met'})")
    print(f"cpu ms: CPU time per document (service: gunicorn master + workers; floor: this process). srv / cli / "
          f"other: CPUs (of {os.cpu_count()}) used by the server, by this load generator and by every other process "
          "during the run. svc/2/floor cpu = floor cpu ms / service cpu ms: the ratio with CPU contention taken out. "
          f"{args.clients} clients, {args.seconds:g} s per case, {WARMUP_S:g} s warm-up.")
    for case, prof in profiles.items():
        kit.print_profile(case, prof)


if __name__ == "__main__":
    main()
