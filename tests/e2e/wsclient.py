"""A small, independent RFC 6455 WebSocket client for the tests (standard
library only). It is deliberately not jenky's code: it checks the server from
the outside, frame by frame, including masking, fragmentation, control frames
and permessage-deflate (RFC 7692)."""

import base64
import hashlib
import json
import os
import socket
import struct
import zlib

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeError(Exception):
    def __init__(self, status, headers, body):
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


class WebSocket:
    def __init__(self, url, headers=None, deflate=False, timeout=10, auto_pong=True,
                 ssl_context=None):
        """URL is ws://... or wss://... (then SSL_CONTEXT, an ssl.SSLContext,
        says whom to trust)."""
        secure = url.startswith("wss://")
        assert secure or url.startswith("ws://")
        hostport, _, path = url[6 if secure else 5:].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port or (443 if secure else 80))),
                                             timeout=timeout)
        if secure:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=host)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET /{path} HTTP/1.1",
            f"Host: {(headers or {}).get('Host', hostport)}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        for k, v in (headers or {}).items():
            if k != "Host":
                lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        self.headers = {}
        for line in header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        if status != 101:
            length = int(self.headers.get("content-length", "0"))
            body = self._read_exact(length) if length else b""
            self.sock.close()
            raise HandshakeError(status, self.headers, body.decode(errors="replace"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert self.headers.get("sec-websocket-accept") == accept, "bad Sec-WebSocket-Accept"
        ext = self.headers.get("sec-websocket-extensions", "")
        self.deflate = "permessage-deflate" in ext
        self.server_no_context_takeover = "server_no_context_takeover" in ext
        self.inflater = zlib.decompressobj(-15)
        self.auto_pong = auto_pong
        self.pings_received = 0
        self.pongs_received = 0
        self.closed = None

    # -- raw io
    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed without a close frame")
        self.buf += chunk

    def _read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, opcode, payload, fin=True, rsv1=False):
        first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", first, 0x80 | n)
        elif n < 65536:
            header = struct.pack("!BBH", first, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read_frame(self):
        b0, b1 = self._read_exact(2)
        fin, rsv1, opcode = b0 & 0x80, b0 & 0x40, b0 & 0x0F
        assert not (b1 & 0x80), "server frames must not be masked"
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._read_exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._read_exact(8))
        return bool(fin), bool(rsv1), opcode, self._read_exact(n)

    # -- messages
    def send_text(self, text):
        self._send_frame(0x1, text.encode())

    def ping(self, payload=b"p"):
        self._send_frame(0x9, payload)

    def recv(self):
        """Next data message as (opcode, bytes); answers pings; raises Closed."""
        parts, first_opcode, compressed = [], None, False
        while True:
            fin, rsv1, opcode, payload = self._read_frame()
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode(errors="replace")
                if self.closed is None:
                    try:
                        self._send_frame(0x8, payload[:2])
                    except OSError:
                        pass
                self.closed = (code, reason)
                raise Closed(code, reason)
            if opcode == 0x9:
                self.pings_received += 1
                if self.auto_pong:
                    self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                self.pongs_received += 1
                continue
            if opcode in (0x1, 0x2):
                first_opcode, compressed = opcode, rsv1
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if compressed:
                    assert self.deflate, "compressed frame without negotiation"
                    data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                    if self.server_no_context_takeover:
                        self.inflater = zlib.decompressobj(-15)
                if first_opcode == 0x1:
                    data.decode("utf-8")  # text frames must be valid UTF-8
                return first_opcode, data

    def recv_json(self):
        opcode, data = self.recv()
        assert opcode == 0x1, "expected a text frame"
        return json.loads(data)

    def close(self, code=1000):
        try:
            if self.closed is None:
                self._send_frame(0x8, struct.pack("!H", code))
        except OSError:
            pass
        self.sock.close()
