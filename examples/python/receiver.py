"""A BroxiAI Webhooks receiver in Python's standard library alone: a WSGI app that verifies Standard Webhooks
signatures with hmac, hashlib and base64, drops duplicates and answers before doing the work.

    WEBHOOK_SECRET=whsec_... PORT=8000 python3 receiver.py

Run so, it is served by wsgiref; in production any WSGI server (gunicorn, uWSGI, waitress) serves create_app(secret).
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import queue
import re
import sys
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIServer, make_server

PATH = "/webhooks/broxiai"
MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_S = 5 * 60
# The service retries for about a day and a half by default: remember ids at least that long.
SEEN_FOR_S = 3 * 24 * 3600


class VerificationError(Exception):
    pass


def secret_key(secret: str) -> bytes:
    """The HMAC key: the bytes whose base64 follows "whsec_"."""
    if not secret.startswith("whsec_"):
        raise ValueError("WEBHOOK_SECRET must start with whsec_")
    try:
        return base64.b64decode(secret[len("whsec_"):], validate=True)
    except binascii.Error as err:
        raise ValueError("WEBHOOK_SECRET is not whsec_ followed by base64") from err


def verify(key: bytes, headers, body: bytes, now: float | None = None) -> dict:
    """Checks a delivery and returns its payload, or raises VerificationError.

    The signed content is "{webhook-id}.{webhook-timestamp}.{raw body}"; webhook-signature holds one or more
    space-separated "v1,<base64 HMAC-SHA256>" entries (two during a secret rotation), and one match is enough.
    """
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not re.fullmatch(r"[0-9]{1,15}", timestamp):
        raise VerificationError("webhook-timestamp is not integer seconds")
    # Without this check a captured request could be replayed forever: its signature never expires.
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_S:
        raise VerificationError("webhook-timestamp is more than five minutes away from now")

    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    matched = False
    for entry in signatures.split(" "):
        version, _, signature = entry.partition(",")
        # compare_digest takes the same time wherever the first difference is, so timing tells an attacker
        # nothing; looking at every entry (no early exit) keeps which entry matched hidden too.
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            matched = True
    if not matched:
        raise VerificationError("no signature matches")
    return json.loads(body)


class SeenIds:
    """The webhook-ids handled lately. In memory for the example: with several processes (gunicorn workers) or
    restarts, use a shared store (a unique key in your database, Redis SET NX EX)."""

    def __init__(self, keep_s: float):
        self._keep_s = keep_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, msg_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            for old, at in list(self._seen.items()):
                if now - at < self._keep_s:
                    break  # dicts keep insertion order: the rest are younger
                del self._seen[old]
            if msg_id in self._seen:
                return False
            self._seen[msg_id] = now
            return True


def handle(event: dict) -> None:
    """Your business logic. It runs after the answer, so a slow step never makes the service time out and retry."""
    events = event["data"]["events"] if event.get("type") == "batch" else [event]
    for e in events:
        print(json.dumps({"handled": e.get("id"), "type": e.get("type")}), flush=True)


def worker(jobs: "queue.Queue[dict]") -> None:
    while True:
        event = jobs.get()
        try:
            handle(event)
        except Exception as err:  # noqa: BLE001 - one bad event must not stop the worker
            print(f"handling {event.get('id')} failed: {err!r}", file=sys.stderr, flush=True)


def request_headers(environ: dict) -> dict[str, str]:
    """The request's headers under their lower-case names, as WSGI passes them (webhook-id is HTTP_WEBHOOK_ID)."""
    return {name[5:].replace("_", "-").lower(): value for name, value in environ.items() if name.startswith("HTTP_")}


def create_app(secret: str):
    """The WSGI app for one webhook secret. Raises ValueError for a secret that is not whsec_ + base64."""
    key = secret_key(secret)
    seen = SeenIds(SEEN_FOR_S)
    jobs: "queue.Queue[dict]" = queue.Queue()
    threading.Thread(target=worker, args=(jobs,), daemon=True).start()

    def answer(start_response, status: str, body: dict | None = None):
        data = b"" if body is None else json.dumps(body).encode()
        headers = [("content-length", str(len(data)))]
        if body is not None:
            headers.append(("content-type", "application/json"))
        start_response(status, headers)
        return [data]

    def app(environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != PATH:
            return answer(start_response, "404 Not Found", {"error": "not found"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return answer(start_response, "400 Bad Request", {"error": "bad content-length"})
        if length > MAX_BODY_BYTES:
            return answer(start_response, "413 Content Too Large", {"error": "body too large"})
        # The raw bytes, exactly as signed: parsing the JSON and serializing it again would not give the same text.
        body = environ["wsgi.input"].read(length)
        headers = request_headers(environ)
        try:
            event = verify(key, headers, body)
        except VerificationError as err:
            print(f"rejected {headers.get('webhook-id', '(no webhook-id)')}: {err}", file=sys.stderr, flush=True)
            return answer(start_response, "401 Unauthorized", {"error": str(err)})
        except ValueError:
            return answer(start_response, "400 Bad Request", {"error": "body is not JSON"})
        # Deduplicate only after verifying, so a forged request cannot mark a real id as seen.
        msg_id = headers["webhook-id"]
        if not seen.first_time(msg_id):
            print(json.dumps({"duplicate": msg_id}), flush=True)
            return answer(start_response, "200 OK", {"duplicate": True})
        jobs.put(event)
        return answer(start_response, "204 No Content")

    return app


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request, so a slow client does not hold back the next delivery."""

    daemon_threads = True


if __name__ == "__main__":
    try:
        app = create_app(os.environ.get("WEBHOOK_SECRET", ""))
    except ValueError as err:
        sys.exit(f"{err} (the secret POST /v1/webhooks answered)")
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))
    with make_server(host, port, app, server_class=ThreadingWSGIServer) as server:
        print(f"listening on http://{host}:{port}{PATH}", file=sys.stderr, flush=True)
        server.serve_forever()
