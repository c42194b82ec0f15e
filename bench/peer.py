"""The peer of the page benchmarks: a minimal Flask app serving the same bytes as the page
measured (read once from BENCH_PEER_BODY), under the same gunicorn settings."""

import os
from pathlib import Path

from flask import Flask, Response

app = Flask(__name__)
BODY = (
    Path(os.environ["BENCH_PEER_BODY"]).read_bytes() if "BENCH_PEER_BODY" in os.environ else b"ok"
)


@app.get("/")
def page() -> Response:
    return Response(BODY, mimetype="text/html")
