"""A BroxiAI Webhooks receiver in Flask, verifying Standard Webhooks signatures with the standard library alone.

    WEBHOOK_SECRET=whsec_... PORT=8000 python3 receiver.py
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

from flask import Flask, jsonify, request

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


def create_app(secret: str) -> Flask:
    key = secret_key(secret)
    seen = SeenIds(SEEN_FOR_S)
    jobs: "queue.Queue[dict]" = queue.Queue()
    threading.Thread(target=worker, args=(jobs,), daemon=True).start()

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024

    @app.post("/webhooks/broxiai")
    def receive():
        # The raw bytes, exactly as signed: request.json would parse them, and re-serializing is not the same text.
        body = request.get_data(cache=False)
        try:
            event = verify(key, request.headers, body)
        except VerificationError as err:
            print(f"rejected {request.headers.get('webhook-id', '(no webhook-id)')}: {err}", file=sys.stderr, flush=True)
            return jsonify(error=str(err)), 401
        except ValueError:
            return jsonify(error="body is not JSON"), 400
        # Deduplicate only after verifying, so a forged request cannot mark a real id as seen.
        msg_id = request.headers["webhook-id"]
        if not seen.first_time(msg_id):
            print(json.dumps({"duplicate": msg_id}), flush=True)
            return jsonify(duplicate=True), 200
        jobs.put(event)
        return "", 204

    return app


if __name__ == "__main__":
    secret = os.environ.get("WEBHOOK_SECRET", "")
    try:
        app = create_app(secret)
    except ValueError as err:
        sys.exit(f"{err} (the secret POST /v1/webhooks answered)")
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
