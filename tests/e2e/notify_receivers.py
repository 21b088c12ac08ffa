"""Local receivers for jenky's outbox (tests/e2e/test_notify.py): an HTTP
server on loopback that records every request and answers from a script of
responses, checking nothing itself (the tests check the shape), and an SMTP
server (Debian's python3-aiosmtpd) that keeps the mail it receives."""

import base64
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time


class Receiver:
    """Records requests. ANSWERS is a list of (status, headers, body, delay)
    used in order, then DEFAULT for every later request."""

    def __init__(self, default=(200, {}, b"ok", 0), tls=None):
        self.requests = []
        self.answers = []
        self.default = default
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with receiver.cond:
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                status, headers, reply, delay = answer
                if delay:
                    time.sleep(delay)
                with receiver.cond:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                              "body": body, "status": status,
                                              "at": time.monotonic()})
                    receiver.cond.notify_all()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the client gave up (its timeout)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if tls:  # (certfile, keyfile): HTTPS
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout=20, what="requests"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; got {len(self.requests)}: "
                                         f"{[r['path'] for r in self.requests]}")
                self.cond.wait(left)
            return list(self.requests)

    def wait_count(self, n, timeout=20, ok_only=False):
        def enough(reqs):
            return len([r for r in reqs if not ok_only or r["status"] < 300]) >= n
        return self.wait_for(enough, timeout, what=f"{n} requests")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def verify_standard_webhook(request, secret):
    """Checks webhook-id/-timestamp/-signature as a Standard Webhooks
    receiver does; returns the parsed body."""
    h = {k.lower(): v for k, v in request["headers"].items()}
    msg_id, ts, sig = h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"]
    assert abs(int(ts) - time.time()) < 300, ts
    signed = f"{msg_id}.{ts}.".encode() + request["body"]
    expected = "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    assert expected in sig.split(" "), (sig, expected)
    return json.loads(request["body"])


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback keeping each message."""

    def __init__(self, tls=None, login=None):
        """TLS: (certfile, keyfile): STARTTLS required. LOGIN: (user,
        password): AUTH required (over TLS)."""
        from aiosmtpd.controller import Controller  # python3-aiosmtpd
        from aiosmtpd.smtp import AuthResult

        self.messages = []
        self.cond = threading.Condition()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink.cond:
                    sink.messages.append({"from": envelope.mail_from,
                                          "to": list(envelope.rcpt_tos),
                                          "data": envelope.content.decode("utf-8", "replace")})
                    sink.cond.notify_all()
                return "250 OK"

        # A free port (the controller checks its server by connecting to it,
        # so it needs the number up front).
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        params = {}
        self.logins = []
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            params.update(tls_context=ctx, require_starttls=True)
        if login:
            def authenticate(server, session, envelope, mechanism, data):
                ok = (data.login.decode(), data.password.decode()) == login
                sink.logins.append((mechanism, ok))
                return AuthResult(success=ok)
            params.update(authenticator=authenticate, auth_required=True)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **params)
        self.controller.start()

    def wait_count(self, n, timeout=20):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {n} mails; got {len(self.messages)}")
                self.cond.wait(left)
            return list(self.messages)

    def close(self):
        self.controller.stop()
