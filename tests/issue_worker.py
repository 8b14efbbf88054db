"""Run as a separate process by the concurrency tests: issue N e-seal certificates from one CSR.

usage: python issue_worker.py HOME N START_FILE
Waits until START_FILE exists so that every worker starts together, then prints the serials.
"""
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cli.compose import build_ca_service


def main() -> None:
    home, n, start = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    svc = build_ca_service(home)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    pem = csr.public_bytes(serialization.Encoding.PEM)
    subject = "/C=TH/O=Concurrent Agency/CN=หน่วยงานคู่ขนาน/organizationIdentifier=NTRTH-0994000000002"
    svc.get_ca("issuing")  # open the database and the token before the start line
    while not start.exists():
        time.sleep(0.01)
    for _ in range(n):
        print(svc.issue(ca_name="issuing", profile_name="eseal", actor="worker", csr=pem, subject=subject).serial_hex)


if __name__ == "__main__":
    main()
