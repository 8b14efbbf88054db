"""Sign a PDF as an official through govca's CSC API with pyHanko's CSCSigner (an example for
integrators; README "Integrator quick start" runs it against the demo).

    python docs/examples/csc_sign.py --url http://127.0.0.1:8080 --token-file API_TOKEN_FILE \
        --credential official-1 --pin-file PIN_FILE --totp-file TOTP_FILE in.pdf out.pdf

Secrets are read from files, never from the command line (where `ps` would show them):
  --token-file  the agency system's API token (`govca apiclient create` prints it once);
  --pin-file    the official's PIN;
  --totp-file   the official's TOTP seed, as the otpauth:// URI an authenticator app enrols from
                (a real integration asks the official for the 6-digit code instead).
The API token logs in (CSC auth/login, HTTP Basic: user = the client id, password = the token);
each signature is authorised with the PIN and the current TOTP code (SCAL 2: the SAD covers
exactly the hash pyHanko sends), then signed with signHash.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
from pathlib import Path

import aiohttp
import pyotp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers import PdfSignatureMetadata, async_sign_pdf, csc_signer


class PinAndTotp(csc_signer.CSCAuthorizationManager):
    """credentials/authorize with the official's PIN and a fresh TOTP code for each batch."""

    def __init__(self, session: aiohttp.ClientSession, session_info: csc_signer.CSCServiceSessionInfo,
                 credential: csc_signer.CSCCredentialInfo, pin: str, totp: pyotp.TOTP) -> None:
        super().__init__(session_info, credential)
        self.session, self.pin, self.totp = session, pin, totp

    async def authorize_signature(self, hash_b64s: list[str]) -> csc_signer.CSCAuthorizationInfo:
        request = self.format_csc_auth_request(hash_b64s=hash_b64s, pin=self.pin, otp=self.totp.now())
        async with self.session.post(self.csc_session_info.endpoint_url("credentials/authorize"),
                                     headers=self.auth_headers, json=request) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise SystemExit(f"authorisation refused: {body.get('error')}: {body.get('error_description')}")
        return self.parse_csc_auth_response(body)


async def sign(url: str, token: str, credential: str, pin: str, totp: pyotp.TOTP, pdf: bytes) -> bytes:
    client_id = token.split("_")[1]
    basic = base64.b64encode(f"{client_id}:{token}".encode()).decode()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/csc/v1/auth/login", json={}, headers={"Authorization": f"Basic {basic}"}) as r:
            body = await r.json()
            if r.status != 200:
                raise SystemExit(f"login refused: {body.get('error')}: {body.get('error_description')}")
        info = csc_signer.CSCServiceSessionInfo(url, credential, oauth_token=body["access_token"])
        cred = await csc_signer.fetch_certs_in_csc_credential(session, info)
        signer = csc_signer.CSCSigner(session, auth_manager=PinAndTotp(session, info, cred, pin, totp))
        out = await async_sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)),
                                   PdfSignatureMetadata(field_name="Official"), signer=signer)
        return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="govca's base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--token-file", type=Path, required=True)
    ap.add_argument("--credential", required=True, help="e.g. official-1 (credentials/list names them)")
    ap.add_argument("--pin-file", type=Path, required=True)
    ap.add_argument("--totp-file", type=Path, required=True)
    ap.add_argument("input", type=Path)
    ap.add_argument("output", type=Path)
    args = ap.parse_args()
    totp = pyotp.parse_uri(args.totp_file.read_text().strip())
    signed = asyncio.run(sign(args.url.rstrip("/"), args.token_file.read_text().strip(), args.credential,
                              args.pin_file.read_text().strip(), totp, args.input.read_bytes()))
    args.output.write_bytes(signed)
    print(f"signed by {args.credential}: {args.output}")


if __name__ == "__main__":
    main()
