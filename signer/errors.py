"""signer/'s errors; the HTTP edge turns each into a problem document with its status."""


class SignerError(Exception):
    status = 400
    title = "Bad Request"


class BadInputError(SignerError):
    status = 400
    title = "Bad Request"


class UnsupportedMediaError(SignerError):
    status = 415
    title = "Unsupported Media Type"


class TooLargeError(SignerError):
    status = 413
    title = "Payload Too Large"


class UnauthenticatedError(SignerError):
    status = 401
    title = "Unauthorized"


class ForbiddenError(SignerError):
    status = 403
    title = "Forbidden"


class NotFoundError(SignerError):
    status = 404
    title = "Not Found"


class ConflictError(SignerError):
    status = 409
    title = "Conflict"


class UnavailableError(SignerError):
    status = 503
    title = "Service Unavailable"


class BudgetError(SignerError):
    """An upload that would cost more than a budget of signer/pdf_guard.py allows."""

    status = 422
    title = "Unprocessable Content"


class StampError(SignerError, ValueError):
    """A stamp cannot be built as asked (naive time, bad field, a font without the glyphs).

    Its inputs come from the agency's record and the seal certificate, not from the caller's
    request, so at the HTTP edge it is the server's fault."""

    status = 500
    title = "Internal Server Error"
