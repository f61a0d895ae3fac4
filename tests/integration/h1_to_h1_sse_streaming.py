#!/usr/bin/python3 -B
"""h1_to_h1_sse_streaming: server-sent events through the gateway over
HTTP/1.1.  The backend sends 10 events 100 ms apart, each flushed in its
own chunk; the client reads the socket and stamps each event's arrival.
The gateway must pass every event on as it comes (no buffering until the
end), keep the event-stream Content-Type, and the connection must stay
usable afterwards.
"""
import time

import gwtest

N, INTERVAL = 10, 0.1


def test(t):
    b = t.start_backend()
    gw = t.start_gateway(t.config([
        t.endpoint("/sse", "/sse", b, input_query_strings=["n", "interval"],
                   timeout="10s"),
        t.endpoint("/e", "/echo", b),
    ]))
    path = "/sse?n=%d&interval=%s" % (N, INTERVAL)
    with gwtest.H1Conn(gw.port, timeout=10) as c:
        t0 = time.monotonic()
        c.send_request("GET", path, [("Accept", "text/event-stream")])
        r = c.read_head()
        t.eq(r.status, 200, "GET %s answers 200" % path)
        t.eq((r.header("Content-Type") or "").split(";")[0],
             "text/event-stream", "Content-Type text/event-stream kept")
        t.ok(r.header("Content-Length") is None,
             "no Content-Length on a streamed response",
             "Content-Length: %s" % r.header("Content-Length"))
        chunks = list(c.body_iter(r))
        events = gwtest.sse_events(chunks)
        gwtest.check_sse_timing(t, events, N, INTERVAL, t0, "h1 SSE")
        # The same connection carries a next request.
        c.send_request("GET", "/e", close=True)
        r2 = c.read_response()
        t.eq(r2.status, 200, "the connection serves a request after the "
             "event stream")
    st = b.stats()
    t.eq((st["sse_done"], st["sse_gone"]), (1, 0),
         "backend sent the whole stream once")
    t.stop_gateway(gw)


if __name__ == "__main__":
    gwtest.main("h1_to_h1_sse_streaming", test, timeout=60)
