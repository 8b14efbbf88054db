"""The policies package's errors."""


class PolicyError(Exception):
    """Base of policies/ errors."""


class ProfileConfigError(PolicyError):
    """A profile data file is malformed (unknown key, wrong type, missing clause)."""


class UnknownProfileError(PolicyError):
    """No profile of that name."""
