#!/usr/bin/python3 -B
"""h2c_to_h1_sse_streaming: server-sent events through the gateway over
HTTP/2 (cleartext, prior knowledge) from an HTTP/1.1 backend.  One
stream of 10 events 100 ms apart, then two streams at once on the same
connection with different intervals: every event must reach the client
as the backend sends it (DATA frames stamped on arrival), and one stream
must not hold back the other.
"""
import time

import gwtest


def test(t):
    gwtest.need_module("h2")
    b = t.start_backend()
    gw = t.start_gateway(t.config([
        t.endpoint("/sse", "/sse", b, input_query_strings=["n", "interval"],
                   timeout="10s"),
    ]))
    with gwtest.H2Client(gw.port) as h:
        t0 = time.monotonic()
        st = h.request("GET", "/sse?n=10&interval=0.1",
                       [("accept", "text/event-stream")], timeout=15)
        t.eq((st.status, st.ended), (200, True),
             "h2 GET /sse answers 200 and ends the stream")
        t.eq((st.header("content-type") or "").split(";")[0],
             "text/event-stream", "Content-Type text/event-stream kept")
        gwtest.check_sse_timing(t, gwtest.sse_events(st.chunks), 10, 0.1,
                                t0, "h2 SSE")

        # Two event streams multiplexed on this connection.
        t0 = time.monotonic()
        a = h.start("GET", "/sse?n=10&interval=0.1")
        c = h.start("GET", "/sse?n=6&interval=0.15")
        h.wait(lambda: a.done and c.done, 15)
        t.eq((a.status, c.status, a.ended, c.ended), (200, 200, True, True),
             "two concurrent h2 event streams complete")
        gwtest.check_sse_timing(t, gwtest.sse_events(a.chunks), 10, 0.1,
                                t0, "h2 SSE, stream A of 2")
        gwtest.check_sse_timing(t, gwtest.sse_events(c.chunks), 6, 0.15,
                                t0, "h2 SSE, stream B of 2")
    st = b.stats()
    t.eq(st["sse_done"], 3, "backend sent three whole streams")
    t.stop_gateway(gw)


if __name__ == "__main__":
    gwtest.main("h2c_to_h1_sse_streaming", test, timeout=60)
