"""The administrator workflows: govca's application layer.

Each workflow is one administrator task with its steps in the order that keeps the service
consistent (revoke, then re-sign the OCSP responses, with the CRL published; enrol an official;
issue a seal or TSA certificate with its subject; create or revoke an API client; set up, renew
and refresh OCSP responders). The click commands of cli/ parse options, call one workflow and
print; the composition root (cli/admin.py) hands each workflow its collaborators through the
`Admin` protocol (workflows/context.py), which names the token each one uses.

Dependency direction (setup.cfg, contract `application-layer`):
cli -> workflows -> ca, ocsp, signer, hsm, policies; nothing but cli imports workflows.
"""
from .errors import WorkflowError

__all__ = ["WorkflowError"]
