"""Delegated OCSP responder certificates (RFC 6960 4.2.2.2): issued per CA, key in the HSM,
renewed before they expire. The CA key itself never signs an OCSP response."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.orm import Session

from hsm import KeyType
from policies import name_attributes

from .context import CaContext
from .issuance import Issuance, Subject
from .records import CaRecord, serial_to_hex
from .storage.models import CaRow, OcspResponderRow
from .storage.repositories import CaRepository


@dataclass(frozen=True)
class ResponderInfo:
    ca_name: str
    serial_hex: str
    key_uri: str
    not_after: dt.datetime


def responder_subject(ca: CaRecord) -> tuple[tuple[str, str], ...]:
    """C and O of the CA, CN "<CA CN> OCSP Responder" (RFC 5280 4.1.2.6 limits CN to 64)."""
    attrs = dict(name_attributes(ca.certificate.subject))
    cn = (attrs.get("CN", ca.name)[:64 - len(" OCSP Responder")] + " OCSP Responder")
    return (("C", attrs.get("C", "TH")), ("O", attrs.get("O", ca.name)), ("CN", cn))


class Responders:
    def __init__(self, ctx: CaContext, issuance: Issuance) -> None:
        self.ctx = ctx
        self.issuance = issuance

    def setup(self, ca_name: str, actor: str, key_type: KeyType = KeyType.EC_P256) -> ResponderInfo:
        """Issue a responder certificate for ``ca_name`` (ocsp profile) and make it the current one."""
        with self.ctx.db.reader() as s:
            ca = CaRepository(s).get(ca_name)
        profile = self.ctx.profiles.get("ocsp")
        subject = Subject(attrs=responder_subject(ca), generate=key_type)
        self.issuance.precheck(ca, profile, subject, actor, "ocsp.responder.issue")

        def record(session: Session, cert: x509.Certificate, key_uri: str | None) -> None:
            session.add(OcspResponderRow(ca_id=ca.id, serial_hex=serial_to_hex(cert.serial_number), key_uri=key_uri,
                                         der=cert.public_bytes(Encoding.DER), not_after=cert.not_valid_after_utc,
                                         created_at=self.ctx.clock()))

        issued = self.issuance.issue(issuer=ca, profile=profile, subject=subject, actor=actor,
                                     action="ocsp.responder.issue", store_extra=record)
        assert issued.key_uri is not None
        return ResponderInfo(ca_name, issued.serial_hex, issued.key_uri, issued.certificate.not_valid_after_utc)

    def current(self) -> list[ResponderInfo]:
        with self.ctx.db.reader() as s:
            rows = s.execute(select(CaRow.name, OcspResponderRow.serial_hex, OcspResponderRow.key_uri,
                                    OcspResponderRow.not_after).join(CaRow, CaRow.id == OcspResponderRow.ca_id)
                             .order_by(OcspResponderRow.id)).all()
        newest = {row[0]: ResponderInfo(*row) for row in rows}  # later (newer) rows win
        return list(newest.values())

    def renew(self, actor: str, within: dt.timedelta, force: bool = False) -> list[ResponderInfo]:
        """Issue a new responder for every CA whose current one expires within ``within``."""
        now = self.ctx.clock()
        renewed = []
        for info in self.current():
            if force or info.not_after - now <= within:
                renewed.append(self.setup(info.ca_name, actor))
        return renewed
