"""Shared by tests/test_fuzz_pdf.py and bench/fuzz.py: a seeded PDF mutator, the PDF entry points
of `govca serve`, a driver that sends mutants through them, and the server probes (the serve
log, the RSS of the gunicorn workers).

Mutant ``i`` of seed ``S`` depends on (S, i) alone: ``mutant(S, i, bases)`` rebuilds it."""
from __future__ import annotations

import base64
import http.client
import json
import random
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

# Tokens spliced into PDFs: structure keywords and values parsers have to bound.
TOKENS = (b" obj", b"endobj", b"<<", b">>", b"/Size 99999999", b"startxref", b"xref", b"trailer", b"stream\n",
          b"endstream", b"%%EOF", b" 0 R", b"[", b"]", b"(", b")", b"/Length 99999999", b"/Length -1",
          b"/Type /Pages", b"/Kids [ 99999 0 R ]", b"/Prev 0", b"/Count 2147483648", b"/Filter /FlateDecode",
          b"/DecodeParms << /Predictor 12 /Columns 99999 >>", b"1 0 obj", b"99999999999999999999999", b"-0.0e-9999",
          b"\x00", b"%PDF-1.7", b"<feff", b"/Root 9999 0 R", b"/ByteRange [0 -1 99999999 0]", b"/Contents <",
          b"/W [ 1 8 2 ]", b"/Index [ 0 99999999 ]", b"/Encrypt << >>", b"/Perms << /DocMDP 1 0 R >>",
          b"/Annots [ 1 0 R ]", b"/MediaBox [ 0 0 -1 1e400 ]", b"/Parent 1 0 R", b"/Type /ObjStm /N 99999 /First 0")
NUMBERS = (b"0", b"-1", b"2147483648", b"9223372036854775808", b"99999999", b"1" + b"0" * 40, b"1e400", b"-0")
STRUCTURE = re.compile(rb"obj|endobj|<<|>>|stream|endstream|xref|trailer|startxref| R\b|\[|\]")


@dataclass(frozen=True)
class Mutant:
    index: int
    base: str
    ops: tuple[str, ...]
    data: bytes

    @property
    def name(self) -> str:
        return f"{self.base}#{self.index}"

    def describe(self) -> str:
        return f"{self.name} ({len(self.data)} bytes): " + "; ".join(self.ops)


def _pos(rng: random.Random, data: bytearray) -> int:
    """Half uniform, half in the last 2 KiB, where the trailer, xref and startxref are."""
    if not data:
        return 0
    if rng.random() < 0.5:
        return rng.randrange(len(data))
    return max(0, len(data) - 1 - rng.randrange(min(len(data), 2048)))


def _replace_number_after(rng: random.Random, data: bytearray, key: bytes, label: str) -> str | None:
    hits = list(re.finditer(re.escape(key) + rb"\s*(-?\d+)", data))
    if not hits:
        return None
    m = rng.choice(hits)
    old = int(m.group(1))
    new = rng.choice([str(old + rng.randint(-16, 16)).encode(), rng.choice(NUMBERS)])
    data[m.start(1):m.end(1)] = new
    return f"{label}@{m.start(1)}:{old}->{new.decode()}"


def _op(rng: random.Random, data: bytearray, other: bytes) -> str:
    for _ in range(8):  # an op that finds nothing to change (no /Size, empty data) is drawn again
        done = _try_op(rng, data, other)
        if done:
            return done
    data[len(data):] = b"%%EOF"
    return f"token@{len(data) - 5}:b'%%EOF'"


def _try_op(rng: random.Random, data: bytearray, other: bytes) -> str | None:
    kind = rng.choice(["flip", "flip", "insert", "delete", "truncate", "token", "token", "retoken", "size",
                       "startxref", "length", "number", "dupxref", "chunk", "splice"])
    pos = _pos(rng, data)
    if kind == "flip" and data:
        x = rng.randint(1, 255)
        data[pos] ^= x
        return f"flip@{pos}^{x:#04x}"
    if kind == "insert":
        junk = rng.randbytes(rng.randint(1, 16))
        data[pos:pos] = junk
        return f"insert@{pos}:{junk.hex()}"
    if kind == "delete":
        n = rng.randint(1, 64)
        del data[pos:pos + n]
        return f"delete@{pos}+{n}"
    if kind == "truncate":
        del data[pos:]
        return f"truncate@{pos}"
    if kind == "token":
        tok = rng.choice(TOKENS)
        data[pos:pos] = tok
        return f"token@{pos}:{tok!r}"
    if kind == "retoken":
        hits = list(STRUCTURE.finditer(data))
        if hits:
            m, tok = rng.choice(hits), rng.choice(TOKENS)
            data[m.start():m.end()] = tok
            return f"retoken@{m.start()}:{m.group()!r}->{tok!r}"
    if kind == "size":
        return _replace_number_after(rng, data, b"/Size", "size")
    if kind == "startxref":
        return _replace_number_after(rng, data, b"startxref", "startxref")
    if kind == "length":
        return _replace_number_after(rng, data, b"/Length", "length")
    if kind == "number":
        hits = list(re.finditer(rb"\d+", data[max(0, pos - 256):pos + 256]))
        if hits:
            m = rng.choice(hits)
            at, new = max(0, pos - 256) + m.start(), rng.choice(NUMBERS)
            data[at:at + len(m.group())] = new
            return f"number@{at}:{m.group().decode()}->{new.decode()}"
    if kind == "dupxref":
        start = max(data.rfind(b"\nxref"), data.rfind(b"/Type /XRef"), 0)
        start = data.rfind(b" obj", 0, start) if b"/Type /XRef" in data[start:start + 12] else start
        section = bytes(data[max(start - 12, 0):])
        at = len(data) if rng.random() < 0.6 else pos
        data[at:at] = section
        return f"dupxref@{at}:{len(section)}"
    if kind == "chunk" and data:
        a = rng.randrange(len(data))
        piece = bytes(data[a:a + rng.randint(1, 512)])
        data[pos:pos] = piece
        return f"chunk@{pos}:copy[{a}+{len(piece)}]"
    if kind == "splice" and other:
        cut, b = rng.randrange(len(data) + 1), rng.randrange(len(other))
        data[cut:] = other[b:]
        return f"splice@{cut}:other[{b}:]"
    return None


def mutant(seed: int, index: int, bases: dict[str, bytes], extra: dict[str, bytes] | None = None) -> Mutant:
    """One in five mutants starts from an ``extra`` base (the malformed-PDF corpus), if any."""
    rng = random.Random(f"{seed}/{index}")
    pool = {f"corpus:{k}": v for k, v in (extra or {}).items()} if extra and rng.random() < 0.2 else bases
    base = rng.choice(sorted(pool))
    other = bases[rng.choice(sorted(bases))]
    data = bytearray(pool[base])
    ops = tuple(_op(rng, data, other) for _ in range(rng.choice([1, 1, 1, 2, 2, 3])))
    return Mutant(index, base, ops, bytes(data))


def mutants(seed: int, count: int, bases: dict[str, bytes], start: int = 0,
            extra: dict[str, bytes] | None = None) -> list[Mutant]:
    return [mutant(seed, i, bases, extra) for i in range(start, start + count)]


def as_is(entries: dict[str, bytes]) -> list[Mutant]:
    """Corpus entries sent unchanged (index -1: not drawn from the seed)."""
    return [Mutant(-1, f"corpus:{name}", ("as-is",), data) for name, data in sorted(entries.items())]


def plain_bases() -> dict[str, bytes]:
    """The sample e-licence (xref stream, as pyHanko writes it) and the same with a classic xref table."""
    import datetime as dt
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    from signer.sealing.sample_pdf import sample_elicense_pdf

    plain = sample_elicense_pdf(agency_th="กรมพัฒนาธุรกิจการค้า", agency_en="Department of Business Development",
                                licensee_th="บริษัท ทดสอบ จำกัด", licence_no="FUZZ-0001", issued_on=dt.date(2026, 1, 5))
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(plain)))
    writer.stream_xrefs = False
    out = io.BytesIO()
    writer.write(out)
    return {"plain": plain, "plain-xref-table": out.getvalue()}


# --- HTTP --------------------------------------------------------------------------------------
def post(port: int, path: str, body: bytes, headers: dict[str, str], timeout: float = 90) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body, headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def multipart(parts: dict[str, tuple[str | None, bytes]]) -> tuple[bytes, str]:
    """``{name: (filename or None, bytes)}`` as a multipart/form-data body and its content type."""
    b = uuid.uuid4().hex
    out = b""
    for name, (filename, value) in parts.items():
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        ctype = "Content-Type: application/pdf\r\n" if filename else ""
        out += f"--{b}\r\nContent-Disposition: {disp}\r\n{ctype}\r\n".encode() + value + b"\r\n"
    return out + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


@dataclass
class Target:
    """What the entry points need: the server's port, the agency's API token, a registered
    document id, and the agency's seal credential (SCAL1) for signDoc with its current SAD."""
    port: int
    token: str
    doc_id: str
    seal_credential: str
    _sad: tuple[str, int, float] = ("", 0, 0.0)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def sad(self) -> str:
        """A SAD with signatures left; a fresh one (100 signatures, 5 minutes) when needed."""
        with self._lock:
            sad, left, at = self._sad
            if left <= 0 or time.monotonic() - at > 240:
                body = json.dumps({"credentialID": self.seal_credential, "numSignatures": 100}).encode()
                status, raw = post(self.port, "/csc/v2/credentials/authorize", body,
                                   {**self.auth(), "Content-Type": "application/json"})
                if status != 200:
                    raise RuntimeError(f"credentials/authorize for {self.seal_credential}: {status} {raw[:300]!r}")
                sad, left, at = json.loads(raw)["SAD"], 100, time.monotonic()
            self._sad = (sad, left - 1, at)
            return sad


def _certified(m: Mutant) -> bool:
    return m.base.startswith("sealed")


def _sign_multipart(t: Target, m: Mutant) -> tuple[int, bytes]:
    options = {"level": "B-B", "page": -1 if m.index % 2 else 0, "certify": not _certified(m)}
    body, ctype = multipart({"options": (None, json.dumps(options).encode()), "file": ("in.pdf", m.data)})
    return post(t.port, "/api/v1/sign", body, {**t.auth(), "Content-Type": ctype})


def _sign_raw(t: Target, m: Mutant) -> tuple[int, bytes]:
    return post(t.port, "/api/v1/sign", m.data, {**t.auth(), "Content-Type": "application/pdf"})


def _verify_form(t: Target, m: Mutant) -> tuple[int, bytes]:
    body, ctype = multipart({"file": ("in.pdf", m.data)})
    return post(t.port, "/verify", body, {"Content-Type": ctype})


def _verify_doc(t: Target, m: Mutant) -> tuple[int, bytes]:
    body, ctype = multipart({"file": ("in.pdf", m.data)})
    return post(t.port, f"/verify/{t.doc_id}", body, {"Content-Type": ctype})


def _api_verify(t: Target, m: Mutant) -> tuple[int, bytes]:
    query = f"?document_id={t.doc_id}" if m.index % 2 else ""
    return post(t.port, "/api/v1/verify" + query, m.data, {"Content-Type": "application/pdf"})


def _sign_doc(t: Target, m: Mutant) -> tuple[int, bytes]:
    doc = {"document": base64.b64encode(m.data).decode(), "signature_format": "P", "conformance_level": "Ades-B-B",
           "signed_envelope_property": "Revision" if _certified(m) else "Certification"}
    body = json.dumps({"credentialID": t.seal_credential, "SAD": t.sad(), "documents": [doc]}).encode()
    return post(t.port, "/csc/v2/signatures/signDoc", body, {**t.auth(), "Content-Type": "application/json"})


# Entry point name -> (sender, whether its 4xx bodies are JSON).
ENTRIES: dict[str, tuple[Callable[[Target, Mutant], tuple[int, bytes]], bool]] = {
    "sign-multipart": (_sign_multipart, True), "sign-raw": (_sign_raw, True), "verify-form": (_verify_form, False),
    "verify-doc": (_verify_doc, False), "api-verify": (_api_verify, True), "csc-signdoc": (_sign_doc, True)}


@dataclass(frozen=True)
class Outcome:
    entry: str
    mutant: Mutant
    status: int  # 0: no HTTP answer (connection error or timeout)
    problem: str  # empty when the answer is acceptable
    seconds: float


def judge(status: int, body: bytes, json_errors: bool) -> str:
    """Why an answer is unacceptable, or ""."""
    if status == 0:
        return "no HTTP answer: " + body.decode("utf-8", "replace")
    if status >= 500:
        return f"HTTP {status}: {body[:300]!r}"
    if status == 429:
        return "HTTP 429 on an authenticated or unauthenticated-but-valid request: the rate limit is too low here"
    if b"Traceback" in body:
        return f"HTTP {status} with a traceback in the body"
    if json_errors and status >= 400:
        try:
            json.loads(body)
        except ValueError:
            return f"HTTP {status} without a JSON error body: {body[:200]!r}"
    return ""


def send(target: Target, entry: str, m: Mutant) -> Outcome:
    sender, json_errors = ENTRIES[entry]
    t0 = time.perf_counter()
    try:
        status, body = sender(target, m)
    except (OSError, http.client.HTTPException) as exc:
        status, body = 0, f"{type(exc).__name__}: {exc}".encode()
    return Outcome(entry, m, status, judge(status, body, json_errors), time.perf_counter() - t0)


def drive(target: Target, jobs: Iterable[tuple[str, Mutant]], clients: int = 2) -> list[Outcome]:
    """Every (entry, mutant) job, from ``clients`` threads (one per gunicorn worker)."""
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda job: send(target, *job), jobs))


def save_failures(outcomes: list[Outcome], seed: int, out: Path) -> list[str]:
    """Each failing input under ``out`` (the mutant and a .txt saying how to rebuild it); their lines."""
    lines = []
    for o in outcomes:
        if not o.problem:
            continue
        out.mkdir(parents=True, exist_ok=True)
        stem = f"seed{seed}-{o.entry}-{o.mutant.name.replace(':', '_').replace('#', '-')}"
        (out / f"{stem}.pdf").write_bytes(o.mutant.data)
        line = f"seed {seed} {o.entry} {o.mutant.describe()} -> {o.problem}"
        (out / f"{stem}.txt").write_text(line + "\n", encoding="utf-8")
        lines.append(line)
    return lines


def live_target(tmp: Path) -> tuple["LiveServer", Target, dict[str, bytes]]:  # noqa: F821 - ocsp_helpers
    """A CA ready to seal in ``tmp`` (tests/sealing_helpers.py), `govca serve` on it, and the bases:
    the plain PDFs and the plain one sealed at B-LTA through the server (its id is the Target's)."""
    from urllib.parse import urlsplit

    from conftest import Cli, make_home
    from ocsp_helpers import LiveServer, free_port
    from sealing_helpers import setup_sealing

    cli = Cli(make_home(tmp))
    info = setup_sealing(cli, tmp)
    server = LiveServer(cli.home, free_port())
    try:
        port = urlsplit(server.url).port
        assert port is not None
        bases = plain_bases()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.request("POST", "/api/v1/sign", bases["plain"], {"Authorization": f"Bearer {info['tokens']['A']}",
                                                              "Content-Type": "application/pdf"})
        resp = conn.getresponse()
        sealed = resp.read()
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"sealing the plain base failed: {resp.status} {sealed[:300]!r}")
        bases["sealed"] = sealed
        target = Target(port, info["tokens"]["A"], resp.headers["X-Document-Id"], f"seal-{info['seals']['A']}")
    except BaseException:
        server.stop()
        raise
    return server, target, bases


# --- server probes -----------------------------------------------------------------------------
def _group(pgid: int) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process in the process group."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        comm, rest = stat.split("(", 1)[1].rsplit(")", 1)
        fields = rest.split()
        if int(fields[2]) == pgid:
            found[int(proc.name)] = (int(fields[1]), comm)
    return found


def worker_rss(pgid: int) -> dict[int, int]:
    """VmRSS (bytes) of the gunicorn workers of `govca serve` (process group ``pgid``): behind
    nginx, the children of the pools' arbiters (the serve process's children other than nginx);
    with --no-front, the serve process's own children."""
    group = _group(pgid)
    arbiters = {pid for pid, (ppid, comm) in group.items() if ppid == pgid and not comm.startswith("nginx")}
    workers = [pid for pid, (ppid, _) in group.items() if ppid in arbiters] or sorted(arbiters)
    rss = {}
    for pid in workers:
        try:
            kb = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
        except OSError:
            continue
        if kb:
            rss[pid] = int(kb.group(1)) * 1024
    return rss


_CHAIN = ("Traceback (most recent call last):", "During handling of the above exception",
          "The above exception was the direct cause")


def log_problems(text: str) -> list[str]:
    """What the serve log must never say: tracebacks (one line each: the last exception of the
    chain, with the govca line of the request before it, if any) and worker deaths."""
    found, block, head = [], None, ""
    for line in text.splitlines() + [""]:
        if line.startswith(_CHAIN[0]) and block is None:
            block = []
        elif block is not None and (line.startswith((" ", "\t", "^") + _CHAIN) or not line.strip() or
                                    re.match(r"^[\w.]+(Error|Exception|Warning|Modification|Iteration|Exit)\b", line)):
            block.append(line)
        elif block is not None:
            last = [b for b in block if b.strip() and not b.startswith((" ", "\t", "^") + _CHAIN)]
            found.append(f"Traceback ({head or 'logged'}): " + (last[-1].strip() if last else "?")[:300])
            block = None
        if block is None:
            head = line.strip() if line.startswith("unhandled error on ") else head if line.startswith(_CHAIN) else ""
            if any(w in line for w in ("WORKER TIMEOUT", "exited with code", "was sent SIGKILL", "Perhaps out of memory")):
                found.append(line.strip())
            if line.startswith(_CHAIN[0]):
                block = []
    return found
