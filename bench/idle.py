"""Holds N idle client connections open against a proxy.

    /usr/bin/python3 idle.py h1|h2c HOST PORT N

Each h1 connection makes one keep-alive request for / and reads the
answer, then stays silent: an idle keep-alive connection.  (A connection
that never sends a byte is no measure: a server may defer accepting it
until data arrives, as nghttpx does with TCP_DEFER_ACCEPT.)  Each h2c
connection sends the connection preface and an empty SETTINGS frame,
reads the server's SETTINGS, acknowledges it, and then stays silent.

Talks to the caller over stdin/stdout, one line each way:
  prints  "READY <n>" once all N are established (or "FAIL <why>");
  reads   "CHECK"     and prints "OPEN <n>": how many are still open;
  reads   "QUIT"      (or end of file) and resets every connection, so no
                      TIME_WAIT is left behind, then exits.
Setup gives up after SETUP_TIMEOUT seconds; the whole helper after
LIFETIME seconds, whatever the caller does.
"""

import errno
import selectors
import signal
import socket
import struct
import sys
import time

SETUP_TIMEOUT = 60.0
LIFETIME = 300.0
INFLIGHT = 128          # connects (or handshakes) in progress at once

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_SETTINGS = 0x4
FLAG_ACK = 0x1


def frame(ftype, flags, payload=b""):
    """An HTTP/2 frame on stream 0 (RFC 9113 section 4.1)."""
    n = len(payload)
    head = struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, 0)
    return head + payload


SETTINGS_EMPTY = frame(FRAME_SETTINGS, 0)
SETTINGS_ACK = frame(FRAME_SETTINGS, FLAG_ACK)
H1_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"


class Conn:
    """One client connection and the state of its opening exchange."""

    def __init__(self, sock, proto):
        self.sock = sock
        self.proto = proto
        self.buf = b""
        self.ready = False

    def on_readable(self):
        """Consumes what the server sent; sets ready once the exchange
        is complete.  Returns False if the server closed or misspoke."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        self.buf += data
        if self.proto == "h1":
            return self.h1_response()
        while len(self.buf) >= 9:
            hi, lo, ftype, flags, _ = struct.unpack(">BHBBI", self.buf[:9])
            n = (hi << 16) | lo
            if len(self.buf) < 9 + n:
                break
            self.buf = self.buf[9 + n:]
            if ftype == FRAME_SETTINGS and not flags & FLAG_ACK:
                self.sock.sendall(SETTINGS_ACK)
                self.ready = True
        return True

    def h1_response(self):
        """ready once a whole 200 response (Content-Length or chunked)
        has arrived; False on any other status."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return True
        head = self.buf[:end].decode("latin-1").lower().split("\r\n")
        if head[0].split(" ")[1:2] != ["200"]:
            return False
        body = self.buf[end + 4:]
        length = None
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip() == "content-length":
                length = int(value)
        if length is not None:
            self.ready = len(body) >= length
        else:
            self.ready = body.endswith(b"0\r\n\r\n")
        return True


def still_open(sock):
    """True unless the peer closed or reset the connection.  Drains
    what the server sent (a SETTINGS ACK, a WINDOW_UPDATE) on the way."""
    while True:
        try:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False


def open_all(proto, host, port, n, deadline):
    """Opens n connections, at most INFLIGHT unfinished at a time.
    Returns the list of established sockets; raises on failure."""
    sel = selectors.DefaultSelector()
    done = []
    pending = 0
    started = 0
    while len(done) < n:
        while started < n and pending < INFLIGHT:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((host, port))
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, "connect: " + errno.errorcode.get(err, "?"))
            sel.register(s, selectors.EVENT_WRITE, Conn(s, proto))
            started += 1
            pending += 1
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("%d of %d established" % (len(done), n))
        for key, mask in sel.select(min(left, 1.0)):
            c = key.data
            if mask & selectors.EVENT_WRITE:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, "connect: " +
                                  errno.errorcode.get(err, "?"))
                c.sock.sendall(H1_REQUEST % port if proto == "h1"
                               else PREFACE + SETTINGS_EMPTY)
                sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            if not c.on_readable():
                raise ConnectionError("server closed during the %s %s" % (
                    proto, "request" if proto == "h1" else "handshake"))
            if c.ready:
                sel.unregister(c.sock)
                done.append(c.sock)
                pending -= 1
    sel.close()
    return done


def reset_all(socks):
    linger = struct.pack("ii", 1, 0)
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        s.close()


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("h1", "h2c"):
        sys.exit("usage: idle.py h1|h2c HOST PORT N")
    proto, host = sys.argv[1], sys.argv[2]
    port, n = int(sys.argv[3]), int(sys.argv[4])
    # Never outlive a caller that forgot us.
    signal.alarm(int(LIFETIME))
    socks = []
    try:
        socks = open_all(proto, host, port, n,
                         time.monotonic() + SETUP_TIMEOUT)
    except (OSError, TimeoutError) as e:
        print("FAIL %s" % e, flush=True)
        reset_all(socks)
        return 1
    print("READY %d" % len(socks), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "CHECK":
            print("OPEN %d" % sum(still_open(s) for s in socks), flush=True)
        elif cmd == "QUIT":
            break
    reset_all(socks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
