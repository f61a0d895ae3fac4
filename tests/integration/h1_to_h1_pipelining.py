#!/usr/bin/python3 -B
"""h1_to_h1_pipelining: several HTTP/1.1 requests written at once on one
raw socket must be answered in order (RFC 9112 9.3.2), also when the
first is the slowest and when they carry bodies; "Connection: close" on
the last one closes the connection after its response.
"""
import os

import gwtest


def pipeline(t, port, reqs, label):
    """Sends every request in one write; returns the responses read."""
    data = b""
    for i, (method, path, body) in enumerate(reqs):
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (method, path,
                                                            port)
        if body:
            head += "Content-Length: %d\r\n" % len(body)
        if i == len(reqs) - 1:
            head += "Connection: close\r\n"
        data += (head + "\r\n").encode() + body
    out = []
    with gwtest.H1Conn(port, timeout=10) as c:
        c.send(data)
        try:
            for _ in reqs:
                out.append(c.read_response())
        except (gwtest.ProtocolError, OSError) as e:
            t.ok(False, "%s: %d responses" % (label, len(reqs)),
                 "got %d, then: %s" % (len(out), e))
            return out
        t.ok(c.closed_by_peer(2.0), "%s: connection closed after the "
             "response to Connection: close" % label)
        t.eq(bytes(c.buf), b"", "%s: nothing after the last response" %
             label)
    return out


def paths(rs):
    res = []
    for r in rs:
        try:
            res.append(r.json().get("path", r.json()))
        except ValueError:
            res.append(r.body[:60])
    return res


def test(t):
    b = t.start_backend()
    gw = t.start_gateway(t.config([
        t.endpoint("/p/{name}", "/echo/{name}", b),
        t.endpoint("/slowp", "/slow", b, input_query_strings=["delay"]),
        t.endpoint("/post", "/echo/post", b, method="POST"),
    ]))
    port = gw.port

    rs = pipeline(t, port, [("GET", "/p/one", b""), ("GET", "/p/two", b""),
                            ("GET", "/p/three", b"")], "3 GETs")
    t.eq([r.status for r in rs], [200, 200, 200], "3 GETs: all 200")
    t.eq(paths(rs), ["/echo/one", "/echo/two", "/echo/three"],
         "3 GETs: answered in order")
    ids = [r.header("X-Request-ID") for r in rs]
    t.ok(len(set(ids)) == 3 and None not in ids,
         "3 GETs: each response has its own X-Request-ID", ids)

    rs = pipeline(t, port, [("GET", "/slowp?delay=0.5", b""),
                            ("GET", "/p/a", b""), ("GET", "/p/b", b"")],
                  "slow first")
    t.eq([r.status for r in rs], [200, 200, 200], "slow first: all 200")
    got = paths(rs)
    t.ok(len(rs) == 3 and b"slept" in rs[0].body and
         got[1:] == ["/echo/a", "/echo/b"],
         "slow first: the slow answer still comes first",
         "bodies: %r" % [r.body[:40] for r in rs])

    big = os.urandom(100 * 1024)
    rs = pipeline(t, port, [("POST", "/post", b"x" * 10),
                            ("GET", "/p/mid", b""),
                            ("POST", "/post", big)], "with bodies")
    t.eq([r.status for r in rs], [200, 200, 200], "with bodies: all 200")
    try:
        got = [(r.json()["path"], r.json()["body_length"]) for r in rs]
    except (ValueError, KeyError):
        got = paths(rs)
    t.eq(got, [("/echo/post", 10), ("/echo/mid", 0),
               ("/echo/post", len(big))],
         "with bodies: answered in order, bodies intact")
    t.stop_gateway(gw)


if __name__ == "__main__":
    gwtest.main("h1_to_h1_pipelining", test, timeout=60)
