"""OCSP errors; each maps to an OCSPResponseStatus (RFC 6960 4.2.1)."""


class OcspError(Exception):
    status = "internal_error"


class MalformedRequestError(OcspError):
    status = "malformed_request"


class UnauthorizedError(OcspError):
    status = "unauthorized"


class TryLaterError(OcspError):
    status = "try_later"
