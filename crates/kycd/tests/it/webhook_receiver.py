"""A webhook receiver for kycd's integration tests.

Verifies every request with the `standardwebhooks` package (an implementation
independent of kycd's), and appends one JSON line per request to OUT:
{"id", "timestamp", "signatures", "body", "valid": [index of each secret in SECRETS that
verifies], "cko_valid": [the same for a Checkout.com `Cko-Signature` (hex HMAC-SHA256 of
the body keyed with the secret), "answered": status}. Answers 503 while the file DOWN exists.

The kycd under test may run with a shifted clock (KYCD_TEST_CLOCK_OFFSET_FILE); the
timestamp tolerance check is shifted by the same offset, the signature check is not.

GET requests (callbacks, e.g. Skribble's) are logged as {"method": "GET", "path",
"answered"} and answered the same way (503 while DOWN exists).

usage: webhook_receiver.py PORT_FILE OUT SECRETS DOWN OFFSET_FILE
"""
import hashlib, hmac, json, os, sys
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

port_file, out, secrets_file, down_file, offset_file = sys.argv[1:6]


def offset():
    try:
        return int(open(offset_file).read().strip() or 0)
    except (OSError, ValueError):
        return 0


def verify_timestamp(self, header):
    ts = datetime.fromtimestamp(float(header), tz=timezone.utc)
    now = datetime.now(tz=timezone.utc) + timedelta(seconds=offset())
    if abs((now - ts).total_seconds()) > 300:
        raise WebhookVerificationError("timestamp out of tolerance")
    return ts


Webhook._Webhook__verify_timestamp = verify_timestamp


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            secrets = json.load(open(secrets_file))
        except (OSError, ValueError):
            secrets = []
        valid = []
        for i, s in enumerate(secrets):
            try:
                Webhook(s).verify(body, headers)
                valid.append(i)
            except Exception:
                pass
        cko = headers.get("cko-signature")
        cko_valid = [
            i for i, s in enumerate(secrets)
            if cko and hmac.compare_digest(hmac.new(s.encode(), body, hashlib.sha256).hexdigest(), cko)
        ]
        status = 503 if os.path.exists(down_file) else 200
        rec = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signatures": headers.get("webhook-signature"),
            "body": body.decode(),
            "valid": valid,
            "cko_valid": cko_valid,
            "answered": status,
        }
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        status = 503 if os.path.exists(down_file) else 200
        with open(out, "a") as f:
            f.write(json.dumps({"method": "GET", "path": self.path, "answered": status}) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
