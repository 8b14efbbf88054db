"""py-spy helpers for bench/sign.py: record one process, summarise a raw (collapsed-stack) file.

Each sample is given to exactly one area: the first rule in AREAS that matches any frame of its
stack (so the areas add up to 100% of the sampled, non-idle time). The top inclusive frames of
govca and pyHanko code are listed as well (a frame counts once per sample).
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

# py-spy writes frames as "function (path:line)", paths relative to site-packages or the repo.
AREAS = [
    ("HSM sign (hsm/, python-pkcs11, SoftHSM)", r"\((hsm|pkcs11)/"),
    ("revocation + path validation (certvalidator, OCSP, CRL)",
     r"\(pyhanko_certvalidator/|\(sign/validation/|signer_wiring\.py|validation_context|\(ocsp/responder"),
    ("TSA tokens (signer/tsa.py, pyHanko timestamps)", r"\(signer/tsa\.py|InProcessTimeStamper|\(sign/timestamps/"),
    ("stamp: font load + subset + CFF (fontTools)", r"\(fontTools/|\(pdf_utils/font/"),
    ("stamp: QR code + text layout", r"\(stamp/|\(qrcode/|\(pdf_utils/(qr|text|layout)\.py|\(signer/stamp\.py"),
    ("input check: check_pdf parses the upload", r"\(signer/pdf_checks\.py"),
    ("pyHanko CMS (pdf_cms, asn1crypto)", r"\(sign/signers/pdf_cms\.py|\(asn1crypto/|\(sign/attributes\.py"),
    ("pyHanko PDF read/write + byte-range hash", r"\(pdf_utils/|\(sign/signers/|\(sign/fields"),
    ("DB: registry, status, audit (SQLAlchemy/SQLite)", r"\(sqlalchemy/|sqlite3|\(ca/audit|\(signer/registry"),
    ("HTTP: multipart parse (werkzeug)", r"\(werkzeug/(formparser|sansio/multipart|datastructures)"),
    ("HTTP: gunicorn/Flask/werkzeug rest", r"\((gunicorn|flask|werkzeug)/"),
]
_SCAFFOLD = re.compile(r"\((gunicorn|flask|click|asyncio|cli|concurrent|threading)/|\(<frozen|<module>|contextlib"
                       r"|\(threading\.py|sealing_blueprint|run_and_release|Thread\.")


def record(pid: int, out: Path, seconds: int) -> subprocess.Popen:
    py_spy = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    return subprocess.Popen([str(py_spy), "record", "-d", str(seconds), "-r", "200", "--nonblocking", "--format", "raw",
                             "-o", str(out), "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarise(raw: Path, top: int = 14) -> dict:
    total, areas, frames = 0, Counter(), Counter()
    rules = [(label, re.compile(rx)) for label, rx in AREAS]
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stack_frames, n = stack.split(";"), int(count)
        total += n
        areas[next((label for label, rx in rules if any(rx.search(f) for f in stack_frames)), "other")] += n
        frames.update({f: n for f in {re.sub(r":\d+\)$", ")", f) for f in stack_frames} if not _SCAFFOLD.search(f)})
    pct = (lambda n: round(100.0 * n / total, 1)) if total else (lambda n: 0.0)
    return {"samples": total,
            "areas": {label: pct(areas[label]) for label in [a for a, _ in AREAS] + ["other"]},
            "top_inclusive_frames": [(f, pct(n)) for f, n in frames.most_common(top)]}
