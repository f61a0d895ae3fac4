#!/usr/bin/python3 -B
"""h2c_idle_park: an h2c connection without streams parks (its bufferevent
freed, the socket watched alone, the nghttp2 session kept) 20 ms after
its last stream, and must behave as if it had not: requests on it go on,
with bodies too; the idle timeout still ends it with GOAWAY(NO_ERROR);
clients that leave are noticed; shutdown ends parked connections with
GOAWAY and the daemon exits 0.  Parked, an idle h2c connection costs
little more than its nghttp2 session.
"""
import os
import socket
import struct
import time

import gwtest

PARK_WAIT = 0.3          # well past the park delay
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, payload=b"", sid=0):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags,
                       sid) + payload


def raw_idle_conn(port):
    """An h2c connection past its SETTINGS exchange, then silent."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(PREFACE + frame(0x4, 0))
    got = b""
    while len(got) < 9:
        chunk = s.recv(4096)
        if not chunk:
            raise gwtest.ProtocolError("closed before SETTINGS")
        got += chunk
    s.sendall(frame(0x4, 0x1))
    return s


def test(t):
    gwtest.need_module("h2")
    b = t.start_backend()
    gw = t.start_gateway(t.config([
        t.endpoint("/p/{name}", "/echo/{name}", b),
        t.endpoint("/post", "/echo/post", b, method="POST"),
    ], idle_timeout="3s"), workers=1)
    port = gw.port

    with gwtest.H2Client(port) as c:
        for i in range(4):
            st = c.request("GET", "/p/n%d" % i)
            path = None
            if st.status == 200:
                try:
                    path = __import__("json").loads(st.body)["path"]
                except (ValueError, KeyError):
                    pass
            t.eq((st.status, path), (200, "/echo/n%d" % i),
                 "stream %d on a connection idle %.1f s before" %
                 (i, PARK_WAIT if i else 0))
            time.sleep(PARK_WAIT)
        body = os.urandom(200000)
        st = c.request("POST", "/post", body=body)
        t.eq(st.status, 200, "a 200 kB POST after parking answers 200")
        try:
            n = __import__("json").loads(st.body).get("body_length")
        except ValueError:
            n = None
        t.eq(n, len(body), "the backend got the whole body")
        time.sleep(PARK_WAIT)
        sts = [c.start("GET", "/p/m%d" % i) for i in range(20)]
        c.wait(lambda: all(s.done for s in sts), 10)
        t.eq([s.status for s in sts], [200] * 20,
             "20 concurrent streams after parking")

    # The idle timeout (3 s) ends a parked connection: GOAWAY(NO_ERROR),
    # then the close; not before.
    with gwtest.H2Client(port) as c:
        t.eq(c.request("GET", "/p/idle").status, 200, "stream before idling")
        t0 = time.monotonic()
        c.wait(lambda: c.goaway is not None, 8)
        waited = time.monotonic() - t0
        t.ok(c.goaway == 0 and 2.5 <= waited <= 7.0,
             "a parked connection gets GOAWAY(NO_ERROR) at the idle "
             "timeout", "goaway=%s after %.2f s" % (c.goaway, waited))

    # Clients that leave parked connections are noticed.
    time.sleep(PARK_WAIT)            # the last client's close lands
    base = gw.fds()
    socks = [raw_idle_conn(port) for _ in range(50)]
    time.sleep(PARK_WAIT)
    t.held_then_freed(gw, base, socks, "parked h2c connections")

    # Memory: here an idle h2c connection costs about 14.5 KiB unparked
    # (its nghttp2 session alone 13.2), 13.7 parked.
    per, socks = t.kib_per_conn(gw, lambda i: raw_idle_conn(port), 1000,
                                PARK_WAIT)
    if per is not None:
        t.note("%.2f KiB per parked h2c connection" % per)
        t.ok(per < 14.1, "1000 parked h2c connections cost under 14.1 KiB "
             "each", "%.2f KiB each" % per)
    for s in socks:
        s.close()

    # Shutdown: parked connections get GOAWAY and close; exit 0, quickly.
    clients = []
    for i in range(10):
        c = gwtest.H2Client(port)
        c.request("GET", "/p/s%d" % i)
        clients.append(c)
    time.sleep(PARK_WAIT)
    t0 = time.monotonic()
    t.stop_gateway(gw)
    t.ok(time.monotonic() - t0 < 5.0, "shutdown with 10 parked h2c "
         "connections takes under 5 s", "%.1f s" % (time.monotonic() - t0))
    for c in clients:
        c.wait(lambda: c.closed, 2)
    t.ok(all(c.goaway == 0 for c in clients),
         "every parked h2c connection got GOAWAY(NO_ERROR)",
         str([c.goaway for c in clients]))
    for c in clients:
        c.close()


if __name__ == "__main__":
    gwtest.main("h2c_idle_park", test, timeout=120)
