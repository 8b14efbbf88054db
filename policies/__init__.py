"""Profiles as versioned data, and the checks that hold certificates to them."""
from .checks import check_certificate, check_key_type, check_subject, public_key_type
from .errors import PolicyError, ProfileConfigError, UnknownProfileError
from .findings import Finding, Severity, blocking
from .loader import load_profiles
from .model import CertificateProfile, CrlProfile, PolicySettings, ProfileKind, ProfileSet
from .names import NameSyntaxError, build_name, format_attrs, format_name, name_attributes, parse_slash_subject

__all__ = [
    "check_certificate", "check_key_type", "check_subject", "public_key_type", "PolicyError",
    "ProfileConfigError", "UnknownProfileError", "Finding", "Severity", "blocking", "load_profiles",
    "CertificateProfile", "CrlProfile", "PolicySettings", "ProfileKind", "ProfileSet", "NameSyntaxError",
    "build_name", "format_attrs", "format_name", "name_attributes", "parse_slash_subject",
]
