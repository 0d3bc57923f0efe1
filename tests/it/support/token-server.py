"""Token service for deckhand's registry tests (distribution token-auth spec).

Usage: token-server.py KEY_PEM CERT_PEM [--ttl SECONDS]

Binds 127.0.0.1 on a free port and prints that port on the first line of stdout.
Needs python3 and python3-cryptography (Debian).

Accounts:
  robot$myorg+ci / robotsecret       every requested action
  identity token "robot-refresh-token" (OAuth2 POST, grant_type=refresh_token) = that robot
  anonymous                           pull on the PUBLIC repositories only
Wrong credentials get 401. A refused action is an empty action list, as real services do.

POST /control?expire_next=N: the next N tokens are already expired (exp two minutes ago) while
the response still claims expires_in=TTL, so the registry answers error="invalid_token".
GET /stats answers {"issued": <tokens issued so far>}.
"""

import base64
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

ISSUER = "deckhand-test-issuer"
SERVICE = "deckhand-test"
ACCOUNTS = {"robot$myorg+ci": "robotsecret"}
REFRESH_TOKENS = {"robot-refresh-token": "robot$myorg+ci"}
PUBLIC = {"myorg/app"}


def parse_args(argv):
    key_path, cert_path = argv[1], argv[2]
    ttl = 60
    rest = argv[3:]
    while rest:
        flag, value, rest = rest[0], int(rest[1]), rest[2:]
        if flag != "--ttl":
            raise SystemExit("unknown flag " + flag)
        ttl = value
    return key_path, cert_path, ttl


KEY_PATH, CERT_PATH, TTL = parse_args(sys.argv)
with open(KEY_PATH, "rb") as f:
    SIGNING_KEY = serialization.load_pem_private_key(f.read(), password=None)
with open(CERT_PATH, "rb") as f:
    CERT_DER = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)

counter_lock = threading.Lock()
issued = 0
expire_next = 0


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign(claims):
    """An RS256 JWS whose x5c header carries the certificate the registry trusts."""
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(CERT_DER).decode("ascii")]}
    head_and_body = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = SIGNING_KEY.sign(head_and_body.encode(), padding.PKCS1v15(), hashes.SHA256())
    return head_and_body + "." + b64url(signature)


def granted(scope_params, user):
    """Access entries for each requested scope; one parameter may list several scopes."""
    access = []
    for param in scope_params:
        for scope in param.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            if user is None:
                allowed = kind == "repository" and name in PUBLIC
                wanted = [a for a in wanted if allowed and a == "pull"]
            access.append({"type": kind, "name": name, "actions": wanted})
    return access


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def deny(self):
        self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication failed"}]})

    def issue(self, user, service, scope_params):
        global issued, expire_next
        with counter_lock:
            issued += 1
            expired = expire_next > 0
            expire_next = max(0, expire_next - 1)
        now = int(time.time())
        start = now - 300 if expired else now
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": service or SERVICE,
            "iat": start,
            "nbf": start - 5,
            "exp": now - 120 if expired else now + TTL,
            "jti": uuid.uuid4().hex,
            "access": granted(scope_params, user),
        }
        token = sign(claims)
        self.reply(200, {
            "token": token,
            "access_token": token,
            "expires_in": TTL,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        })

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path == "/stats":
            with counter_lock:
                self.reply(200, {"issued": issued})
            return
        query = parse_qs(parts.query)
        user = None
        authorization = self.headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode()
            except ValueError:
                return self.deny()
            name, _, secret = decoded.partition(":")
            if ACCOUNTS.get(name) != secret:
                return self.deny()
            user = name
        self.issue(user, query.get("service", [None])[0], query.get("scope", []))

    def do_POST(self):
        global expire_next
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        parts = urlsplit(self.path)
        if parts.path == "/control":
            with counter_lock:
                expire_next = int(parse_qs(parts.query).get("expire_next", ["0"])[0])
            return self.reply(200, {})
        form = parse_qs(raw)
        if form.get("grant_type") != ["refresh_token"]:
            return self.reply(400, {"error": "unsupported_grant_type"})
        user = REFRESH_TOKENS.get(form.get("refresh_token", [""])[0])
        if user is None:
            return self.deny()
        self.issue(user, form.get("service", [None])[0], form.get("scope", []))

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
