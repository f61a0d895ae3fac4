#!/usr/bin/python3 -B
"""h1_idle_park: an idle HTTP/1.1 keep-alive connection parks (its buffers
freed, the socket watched alone) 20 ms after its last response, and
must behave as if it had not: the next request on it, whole, split, with
a body or pipelined, is answered; the idle timeout still closes it; a
client that goes away is noticed; shutdown closes parked connections at
once and the daemon exits 0.
"""
import os
import time

import gwtest

PARK_WAIT = 0.3          # well past the park delay


def echo_path(r):
    try:
        return r.json().get("path")
    except ValueError:
        return None


def test(t):
    b = t.start_backend()
    gw = t.start_gateway(t.config([
        t.endpoint("/p/{name}", "/echo/{name}", b),
        t.endpoint("/post", "/echo/post", b, method="POST"),
    ], idle_timeout="3s"), workers=1)
    port = gw.port

    with gwtest.H1Conn(port) as c:
        for i in range(4):
            c.send_request("GET", "/p/n%d" % i)
            r = c.read_response()
            t.eq((r.status, echo_path(r)), (200, "/echo/n%d" % i),
                 "request %d on a connection idle %.1f s before" %
                 (i, PARK_WAIT if i else 0))
            time.sleep(PARK_WAIT)

        # A head split across the park: the first part wakes it up.
        c.send(b"GET /p/split HTTP/1.1\r\nHo")
        time.sleep(0.1)
        c.send(("st: 127.0.0.1:%d\r\n\r\n" % port).encode())
        r = c.read_response()
        t.eq((r.status, echo_path(r)), (200, "/echo/split"),
             "a head split in two after parking")
        time.sleep(PARK_WAIT)

        body = os.urandom(300000)
        c.send_request("POST", "/post", body=body)
        r = c.read_response()
        t.eq(r.status, 200, "a 300 kB POST after parking answers 200")
        try:
            got = r.json().get("body_length")
        except ValueError:
            got = None
        t.eq(got, len(body), "the backend got the whole body")
        time.sleep(PARK_WAIT)

        c.send(b"".join(("GET /p/pipe%d HTTP/1.1\r\nHost: x\r\n\r\n" %
                         i).encode() for i in range(3)))
        got = [echo_path(c.read_response()) for _ in range(3)]
        t.eq(got, ["/echo/pipe0", "/echo/pipe1", "/echo/pipe2"],
             "three pipelined requests after parking, in order")

    # The idle timeout (3 s) holds for a parked connection: closed after
    # it, not before.
    with gwtest.H1Conn(port) as c:
        c.send_request("GET", "/p/idle")
        t.eq(c.read_response().status, 200, "request before idling")
        t0 = time.monotonic()
        closed = c.closed_by_peer(8.0)
        waited = time.monotonic() - t0
        t.ok(closed and 2.5 <= waited <= 7.0,
             "a parked connection closes at the idle timeout",
             "closed=%s after %.2f s" % (closed, waited))

    # Clients that leave parked connections are noticed: the daemon's
    # descriptors come back to where they were.
    base = gw.fds()
    conns = []
    for i in range(50):
        c = gwtest.H1Conn(port)
        c.send_request("GET", "/p/many%d" % i)
        if c.read_response().status != 200:
            t.ok(False, "request %d of 50 answered" % i)
        conns.append(c)
    time.sleep(PARK_WAIT)
    t.held_then_freed(gw, base, conns, "parked connections")

    # Parking frees most of a connection: 1000 idle ones cost about 0.6
    # KiB each, 1.3 KiB unparked.
    def parked(i):
        c = gwtest.H1Conn(port)
        c.send_request("GET", "/p/m%d" % i)
        c.read_response()
        return c

    per, conns = t.kib_per_conn(gw, parked, 1000, PARK_WAIT)
    if per is not None:
        t.note("%.2f KiB per parked connection" % per)
        t.ok(per < 1.0, "1000 parked connections cost under 1 KiB each",
             "%.2f KiB each" % per)
    for c in conns:
        c.close()

    # Shutdown with parked connections: they close, the daemon exits 0
    # quickly (no in-flight work to wait for).
    conns = []
    for i in range(20):
        c = gwtest.H1Conn(port)
        c.send_request("GET", "/p/s%d" % i)
        c.read_response()
        conns.append(c)
    time.sleep(PARK_WAIT)
    t0 = time.monotonic()
    t.stop_gateway(gw)
    t.ok(time.monotonic() - t0 < 5.0, "shutdown with 20 parked "
         "connections takes under 5 s", "%.1f s" % (time.monotonic() - t0))
    t.ok(all(c.closed_by_peer(2.0) for c in conns),
         "every parked connection was closed by the shutdown")
    for c in conns:
        c.close()


if __name__ == "__main__":
    gwtest.main("h1_idle_park", test, timeout=90)
