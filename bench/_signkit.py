"""Helpers of bench/sign.py: the 100-page input, CPU accounting from /proc, py-spy record + summary.

py-spy summary: each sample is given to exactly one area: the first rule in AREAS that matches any frame of its
stack (so the areas add up to 100% of the sampled, non-idle time). The top inclusive frames of
govca and pyHanko code are listed as well (a frame counts once per sample).
"""
from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from io import BytesIO
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def hundred_pages(pages: int = 100, side: int = 128) -> bytes:
    """~5 MB: per page 40 lines of Helvetica text and a side x side RGB image of random bytes
    (48 KiB that no filter can shrink), written with pyHanko's own writer."""
    from pyhanko.pdf_utils import generic as gen
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    w, n, num = PdfFileWriter(), gen.NameObject, gen.NumberObject
    font = w.add_object(gen.DictionaryObject({n("/Type"): n("/Font"), n("/Subtype"): n("/Type1"),
                                              n("/BaseFont"): n("/Helvetica")}))
    for i in range(pages):
        img = gen.StreamObject({n("/Type"): n("/XObject"), n("/Subtype"): n("/Image"), n("/Width"): num(side),
                                n("/Height"): num(side), n("/ColorSpace"): n("/DeviceRGB"),
                                n("/BitsPerComponent"): num(8)}, stream_data=os.urandom(side * side * 3))
        text = b" ".join(b"0 -14 Td (Line %d of page %d: benchmark text for the sealing service.) Tj" % (j, i + 1)
                         for j in range(40))
        ops = b"BT /F1 11 Tf 56 800 Td " + text + b" ET q 240 0 0 240 56 120 cm /Im0 Do Q"
        res = gen.DictionaryObject({n("/Font"): gen.DictionaryObject({n("/F1"): font}),
                                    n("/XObject"): gen.DictionaryObject({n("/Im0"): w.add_object(img)})})
        w.insert_page(PageObject(contents=w.add_object(gen.StreamObject(stream_data=ops)),
                                 media_box=(0, 0, 595, 842), resources=res))
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (all their threads)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def machine_busy_s() -> float:
    """Non-idle CPU seconds of the whole machine (/proc/stat)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / TICK

# py-spy writes frames as "function (path:line)", paths relative to site-packages or the repo.
AREAS = [
    ("HSM sign (hsm/, python-pkcs11, SoftHSM)", r"\((hsm|pkcs11)/"),
    ("revocation + path validation (certvalidator, OCSP, CRL)",
     r"\(pyhanko_certvalidator/|\(sign/validation/|InProcessRevocation|validation_context|\(ocsp/responder"),
    ("TSA tokens (signer/tsa/authority.py, pyHanko timestamps)", r"\(signer/tsa\.py|InProcessTimeStamper|\(sign/timestamps/"),
    ("stamp: font load + subset + CFF (fontTools)", r"\(fontTools/|\(pdf_utils/font/"),
    ("stamp: QR code + text layout", r"\(stamp/|\(qrcode/|\(pdf_utils/(qr|text|layout)\.py|\(signer/sealing/stamp\.py"),
    ("input check: check_pdf parses the upload", r"\(signer/pdf_checks\.py"),
    ("pyHanko CMS (pdf_cms, asn1crypto)", r"\(sign/signers/pdf_cms\.py|\(asn1crypto/|\(sign/attributes\.py"),
    ("pyHanko PDF read/write + byte-range hash", r"\(pdf_utils/|\(sign/signers/|\(sign/fields"),
    ("DB: registry, status, audit (SQLAlchemy/SQLite)", r"\(sqlalchemy/|sqlite3|\(ca/audit|\(signer/registry"),
    ("HTTP: multipart parse (werkzeug)", r"\(werkzeug/(formparser|sansio/multipart|datastructures)"),
    ("HTTP: gunicorn/Flask/werkzeug rest", r"\((gunicorn|flask|werkzeug)/"),
]
# Frames worth an inclusive figure: govca's steps and pyHanko's big pieces (not the call chain between).
# py-spy 0.4 names a frame by its bare function name, so a method is told apart by its file.
_KEY_FRAMES = re.compile(
    r"^(_read_request \(signer|(authenticate|choose_seal|_seal|timestamp) \(signer/sealing/service|check_pdf \(|sign_pdf \("
    r"|default_stamp \(|validation_context \(|__call__ \(cli/signer_wiring|\w+ \(signer/registry|write \(cli/signer_wiring"
    r"|async_sign_raw \(signer/sealing/pades|sign \(hsm/token|(prepare_write|_extract_subset|create_font_engine) \(pdf_utils/font"
    r"|render \(stamp/|_qr_xobject \(stamp/|async_sign \(sign/signers/pdf_cms|_ensure_dummy \(sign/timestamps"
    r"|build_token \(|perform_presign_validation \(|post_signature_processing \(|async_timestamp_pdf \("
    r"|__init__ \(pdf_utils/incremental_writer|write \(pdf_utils/|parse \(werkzeug/formparser)")


def py_spy_path() -> Path:
    """py-spy of the venv; exits with what to do when it is not installed (call before the run)."""
    py_spy = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    if not py_spy.exists():
        raise SystemExit("py-spy is missing: `make bench` installs it (the `bench` extra of setup.cfg)")
    return py_spy


def record(pid: int, out: Path, seconds: int) -> subprocess.Popen:
    py_spy = py_spy_path()
    return subprocess.Popen([str(py_spy), "record", "-d", str(seconds), "-r", "200", "--nonblocking", "--format", "raw",
                             "-o", str(out), "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarise(raw: Path, areas_rules: list[tuple[str, str]] | None = None, key_frames: re.Pattern | None = None,
              top: int = 18) -> dict:
    """py-spy raw samples by area (the first rule matching any frame of a sample; AREAS by
    default) and the key frames' inclusive shares (_KEY_FRAMES by default)."""
    areas_rules, key_frames = areas_rules or AREAS, key_frames or _KEY_FRAMES
    total, areas, frames = 0, Counter(), Counter()
    rules = [(label, re.compile(rx)) for label, rx in areas_rules]
    for line in raw.read_text(errors="replace").splitlines():  # a frame may cut a UTF-8 name
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stack_frames, n = stack.split(";"), int(count)
        total += n
        areas[next((label for label, rx in rules if any(rx.search(f) for f in stack_frames)), "other")] += n
        frames.update({f: n for f in {re.sub(r":\d+\)$", ")", f) for f in stack_frames} if key_frames.search(f)})
    pct = (lambda n: round(100.0 * n / total, 1)) if total else (lambda n: 0.0)
    return {"samples": total,
            "areas": {label: pct(areas[label]) for label in [a for a, _ in areas_rules] + ["other"]},
            "top_inclusive_frames": [(f, pct(n)) for f, n in frames.most_common(top)]}


def print_profile(title: str, prof: dict, width: int = 58) -> None:
    """The summary of :func:`summarise` (or ``{"error": ...}``) under ``title``."""
    print(f"\npy-spy, one worker, {title}, {prof.get('seconds')} s ({prof.get('samples', 0)} samples, "
          "% of sampled time):")
    if "error" in prof:
        print("  failed: " + prof["error"])
        return
    for label, p in prof["areas"].items():
        print(f"  {label:{width}}{p:6.1f}%")
    print("  key frames, inclusive (a frame counts once per sample):")
    for frame, p in prof["top_inclusive_frames"]:
        print(f"    {p:5.1f}%  {frame}")
