#!/usr/bin/python3 -B
"""h1_to_h1_malformed: requests a strict HTTP/1.1 front must refuse
rather than repair (RFC 9112; request smuggling), each on a fresh raw
socket: 400 for bare LF or CR, obs-fold, whitespace before the colon,
Content-Length with Transfer-Encoding, a coding other than chunked,
differing or malformed Content-Length, a missing or doubled Host, a bad
chunk size, control characters; 431 for too many or too large header
fields.  The connection must close after the error, none of the refused
heads may reach the backend, and the next connection must be served.
"""
import threading

import gwtest

HOST = b"Host: 127.0.0.1\r\n"


def req(head, body=b""):
    return head + b"\r\n" + body


CASES = [
    # (name, raw bytes, accepted statuses, may the head reach the backend)
    ("bare LF line ends", b"GET /e HTTP/1.1\nHost: 127.0.0.1\n\n",
     {400}, False),
    ("bare LF inside the head",
     b"GET /e HTTP/1.1\r\nHost: 127.0.0.1\nX-A: 1\r\n\r\n", {400}, False),
    ("bare CR inside a field",
     b"GET /e HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\rX-B: 2\r\n\r\n",
     {400}, False),
    ("obs-fold", req(b"GET /e HTTP/1.1\r\n" + HOST +
                     b"X-A: 1\r\n  folded\r\n"), {400}, False),
    ("whitespace before the colon",
     req(b"GET /e HTTP/1.1\r\n" + HOST + b"X-A : 1\r\n"), {400}, False),
    ("Content-Length with Transfer-Encoding",
     req(b"POST /post HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\n"
         b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n"), {400}, False),
    ("Transfer-Encoding: gzip, chunked",
     req(b"POST /post HTTP/1.1\r\n" + HOST +
         b"Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n"),
     {400}, False),
    ("Transfer-Encoding: chunked twice",
     req(b"POST /post HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked"
         b"\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"), {400}, False),
    ("differing Content-Length values",
     req(b"POST /post HTTP/1.1\r\n" + HOST + b"Content-Length: 5\r\n"
         b"Content-Length: 6\r\n", b"12345"), {400}, False),
    ("Content-Length not a number",
     req(b"POST /post HTTP/1.1\r\n" + HOST + b"Content-Length: 5a\r\n",
         b"12345"), {400}, False),
    ("negative Content-Length",
     req(b"POST /post HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n"),
     {400}, False),
    ("two Host fields",
     req(b"GET /e HTTP/1.1\r\n" + HOST + b"Host: other.example\r\n"),
     {400}, False),
    ("no Host in HTTP/1.1", req(b"GET /e HTTP/1.1\r\nX-A: 1\r\n"),
     {400}, False),
    ("NUL in a field value",
     req(b"GET /e HTTP/1.1\r\n" + HOST + b"X-A: a\x00b\r\n"), {400}, False),
    ("space in the request target",
     req(b"GET /e x HTTP/1.1\r\n" + HOST), {400}, False),
    ("not a method token", req(b"G(T /e HTTP/1.1\r\n" + HOST), {400},
     False),
    ("garbage request line", req(b"HELLO\r\n"), {400}, False),
    ("unsupported version", req(b"GET /e HTTP/3.0\r\n" + HOST), {400, 505},
     False),
    ("bad chunk size",
     req(b"POST /post HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked"
         b"\r\n", b"zz\r\nhello\r\n0\r\n\r\n"), {400}, True),
    ("chunk size overflow",
     req(b"POST /post HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked"
         b"\r\n", b"10000000000000001\r\nhello\r\n0\r\n\r\n"), {400}, True),
    ("chunk without its CRLF",
     req(b"POST /post HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked"
         b"\r\n", b"5\r\nhelloXX0\r\n\r\n"), {400}, True),
    ("200 header fields",
     req(b"GET /e HTTP/1.1\r\n" + HOST +
         b"".join(b"X-F%d: v\r\n" % i for i in range(200))), {431}, False),
    ("a 100 KiB header field",
     req(b"GET /e HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 102400 +
         b"\r\n"), {431}, False),
    ("a 64 KiB request target",
     req(b"GET /e?q=" + b"a" * 65536 + b" HTTP/1.1\r\n" + HOST),
     {414, 431}, False),
]


def send_and_read(port, data):
    """Writes data (from a thread: the server may stop reading and
    answer early), then reads one response.  Returns (response or None,
    error text, closed after it)."""
    c = gwtest.H1Conn(port, timeout=5)
    err = []

    def write():
        try:
            c.send(data)
        except OSError as e:
            err.append("write: %s" % e)

    w = threading.Thread(target=write, daemon=True)
    w.start()
    try:
        r = c.read_response()
    except (gwtest.ProtocolError, OSError, ValueError) as e:
        w.join(5)
        c.close()
        return None, "; ".join(err + ["read: %s" % e]), None
    closed = c.closed_by_peer(2.0)
    w.join(5)
    c.close()
    return r, "; ".join(err), closed


def test(t):
    b = t.start_backend()
    gw = t.start_gateway(t.config([
        t.endpoint("/e", "/echo", b),
        t.endpoint("/post", "/echo/post", b, method="POST"),
    ]))
    port = gw.port
    # A well-formed request first: the cases below differ from it only in
    # what makes them malformed.
    r, err, _ = send_and_read(port, req(b"GET /e HTTP/1.1\r\n" + HOST +
                                        b"Connection: close\r\n"))
    t.eq(r and r.status, 200, "well-formed GET /e answers 200")
    reached = 0
    for name, data, want, may_reach in CASES:
        n0 = b.stats()["requests"]
        r, err, closed = send_and_read(port, data)
        t.ok(r is not None and r.status in want,
             "%s: %s" % (name, "/".join(str(s) for s in sorted(want))),
             "got %s%s" % (r.status if r else "no response",
                           (" (" + err + ")") if err else ""))
        if r is not None:
            t.ok(closed, "%s: connection closed after the error" % name)
        n1 = b.stats()["requests"]
        if not may_reach:
            t.eq(n1 - n0, 0, "%s: nothing reached the backend" % name)
        reached += n1 - n0
        t.ok(gwtest.health_ok(port, timeout=5),
             "%s: the next connection gets GET /__health 200" % name)
    t.note("%d of the refused requests reached the backend" % reached)

    # A well-formed request still works at the end.
    r = t.request(port, "GET", "/e")
    t.eq(r.status, 200, "well-formed GET /e still answers 200")
    t.stop_gateway(gw)


if __name__ == "__main__":
    gwtest.main("h1_to_h1_malformed", test, timeout=90)
