"""Server-sent events: a timestamping backend and a latency client.

    /usr/bin/python3 sse.py serve PORT EVENTS INTERVAL_MS

serves, on 127.0.0.1:PORT and for any GET, a text/event-stream of
EVENTS events, one every INTERVAL_MS, each a single small chunk
"data: <CLOCK_MONOTONIC ns>\\n\\n" stamped just before it is written,
then ends the stream and closes ("Connection: close").  It prints
"READY" once listening.  The request line's query is not used, since
a gateway may drop it: EVENTS is fixed on the command line.

measure() (imported by bench.py) reads such a stream over HTTP/1.1 and
returns, per event, read time minus write time in microseconds.  Both
ends read CLOCK_MONOTONIC, which is one clock for the whole machine.
"""

import socket
import sys
import threading
import time


def handle(conn, events, interval):
    try:
        conn.settimeout(10)
        req = b""
        while b"\r\n\r\n" not in req:
            data = conn.recv(65536)
            if not data or len(req) > 65536:
                return
            req += data
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(b"HTTP/1.1 200 OK\r\n"
                     b"Content-Type: text/event-stream\r\n"
                     b"Cache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n")
        due = time.monotonic() + interval
        for _ in range(events):
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            due += interval
            payload = b"data: %d\n\n" % time.monotonic_ns()
            conn.sendall(b"%x\r\n%s\r\n" % (len(payload), payload))
        conn.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    finally:
        conn.close()


def serve(port, events, interval):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    print("READY", flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=handle, args=(conn, events, interval),
                         daemon=True).start()


class Dechunker:
    """Incremental decoder of a chunked body (RFC 9112 section 7.1);
    trailers are not expected and not parsed."""

    def __init__(self):
        self.buf = b""
        self.data_left = 0      # bytes of chunk data still to come
        self.crlf_left = 0      # bytes of the CRLF after the data
        self.done = False

    def feed(self, data):
        self.buf += data
        out = []
        while self.buf and not self.done:
            if self.data_left:
                take = self.buf[:self.data_left]
                out.append(take)
                self.data_left -= len(take)
                self.buf = self.buf[len(take):]
            elif self.crlf_left:
                n = min(self.crlf_left, len(self.buf))
                self.crlf_left -= n
                self.buf = self.buf[n:]
            else:
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                size = int(self.buf[:i].split(b";")[0], 16)
                self.buf = self.buf[i + 2:]
                if size == 0:
                    self.done = True
                else:
                    self.data_left, self.crlf_left = size, 2
        return b"".join(out)


class Identity:
    """Body framed by Content-Length or by the close of the connection."""

    def __init__(self, length):
        self.left = length
        self.done = length == 0

    def feed(self, data):
        if self.left is not None:
            data = data[:self.left]
            self.left -= len(data)
            self.done = self.left == 0
        return data


def measure(host, port, path, count, timeout=30.0):
    """GETs path from host:port and returns the write-to-read delay of
    up to count events, in microseconds.  Raises on a non-200 answer,
    a malformed stream, or when timeout seconds pass."""
    deadline = time.monotonic() + timeout
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
                  b"Accept: text/event-stream\r\n\r\n"
                  % (path.encode(), host.encode(), port))
        head = b""
        while b"\r\n\r\n" not in head:
            data = s.recv(65536)
            now = time.monotonic_ns()
            if not data:
                raise ConnectionError("closed before the response head")
            head += data
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ")
        if len(status) < 2 or status[1] != b"200":
            raise ConnectionError("answer: %r" % lines[0])
        fields = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            fields[k.strip().lower()] = v.strip().lower()
        if b"chunked" in fields.get(b"transfer-encoding", b""):
            body = Dechunker()
        elif b"content-length" in fields:
            body = Identity(int(fields[b"content-length"]))
        else:
            body = Identity(None)
        out = []
        events = b""
        data = rest
        while len(out) < count:
            events += body.feed(data)
            while b"\n\n" in events:
                ev, events = events.split(b"\n\n", 1)
                if ev.startswith(b"data: "):
                    out.append((now - int(ev[6:])) / 1000.0)
            if body.done or len(out) >= count:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("%d of %d events" % (len(out), count))
            s.settimeout(left)
            data = s.recv(65536)
            now = time.monotonic_ns()
            if not data:
                break
        return out[:count]
    finally:
        s.close()


def main():
    if len(sys.argv) != 5 or sys.argv[1] != "serve":
        sys.exit("usage: sse.py serve PORT EVENTS INTERVAL_MS")
    try:
        serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) / 1000.0)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
