"""The HTTP ceiling for bench/ocsp.py: a minimal Flask app returning fixed ~1 KB bytes, served by
gunicorn like `govca serve` (sync workers): `gunicorn -w 2 -k sync --chdir bench _fixed_app:app`."""
from flask import Flask, Response

BODY = bytes(range(256)) * 4  # 1,024 bytes, about an OCSP response with its responder certificate

app = Flask("fixed")


@app.route("/", defaults={"rest": ""}, methods=["GET", "POST"])
@app.route("/<path:rest>", methods=["GET", "POST"])
def fixed(rest: str) -> Response:
    return Response(BODY, 200, content_type="application/ocsp-response")
