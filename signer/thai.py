"""Thai first, for people: the Thai font, and dates in Asia/Bangkok time with the Buddhist era first
and the Gregorian calendar second (the stamp, the verification page, the sample documents)."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from .errors import StampError

DEFAULT_FONT = "/usr/share/fonts/opentype/tlwg/Laksaman.otf"
"""Laksaman, the TLWG build of the government's TH Sarabun (Debian ``fonts-tlwg-laksaman-otf``)."""

BANGKOK = ZoneInfo("Asia/Bangkok")
"""The time zone every date on the stamp is shown in, whatever the signer's clock says."""

BUDDHIST_ERA_OFFSET = 543
"""Buddhist era year = Gregorian year + 543 (พ.ศ. = ค.ศ. + 543)."""

THAI_MONTHS = (
    "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
    "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม",
)
# Spelled out rather than strftime("%B"), which follows the process locale.
ENGLISH_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def require_aware(when: datetime) -> None:
    if not isinstance(when, datetime):
        raise StampError(f"expected a datetime, got {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise StampError("a naive datetime has no defined Bangkok time; pass an aware one")


def thai_date(day: date) -> str:
    """``26 พฤศจิกายน พ.ศ. 2569``: day, Thai month name, Buddhist-era year."""
    return f"{day.day} {THAI_MONTHS[day.month - 1]} พ.ศ. {day.year + BUDDHIST_ERA_OFFSET}"


def english_date(day: date) -> str:
    """``26 November 2026``: day, English month name, Gregorian year."""
    return f"{day.day} {ENGLISH_MONTHS[day.month - 1]} {day.year}"


def thai_datetime(when: datetime) -> str:
    """``26 พฤศจิกายน พ.ศ. 2569 เวลา 13:21 น.``, in Asia/Bangkok time.

    :raises StampError: if ``when`` is naive.
    """
    require_aware(when)
    local = when.astimezone(BANGKOK)
    return f"{thai_date(local.date())} เวลา {local:%H:%M} น."


def english_datetime(when: datetime) -> str:
    """``26 November 2026, 13:21 (UTC+07:00)``, in Asia/Bangkok time.

    :raises StampError: if ``when`` is naive.
    """
    require_aware(when)
    local = when.astimezone(BANGKOK)
    offset = local.strftime("%z")
    return f"{english_date(local.date())}, {local:%H:%M} (UTC{offset[:3]}:{offset[3:]})"
