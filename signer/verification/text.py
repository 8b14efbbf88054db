"""What the verification page says, in Thai and in English: one sentence per reason or note."""
from __future__ import annotations

REASONS: dict[str, tuple[str, str]] = {
    "valid": ("ลายมือชื่ออิเล็กทรอนิกส์ถูกต้อง และเอกสารไม่ถูกแก้ไขหลังการลงนาม",
              "The signature is valid and the document has not been changed since it was signed."),
    "valid_timestamp": ("ตราประทับเวลาถูกต้อง และเอกสารไม่ถูกแก้ไขหลังการประทับเวลา",
                        "The time-stamp is valid and the document has not been changed since it was applied."),
    "valid_timestamp_changed": ("ตราประทับเวลาถูกต้องสำหรับฉบับที่ประทับไว้ แต่เอกสารถูกเปลี่ยนแปลงภายหลัง ({changes_th})",
                                "The time-stamp is valid for the version it covers, but the document was changed "
                                "afterwards ({changes_en})."),
    "altered": ("เนื้อหาของเอกสารถูกเปลี่ยนแปลงหลังการลงนาม ลายมือชื่อจึงไม่ตรงกับเอกสารนี้",
                "The document's content was changed after signing, so the signature no longer matches it."),
    "bad_signature": ("ค่าลายมือชื่อไม่ถูกต้องตามหลักการเข้ารหัส",
                      "The signature value does not verify cryptographically."),
    "modified": ("เอกสารถูกแก้ไขหลังการลงนามในแบบที่ผู้ลงนามไม่อนุญาต ({changes_th})",
                 "The document was modified after signing in a way the signer did not allow ({changes_en})."),
    "revoked": ("ใบรับรองของผู้ลงนามถูกเพิกถอนแล้วเมื่อ {revoked_th} ก่อนการลงนาม (เหตุ: {reason_th})",
                "The signer's certificate had been revoked on {revoked_en}, before the signature was made "
                "(reason: {reason_en})."),
    "untrusted": ("ยืนยันไม่ได้: ใบรับรองของผู้ลงนามไม่ได้ออกโดยผู้ให้บริการออกใบรับรองที่ระบบนี้เชื่อถือ",
                  "Cannot be confirmed: the signer's certificate was not issued by a certification authority "
                  "this service trusts."),
    "expired": ("ยืนยันไม่ได้: ใบรับรองหมดอายุแล้ว และไม่มีตราประทับเวลาที่พิสูจน์ว่าลงนามก่อนหมดอายุ",
                "Cannot be confirmed: the certificate has expired and no time-stamp proves the signature "
                "was made before that."),
    "no_revocation": ("ยืนยันไม่ได้: ไม่มีข้อมูลสถานะการเพิกถอนของใบรับรองให้ตรวจสอบ",
                      "Cannot be confirmed: no revocation information about the certificate is available."),
    "indeterminate": ("ยืนยันไม่ได้: {detail}", "Cannot be confirmed: {detail}"),
    "no_signatures": ("เอกสารนี้ไม่มีลายมือชื่ออิเล็กทรอนิกส์", "This document carries no electronic signature."),
    # XAdES (ETSI EN 319 132-1; signer/verification/xades.py)
    "detached_missing": ("ยืนยันไม่ได้: ลายมือชื่อนี้ลงนามไฟล์ {name} ที่แยกไว้ต่างหาก กรุณาส่งไฟล์นั้นมาพร้อมกัน",
                         "Cannot be confirmed: this signature covers the separate file {name}; send that file "
                         "with it."),
    "partial": ("ยืนยันไม่ได้: ลายมือชื่อนี้ครอบคลุมเพียงบางส่วนของเอกสาร ไม่ใช่ทั้งฉบับ",
                "Cannot be confirmed: this signature covers only part of the document, not all of it."),
    "timestamp_altered": ("ตราประทับเวลาเพื่อการเก็บรักษาระยะยาวไม่ตรงกับข้อมูลของลายมือชื่อ ข้อมูลถูกเปลี่ยนหลังการประทับเวลา",
                          "The archive time-stamp does not match the signature's data: it was changed after "
                          "the time-stamp was applied."),
}

NOTES: dict[str, tuple[str, str]] = {
    "revoked_later": ("ใบรับรองถูกเพิกถอนเมื่อ {revoked_th} (เหตุ: {reason_th}) ซึ่งเป็นเวลาหลังการลงนามเมื่อ {signed_th} "
                      "ลายมือชื่อที่ลงไว้ก่อนหน้านั้นยังใช้ได้",
                      "The certificate was revoked on {revoked_en} (reason: {reason_en}), after this signature was "
                      "made on {signed_en}; a signature made before the revocation remains valid."),
    "allowed_changes": ("มีการเปลี่ยนแปลงหลังการลงนาม ({changes_th}) ซึ่งการรับรองเอกสารอนุญาตไว้",
                        "There were changes after signing ({changes_en}), which the certification allows."),
    "claimed_time": ("เวลาลงนามเป็นเวลาที่ผู้ลงนามระบุเอง ไม่มีตราประทับเวลารับรอง",
                     "The signing time is the one the signer stated; no time-stamp confirms it."),
    "archive_timestamp": ("ตราประทับเวลาเพื่อการเก็บรักษาระยะยาวเมื่อ {time_th} โดย {tsa} ยืนยันลายมือชื่อและข้อมูลสำหรับตรวจสอบ",
                          "An archive time-stamp of {time_en} by {tsa} covers the signature and its validation "
                          "data."),
    "expired_now": ("ใบรับรองหมดอายุแล้ว แต่ตราประทับเวลาพิสูจน์ว่าลงนามขณะใบรับรองยังใช้ได้",
                    "The certificate has expired since, but the time-stamp proves it was valid when signing."),
}

# RFC 5280 5.3.1 CRLReason, by asn1crypto's names, in words for citizens.
REVOCATION_REASONS: dict[str | None, tuple[str, str]] = {
    None: ("ไม่ได้ระบุ", "not given"),
    "unspecified": ("ไม่ได้ระบุ", "not given"),
    "key_compromise": ("กุญแจส่วนตัวของผู้ลงนามอาจรั่วไหล", "the signer's private key may have been compromised"),
    "ca_compromise": ("กุญแจของผู้ออกใบรับรองอาจรั่วไหล", "the certification authority's key may have been compromised"),
    "affiliation_changed": ("ผู้ถือใบรับรองเปลี่ยนสังกัดหรือตำแหน่ง", "the holder's affiliation or post changed"),
    "superseded": ("มีใบรับรองใหม่ใช้แทนแล้ว", "replaced by a new certificate"),
    "cessation_of_operation": ("เลิกใช้งานแล้ว", "no longer in use"),
    "certificate_hold": ("ระงับการใช้ชั่วคราว", "put on hold"),
    "privilege_withdrawn": ("ถูกถอนสิทธิ์", "the holder's privileges were withdrawn"),
    "aa_compromise": ("กุญแจของผู้ออกคุณสมบัติอาจรั่วไหล", "the attribute authority's key may have been compromised"),
}

CHANGES = {  # pyHanko ModificationLevel names
    "NONE": ("ไม่มี", "none"),
    "ALTERED": ("เนื้อหาที่ลงนามไว้ถูกเปลี่ยน", "the signed content itself was changed"),
    "LTA_UPDATES": ("ไม่มี (เพิ่มเฉพาะข้อมูลสำหรับตรวจสอบระยะยาว)", "none (only long-term validation data added)"),
    "FORM_FILLING": ("กรอกแบบฟอร์มหรือลงนามเพิ่มเติม", "form filling or further signatures"),
    "ANNOTATIONS": ("เพิ่มหมายเหตุ/คำอธิบายประกอบ", "annotations added"),
    "OTHER": ("เปลี่ยนเนื้อหาหรือหน้าเอกสาร", "content or pages changed"),
}

VERDICTS = {
    "valid": ("ถูกต้อง", "Valid"),
    "invalid": ("ไม่ถูกต้อง", "Invalid"),
    "indeterminate": ("ยืนยันไม่ได้", "Cannot be confirmed"),
}


def say(table: dict[str, tuple[str, str]], code: str, **values: str) -> dict[str, str]:
    th, en = table[code]
    return {"code": code, "th": th.format(**values), "en": en.format(**values)}

CERTIFICATION = {  # DocMDP permission (ISO 32000-1 12.8.2.2)
    "NO_CHANGES": ("ห้ามแก้ไขใด ๆ", "no changes allowed"),
    "FILL_FORMS": ("อนุญาตให้กรอกแบบฟอร์มและลงนามเพิ่ม", "form filling and signing allowed"),
    "ANNOTATE": ("อนุญาตให้กรอกแบบฟอร์ม ลงนาม และใส่หมายเหตุ", "form filling, signing and annotations allowed"),
}

# ISO 32000-2 7.11.3 Table 43, /AFRelationship: how an associated file relates to the document.
RELATIONSHIPS = {
    "Source": ("ต้นฉบับของเอกสาร", "the document's source"),
    "Data": ("ข้อมูลของเอกสาร", "the document's data"),
    "Alternative": ("เอกสารในรูปแบบอื่น", "another form of the document"),
    "Supplement": ("ส่วนเสริมของเอกสาร", "a supplement to the document"),
    "EncryptedPayload": ("เนื้อหาที่เข้ารหัสไว้", "an encrypted payload"),
    "FormData": ("ข้อมูลแบบฟอร์ม", "form data"),
    "Schema": ("โครงสร้างข้อมูล (สคีมา)", "a schema"),
    "Unspecified": ("ไม่ได้ระบุ", "not specified"),
}

# Why an associated file's content is not shown (signer/verification/attachments.py).
FILE_PROBLEMS = {
    "too_large": ("ไฟล์ใหญ่เกินกว่าที่จะแสดงได้", "too large to show"),
    "unreadable": ("อ่านเนื้อหาของไฟล์ไม่ได้", "its content cannot be read"),
    "not_embedded": ("ไม่ได้ฝังไฟล์ไว้ในเอกสาร (อ้างถึงไฟล์ภายนอก)", "not embedded (it names a file outside the document)"),
    "not_shown": ("แสดงเฉพาะไฟล์แรก ๆ เท่านั้น", "only the first files are shown"),
}
