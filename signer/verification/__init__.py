"""Verifying signed documents for citizens: holds no key and imports nothing from hsm."""
