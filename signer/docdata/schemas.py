"""govca's own XML schemas for document data (docs/document-data.md), and their field labels in
Thai and English for the verification page.

- e-License 1 (``urn:govca:schema:e-license:1``, ``e-license-1.xsd``): the data of a licence
  (ใบอนุญาต): its number, holder, issuing agency and validity. govca's demo embeds one in its
  PDF/A-3 e-License as an associated file (ISO 19005-3 6.8, ``/AFRelationship /Data``).
- e-Receipt 1 (``urn:govca:schema:e-receipt:1``, ``e-receipt-1.xsd``): a government receipt
  (ใบเสร็จรับเงิน): number, payer, agency, date, items and total; sealed as XML with XAdES.

Each schema's labels map a path of local names under the root (``Holder/NameTH``) to the field's
Thai and English names; the page shows an unknown element with its own name.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable

from lxml import etree

HERE = Path(__file__).parent
ELICENSE_NS = "urn:govca:schema:e-license:1"
ERECEIPT_NS = "urn:govca:schema:e-receipt:1"


@dataclass(frozen=True)
class Schema:
    namespace: str
    root: str
    title: tuple[str, str]  # Thai, English
    xsd: str  # file name next to this module
    labels: dict[str, tuple[str, str]]

    def label(self, path: str) -> tuple[str, str] | None:
        return self.labels.get(path)

    def validator(self) -> etree.XMLSchema:
        return etree.XMLSchema(etree.parse(str(HERE / self.xsd)))


ELICENSE = Schema(ELICENSE_NS, "eLicense", ("ใบอนุญาตอิเล็กทรอนิกส์", "Electronic licence"), "e-license-1.xsd", {
    "LicenceNumber": ("เลขที่ใบอนุญาต", "Licence number"),
    "LicenceType": ("ประเภทใบอนุญาต", "Type of licence"),
    "Holder": ("ผู้ได้รับอนุญาต", "Holder"),
    "Holder/NameTH": ("ชื่อผู้ได้รับอนุญาต (ไทย)", "Holder's name (Thai)"),
    "Holder/NameEN": ("ชื่อผู้ได้รับอนุญาต (อังกฤษ)", "Holder's name (English)"),
    "Holder/Identifier": ("เลขประจำตัวผู้ได้รับอนุญาต", "Holder's identification number"),
    "Issuer": ("ผู้ออกใบอนุญาต", "Issuer"),
    "Issuer/AgencyCode": ("รหัสหน่วยงาน", "Agency code"),
    "Issuer/NameTH": ("ชื่อหน่วยงาน (ไทย)", "Agency name (Thai)"),
    "Issuer/NameEN": ("ชื่อหน่วยงาน (อังกฤษ)", "Agency name (English)"),
    "Validity": ("ระยะเวลาที่มีผล", "Validity"),
    "Validity/IssuedOn": ("วันที่ออกใบอนุญาต", "Date of issue"),
    "Validity/ValidFrom": ("มีผลตั้งแต่วันที่", "Valid from"),
    "Validity/ValidUntil": ("สิ้นอายุวันที่", "Valid until"),
})

ERECEIPT = Schema(ERECEIPT_NS, "eReceipt", ("ใบเสร็จรับเงินอิเล็กทรอนิกส์", "Electronic receipt"), "e-receipt-1.xsd", {
    "ReceiptNumber": ("เลขที่ใบเสร็จ", "Receipt number"),
    "IssuedOn": ("วันที่ออกใบเสร็จ", "Date of issue"),
    "Agency": ("หน่วยงานผู้รับเงิน", "Receiving agency"),
    "Agency/AgencyCode": ("รหัสหน่วยงาน", "Agency code"),
    "Agency/NameTH": ("ชื่อหน่วยงาน (ไทย)", "Agency name (Thai)"),
    "Agency/NameEN": ("ชื่อหน่วยงาน (อังกฤษ)", "Agency name (English)"),
    "Payer": ("ผู้ชำระเงิน", "Payer"),
    "Payer/Name": ("ชื่อผู้ชำระเงิน", "Payer's name"),
    "Payer/Identifier": ("เลขประจำตัวผู้ชำระเงิน", "Payer's identification number"),
    "Item": ("รายการ", "Item"),
    "Item/Description": ("รายการ", "Description"),
    "Item/Amount": ("จำนวนเงิน (บาท)", "Amount (baht)"),
    "Total": ("รวมเป็นเงิน (บาท)", "Total (baht)"),
})

KNOWN = {s.namespace: s for s in (ELICENSE, ERECEIPT)}


def known_schema(root: etree._Element) -> Schema | None:
    """The govca schema of a parsed document, by its root element's namespace and name."""
    qname = etree.QName(root)
    schema = KNOWN.get(qname.namespace or "")
    return schema if schema is not None and qname.localname == schema.root else None


@dataclass(frozen=True)
class LicenceData:
    number: str
    licence_type_th: str
    holder_th: str
    holder_en: str
    holder_id: str
    agency_code: str
    agency_th: str
    agency_en: str
    issued_on: dt.date
    valid_until: dt.date


def _document(namespace: str, root_name: str) -> tuple[etree._Element, Callable[..., etree._Element]]:
    """A root element of ``namespace`` (version 1) and a function adding a child with text."""
    root = etree.Element(f"{{{namespace}}}{root_name}", nsmap={None: namespace}, version="1")

    def add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        node = etree.SubElement(parent, f"{{{namespace}}}{name}")
        if text is not None:
            node.text = text
        return node

    return root, add


def _serialised(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def elicense_xml(data: LicenceData) -> bytes:
    """The e-License 1 document of ``data``: UTF-8, with an XML declaration, valid against
    e-license-1.xsd."""
    root, add = _document(ELICENSE_NS, "eLicense")

    add(root, "LicenceNumber", data.number)
    add(root, "LicenceType", data.licence_type_th)
    holder = add(root, "Holder")
    add(holder, "NameTH", data.holder_th)
    add(holder, "NameEN", data.holder_en)
    add(holder, "Identifier", data.holder_id)
    issuer = add(root, "Issuer")
    add(issuer, "AgencyCode", data.agency_code)
    add(issuer, "NameTH", data.agency_th)
    add(issuer, "NameEN", data.agency_en)
    validity = add(root, "Validity")
    add(validity, "IssuedOn", data.issued_on.isoformat())
    add(validity, "ValidFrom", data.issued_on.isoformat())
    add(validity, "ValidUntil", data.valid_until.isoformat())
    return _serialised(root)


@dataclass(frozen=True)
class ReceiptData:
    number: str
    issued_on: dt.date
    agency_code: str
    agency_th: str
    agency_en: str
    payer: str
    payer_id: str
    items: tuple[tuple[str, Decimal], ...]


def ereceipt_xml(data: ReceiptData) -> bytes:
    """The e-Receipt 1 document of ``data`` (valid against e-receipt-1.xsd)."""
    root, add = _document(ERECEIPT_NS, "eReceipt")

    add(root, "ReceiptNumber", data.number)
    add(root, "IssuedOn", data.issued_on.isoformat())
    agency = add(root, "Agency")
    add(agency, "AgencyCode", data.agency_code)
    add(agency, "NameTH", data.agency_th)
    add(agency, "NameEN", data.agency_en)
    payer = add(root, "Payer")
    add(payer, "Name", data.payer)
    add(payer, "Identifier", data.payer_id)
    for description, amount in data.items:
        item = add(root, "Item")
        add(item, "Description", description)
        add(item, "Amount", f"{amount:.2f}")
    add(root, "Total", f"{sum((a for _, a in data.items), Decimal(0)):.2f}")
    return _serialised(root)
