"""A CA ready to seal: hierarchy, OCSP responders, TSA, two agencies with seals and API clients."""
from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import Cli
from ocsp_helpers import setup_ca


def setup_sealing(cli: Cli, out: Path) -> dict:
    """Returns {"files": {...PEMs...}, "tokens": {"A": ..., "B": ...}, "seals": {"A": serial, "B": serial}}."""
    info = setup_ca(cli, out)
    cli("tsa", "setup", "--ca", "issuing")
    tokens, seals = {}, {}
    for code, th, en, jid in (("A", "กรมพัฒนาธุรกิจการค้า", "Department of Business Development", "0994000159889"),
                              ("B", "กรมการขนส่งทางบก", "Department of Land Transport", "0994000165510")):
        cli("agency", "add", "--code", code, "--name-th", th, "--name-en", en, "--juristic-id", jid)
        seals[code] = json.loads(cli("agency", "seal", "issue", "--agency", code, "--ca", "issuing",
                                     "--json").stdout)["serial"]
        tokens[code] = json.loads(cli("apiclient", "create", "--agency", code, "--name", f"{code} system",
                                      "--json").stdout)["token"]
    cli("ocsp", "refresh")
    info.update(tokens=tokens, seals=seals)
    return info


def sample_pdf() -> bytes:
    import datetime as dt

    from signer.sealing.sample_pdf import sample_elicense_pdf

    return sample_elicense_pdf(agency_th="กรมพัฒนาธุรกิจการค้า", agency_en="Department of Business Development",
                               licensee_th="บริษัท ทดสอบ จำกัด", licence_no="TEST-0001", issued_on=dt.date(2026, 11, 26))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


DOC_ID = re.compile(r"^DOC-[A-Z2-7]{16}$")


def registered_documents(home: Path) -> int:
    """How many documents the register of the data directory ``home`` holds (its database)."""
    from sqlalchemy import create_engine, text

    from cli.config import load_config

    engine = create_engine(load_config(home).database_url)
    with engine.connect() as c:
        n = c.execute(text("SELECT COUNT(*) FROM documents")).scalar_one()
    engine.dispose()
    return n
