#!/usr/bin/python3 -B
"""qos_timeouts: the endpoint "timeout" against the real daemon.

Until the response head it bounds the wait for the backend (504); once
the response streams it bounds silence, not the whole response:

  - endpoint timeout "1s", backend /slow?delay=3: 504 JSON after about
    1 s (HTTP/1.1 and HTTP/2);
  - an event stream of 10 events 300 ms apart (2.7 s in all) under a 1s
    timeout is not cut: every event arrives and the stream ends normally;
  - an event stream that goes silent longer than the timeout (/sse?n=3&
    interval=2) is cut: the client gets the first event, then the
    response aborts (HTTP/1.1: the connection closes without the last
    chunk; HTTP/2: the stream is reset, the connection goes on) about
    1 s later, and the gateway closes the backend connection;
  - an endpoint's timeout overrides the service's, both ways.
"""
import time

import gwtest


def check_504(t, status, ctype, body, dt, label):
    t.eq(status, 504, "%s: 504" % label)
    t.eq((ctype or "").split(";")[0], "application/json",
         "%s: application/json" % label)
    try:
        msg = gwtest.json.loads(body.decode()).get("message")
    except (ValueError, AttributeError):
        msg = None
    t.ok(isinstance(msg, str) and msg, '%s: JSON {"message": ...}' % label,
         repr(body[:200]))
    t.ok(0.8 <= dt <= 2.0, "%s: after about 1 s (%.2f s)" % (label, dt))


def read_sse_h1(port, path, timeout=15):
    """GET path; returns (status, [(t, event)], ended normally, error,
    t_request, t_end)."""
    c = gwtest.H1Conn(port, timeout=timeout)
    try:
        t0 = time.monotonic()
        c.send_request("GET", path, [("Accept", "text/event-stream")])
        r = c.read_head()
        chunks = []
        err = None
        try:
            for ts, data in c.body_iter(r):
                chunks.append((ts, data))
            ended = True
        except (gwtest.ProtocolError, OSError) as e:
            ended = False
            err = str(e)
        return (r.status, gwtest.sse_events(chunks), ended, err, t0,
                time.monotonic())
    finally:
        c.close()


def wait_sse_gone(b, before, deadline):
    while time.monotonic() < deadline:
        st = b.stats()
        if st["sse_gone"] > before:
            return st["sse_gone_at"][-1]
        time.sleep(0.02)
    return None


def test(t):
    b = t.start_backend()
    ep = t.endpoint
    q = ["delay", "n", "interval"]
    gw = t.start_gateway(t.config([
        ep("/slow", "/slow", b, input_query_strings=q, timeout="1s"),
        ep("/sse", "/sse", b, input_query_strings=q, timeout="1s"),
        ep("/e", "/echo", b),
    ]))       # the service's timeout is "10s"
    port = gw.port

    # 504 before the head.
    t0 = time.monotonic()
    r = t.request(port, "GET", "/slow?delay=3")
    check_504(t, r.status, r.header("Content-Type"), r.body,
              time.monotonic() - t0, "h1 /slow?delay=3, timeout 1s")
    r = t.request(port, "GET", "/slow?delay=0.3")
    t.eq(r.status, 200, "h1 /slow?delay=0.3 within the timeout: 200")

    # A stream that keeps sending outlives the timeout.
    status, evs, ended, err, t0, t1 = read_sse_h1(
        port, "/sse?n=10&interval=0.3")
    t.eq(status, 200, "h1 SSE 10 x 300 ms: 200")
    t.eq([e.get("i") for _, e in evs], list(range(10)),
         "h1 SSE 10 x 300 ms under a 1s timeout: all 10 events")
    t.ok(ended, "h1 SSE 10 x 300 ms: the response ends normally", err)
    t.ok(t1 - t0 >= 2.4, "h1 SSE lasted %.2f s, past the 1s timeout" %
         (t1 - t0))

    # A stream that goes silent is cut.
    gone0 = b.stats()["sse_gone"]
    status, evs, ended, err, t0, t1 = read_sse_h1(
        port, "/sse?n=3&interval=2")
    t.eq(status, 200, "h1 silent SSE: 200")
    t.eq([e.get("i") for _, e in evs], [0],
         "h1 silent SSE: the first event only")
    t.ok(not ended, "h1 silent SSE: the response is cut, not ended "
         "(%s)" % err)
    cut = t1 - (evs[0][0] if evs else t0)
    t.ok(0.8 <= cut <= 1.9, "h1 silent SSE: cut %.2f s after the last "
         "event" % cut)
    gone = wait_sse_gone(b, gone0, time.monotonic() + 3)
    t.ok(gone is not None, "h1 silent SSE: the gateway closed the backend "
         "connection")

    try:
        gwtest.need_module("h2")
    except gwtest.Skip:
        t.note("python3-h2 missing: the HTTP/2 cases are left out")
    else:
        with gwtest.H2Client(port) as h:
            t0 = time.monotonic()
            s = h.request("GET", "/slow?delay=3", timeout=10)
            check_504(t, s.status, s.header("content-type"), s.body,
                      time.monotonic() - t0, "h2 /slow?delay=3, timeout 1s")

            t0 = time.monotonic()
            s = h.request("GET", "/sse?n=10&interval=0.3", timeout=15)
            evs = gwtest.sse_events(s.chunks)
            t.eq((s.status, [e.get("i") for _, e in evs], s.ended),
                 (200, list(range(10)), True),
                 "h2 SSE 10 x 300 ms under a 1s timeout: all 10 events, "
                 "stream ended")

            gone0 = b.stats()["sse_gone"]
            t0 = time.monotonic()
            s = h.request("GET", "/sse?n=3&interval=2", timeout=10)
            t1 = time.monotonic()
            evs = gwtest.sse_events(s.chunks)
            t.eq((s.status, [e.get("i") for _, e in evs]), (200, [0]),
                 "h2 silent SSE: 200, the first event only")
            t.ok(s.reset is not None and not s.ended,
                 "h2 silent SSE: the stream is reset (error code %r)" %
                 s.reset)
            cut = t1 - (evs[0][0] if evs else t0)
            t.ok(0.8 <= cut <= 1.9, "h2 silent SSE: cut %.2f s after the "
                 "last event" % cut)
            t.ok(wait_sse_gone(b, gone0, time.monotonic() + 3) is not None,
                 "h2 silent SSE: the gateway closed the backend connection")
            s = h.request("GET", "/e")
            t.eq(s.status, 200, "h2: the connection goes on serving")
    t.stop_gateway(gw)

    # The endpoint's timeout overrides the service's.
    gw2 = t.start_gateway(t.config([
        ep("/inherit", "/slow", b, input_query_strings=q),
        ep("/long", "/slow", b, input_query_strings=q, timeout="4s"),
    ], timeout="1s"))
    t0 = time.monotonic()
    r = t.request(gw2.port, "GET", "/inherit?delay=2")
    check_504(t, r.status, r.header("Content-Type"), r.body,
              time.monotonic() - t0, "service timeout 1s, endpoint without "
              "one, delay 2")
    t0 = time.monotonic()
    r = t.request(gw2.port, "GET", "/long?delay=2")
    dt = time.monotonic() - t0
    t.eq(r.status, 200, "service timeout 1s, endpoint timeout 4s, delay 2: "
         "200 (%.2f s)" % dt)
    t.ok(dt >= 1.9, "... after the backend's 2 s (%.2f s)" % dt)
    t.stop_gateway(gw2)


if __name__ == "__main__":
    gwtest.main("qos_timeouts", test, timeout=60)
