#!/usr/bin/python3 -B
"""Scripted HTTP/1.1 backend for the integration tests.

One threaded server (a thread per connection, keep-alive) whose answer is
chosen by the request path, so a test can assert what the gateway
forwarded and provoke every upstream behaviour it needs:

  /echo[/...]        JSON of what arrived: method, path, query, headers
                     (in order, duplicates kept), http version, body length
                     and sha256, connection id and the request's index on
                     that connection.  Any method; the body is streamed.
  /sse?n=10&interval=0.1
                     text/event-stream, chunked; one event
                     'data: {"i": k, "t": <unix time>}' per interval, each
                     flushed.  A client that goes away is noticed at once
                     (the socket is watched between events) and counted.
  /slow?delay=3      sleeps (at most 60 s), then answers JSON.
  /big?size=N        N deterministic bytes (see pattern_chunks) with
                     Content-Length; bytes sent so far are in the stats.
  /upload            reads a body of any size (Content-Length or chunked)
                     without storing it; answers its length and sha256.
  /status/NNN        answers status NNN with a small JSON body.
  /close             reads the request, closes without answering.
  /hang              reads the request, never answers (until the client
                     goes away, at most 120 s).
  /healthz, /__health  200 {"status":"ok"}
  /__backend_stats   JSON counters (see Stats.snapshot); not counted.

Usage: backend.py [--host 127.0.0.1] [--port 0] [--port-file F] [--log F]
                  [--name NAME]
The listening port is written to --port-file (atomically) once the socket
listens, and printed on stdout.  SIGTERM ends the process.
"""
import argparse
import hashlib
import json
import os
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PIECE = 64 * 1024
_BASE = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest()
                 for i in range(PIECE // 32))


def pattern_chunks(size, chunk=1 << 20):
    """Yields `size` deterministic bytes in pieces of at most `chunk`.

    Every 64 KiB piece is a fixed pseudo-random block whose first 8 bytes
    are replaced by the piece's index, so the stream has no period: a
    dropped, repeated or reordered piece changes the sha256.
    """
    chunk = max(PIECE, chunk - chunk % PIECE)
    buf = bytearray(_BASE * (chunk // PIECE))
    offset = 0
    while offset < size:
        n = min(chunk, size - offset)
        for p in range(0, n, PIECE):
            buf[p:p + 8] = ((offset + p) // PIECE).to_bytes(8, "big")
        yield memoryview(buf)[:n]
        offset += n


def pattern_sha256(size):
    h = hashlib.sha256()
    for c in pattern_chunks(size):
        h.update(c)
    return h.hexdigest()


class Stats:
    """Counters shared by the connection threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = 0        # every accepted connection
        self.connections = 0     # connections that carried a counted request
        self.active = 0          # connections open now
        self.closed = 0          # connections closed (either side)
        self.requests = 0        # requests, /__backend_stats excluded
        self.by_path = {}        # first path segment -> requests
        self.sse_started = 0
        self.sse_done = 0        # streams that sent every event
        self.sse_gone = 0        # streams whose client went away early
        self.sse_gone_at = []    # time.monotonic() of each, to the ms
        self.big = {}            # transfer id -> bytes sent so far
        self.big_done = 0
        self.big_aborted = 0
        self.uploads = []        # (length, sha256) of finished uploads

    def snapshot(self):
        with self.lock:
            return {
                "accepted": self.accepted,
                "connections": self.connections,
                "active": self.active,
                "closed": self.closed,
                "requests": self.requests,
                "by_path": dict(self.by_path),
                "sse_started": self.sse_started,
                "sse_done": self.sse_done,
                "sse_gone": self.sse_gone,
                "sse_gone_at": list(self.sse_gone_at),
                "big_active": {str(k): v for k, v in self.big.items()},
                "big_done": self.big_done,
                "big_aborted": self.big_aborted,
                "uploads": [list(u) for u in self.uploads[-20:]],
                "now": round(time.monotonic(), 3),
            }


STATS = Stats()
LOG = None
LOG_LOCK = threading.Lock()


def log(msg):
    if LOG is None:
        return
    with LOG_LOCK:
        LOG.write("%.3f %s\n" % (time.monotonic(), msg))
        LOG.flush()


def peer_gone(sock):
    """True if the peer closed or reset the connection.  Never blocks."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def wait_or_gone(sock, seconds):
    """Sleeps `seconds`, returning early (True) if the peer goes away."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            r, _, _ = select.select([sock], [], [], left)
        except OSError:
            return True
        if r:
            if peer_gone(sock):
                return True
            # Bytes of a next (pipelined) request: nothing to watch until
            # they are read, so just sleep out the rest.
            time.sleep(max(0.0, deadline - time.monotonic()))
            return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body go out in separate writes: with Nagle on, the
    # body waits for the gateway's delayed ACK (40 ms) on every reused
    # connection, as with any backend that leaves Nagle on.
    disable_nagle_algorithm = True
    server_version = "itest-backend"
    timeout = 120                # idle keep-alive connections end, too

    def version_string(self):
        return self.server_version

    # --- connection bookkeeping --------------------------------------
    def setup(self):
        super().setup()
        with STATS.lock:
            STATS.accepted += 1
            STATS.active += 1
            self.conn_id = STATS.accepted
        self.counted = False
        self.nreq = 0
        log("accept conn=%d from %s:%d" % ((self.conn_id,) +
                                           self.client_address[:2]))

    def finish(self):
        try:
            super().finish()
        finally:
            with STATS.lock:
                STATS.active -= 1
                STATS.closed += 1
            log("close conn=%d" % self.conn_id)

    def log_message(self, fmt, *args):
        log("conn=%d %s" % (self.conn_id, fmt % args))

    # --- helpers -----------------------------------------------------
    def send_body(self, status, body, ctype="application/json",
                  extra=()):
        if isinstance(body, (dict, list)):
            body = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", self.server.name)
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body_chunks(self):
        """Yields the request body as it arrives (CL or chunked)."""
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            if te.strip().lower() != "chunked":
                raise ValueError("transfer-encoding %r" % te)
            while True:
                line = self.rfile.readline(1024)
                if not line.endswith(b"\n"):
                    raise ValueError("bad chunk size line")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:      # trailers, up to the empty line
                        t = self.rfile.readline(8192)
                        if t in (b"\r\n", b"\n", b""):
                            return
                while size > 0:
                    data = self.rfile.read(min(size, 1 << 20))
                    if not data:
                        raise ValueError("body truncated")
                    size -= len(data)
                    yield data
                if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise ValueError("missing CRLF after chunk")
        length = int(self.headers.get("Content-Length", "0") or "0")
        while length > 0:
            data = self.rfile.read(min(length, 1 << 20))
            if not data:
                raise ValueError("body truncated")
            length -= len(data)
            yield data

    def read_body_digest(self):
        h = hashlib.sha256()
        n = 0
        for data in self.body_chunks():
            h.update(data)
            n += len(data)
        return n, h.hexdigest()

    # --- dispatch ----------------------------------------------------
    def dispatch(self):
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query)
        seg = path.split("/")[1] if path.startswith("/") else ""
        self.nreq += 1
        if path != "/__backend_stats":
            with STATS.lock:
                STATS.requests += 1
                STATS.by_path[seg] = STATS.by_path.get(seg, 0) + 1
                if not self.counted:
                    STATS.connections += 1
                    self.counted = True

        def q(name, default, conv=float):
            try:
                return conv(query[name][0])
            except (KeyError, ValueError, IndexError):
                return default

        try:
            if seg == "echo":
                self.do_echo(url)
            elif seg == "sse":
                self.do_sse(q("n", 10, int), q("interval", 0.1))
            elif seg == "slow":
                self.read_body_digest()
                delay = min(q("delay", 3.0), 60.0)
                if wait_or_gone(self.connection, delay):
                    log("conn=%d slow: client gone" % self.conn_id)
                    self.close_connection = True
                    return
                self.send_body(200, {"slept": delay})
            elif seg == "big":
                self.read_body_digest()
                self.do_big(q("size", 1 << 20, int))
            elif seg == "upload":
                n, digest = self.read_body_digest()
                with STATS.lock:
                    STATS.uploads.append((n, digest))
                self.send_body(200, {"length": n, "sha256": digest})
            elif seg == "status":
                self.read_body_digest()
                try:
                    code = int(path.split("/")[2])
                except (IndexError, ValueError):
                    code = 400
                self.send_body(code, {"status": code})
            elif seg == "close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif seg == "hang":
                wait_or_gone(self.connection, 120)
                self.close_connection = True
            elif path in ("/healthz", "/__health"):
                self.read_body_digest()
                self.send_body(200, b'{"status":"ok"}')
            elif path == "/__backend_stats":
                self.send_body(200, STATS.snapshot())
            else:
                self.read_body_digest()
                self.send_body(404, {"message": "no such backend path",
                                     "path": path})
        except ValueError as e:
            log("conn=%d bad request: %s" % (self.conn_id, e))
            self.close_connection = True
            try:
                self.send_body(400, {"message": str(e)},
                               extra=(("Connection", "close"),))
            except OSError:
                pass
        except OSError as e:
            log("conn=%d %s: %s" % (self.conn_id, path, e))
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = dispatch
    do_HEAD = do_OPTIONS = do_TRACE = dispatch

    def do_echo(self, url):
        n, digest = self.read_body_digest()
        self.send_body(200, {
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_length": n,
            "body_sha256": digest,
            "connection": self.conn_id,
            "request_on_connection": self.nreq,
            "backend": self.server.name,
        })

    def do_sse(self, n, interval):
        self.read_body_digest()
        n = max(0, min(n, 100000))
        interval = max(0.0, min(interval, 10.0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Backend", self.server.name)
        self.end_headers()
        with STATS.lock:
            STATS.sse_started += 1
        sock = self.connection
        for i in range(n):
            if i > 0 and wait_or_gone(sock, interval):
                self.sse_gone(i)
                return
            ev = ('data: {"i": %d, "t": %.6f}\n\n' % (i, time.time()))
            ev = ev.encode()
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            except OSError:
                self.sse_gone(i)
                return
        self.wfile.write(b"0\r\n\r\n")
        with STATS.lock:
            STATS.sse_done += 1

    def sse_gone(self, sent):
        with STATS.lock:
            STATS.sse_gone += 1
            STATS.sse_gone_at.append(round(time.monotonic(), 3))
        log("conn=%d sse: client gone after %d events" % (self.conn_id,
                                                         sent))
        self.close_connection = True

    def do_big(self, size):
        size = max(0, size)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("X-Backend", self.server.name)
        self.end_headers()
        if self.command == "HEAD":
            return
        key = (self.conn_id, self.nreq)
        sent = 0
        with STATS.lock:
            STATS.big[key] = 0
        try:
            for c in pattern_chunks(size, 256 * 1024):
                self.wfile.write(c)
                sent += len(c)
                with STATS.lock:
                    STATS.big[key] = sent
        except OSError:
            with STATS.lock:
                STATS.big_aborted += 1
            log("conn=%d big: client gone after %d bytes" % (self.conn_id,
                                                           sent))
            self.close_connection = True
            return
        finally:
            with STATS.lock:
                STATS.big.pop(key, None)
        with STATS.lock:
            STATS.big_done += 1


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def server_bind(self):
        # HTTPServer.server_bind looks up a host name; none is needed.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]


def main():
    global LOG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--name", default="b1")
    a = ap.parse_args()
    if a.log:
        LOG = open(a.log, "a")
    srv = Server((a.host, a.port), Handler)
    srv.name = a.name
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    print(port, flush=True)
    log("listening on %s:%d" % (a.host, port))
    srv.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
