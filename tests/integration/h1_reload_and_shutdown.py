#!/usr/bin/python3 -B
"""h1_reload_and_shutdown: SIGHUP swaps the routes without dropping a
connection or a stream in flight, keeps the running config when the new
file is broken; SIGTERM stops accepting, lets an in-flight stream finish
and exits 0.
"""
import json
import os
import signal
import socket
import time

import gwtest

N, INTERVAL = 10, 0.1


def status(port, path):
    try:
        return gwtest.request(port, "GET", path, timeout=5).status
    except OSError:
        return 0


def wait_status(port, path, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status(port, path) == want:
            return True
        time.sleep(0.05)
    return False


def test(t):
    b = t.start_backend()
    sse = t.endpoint("/sse", "/sse", b, input_query_strings=["n", "interval"])
    cfg_a = t.config([sse, t.endpoint("/a", "/echo/a", b)])
    cfg_b = t.config([sse, t.endpoint("/b", "/echo/b", b)])
    gw = t.start_gateway(cfg_a)
    port = gw.port
    t.eq(status(port, "/a"), 200, "before reload: /a is served")

    path = "/sse?n=%d&interval=%s" % (N, INTERVAL)
    with gwtest.H1Conn(port, timeout=10) as keep, \
            gwtest.H1Conn(port, timeout=10) as c:
        # A keep-alive connection opened before the reload.
        keep.send_request("GET", "/a")
        t.eq(keep.read_response().status, 200, "kept connection: /a")

        c.send_request("GET", path)
        r = c.read_head()
        t.eq(r.status, 200, "SSE stream started before the reload")
        it = c.body_iter(r)
        first = next(it, (0, b""))
        t.ok(b"data:" in first[1], "first event before the reload")

        with open(gw.config_path, "w") as f:
            json.dump(cfg_b, f)
        os.kill(gw.pid, signal.SIGHUP)
        t.ok(wait_status(port, "/b", 200), "after reload: /b is served")
        t.eq(status(port, "/a"), 404, "after reload: /a is gone (404)")

        # The stream that began under the old routes runs to its end.
        rest = list(it)
        events = gwtest.sse_events([first] + rest)
        t.eq(len(events), N, "the in-flight stream got all %d events" % N)

        # The connection opened before the reload still serves.
        keep.send_request("GET", "/b")
        t.eq(keep.read_response().status, 200,
             "kept connection serves the new route")

    # A broken file is refused; the running routes stay.
    with open(gw.config_path, "w") as f:
        f.write('{"version": 3, "endpoints": [')
    os.kill(gw.pid, signal.SIGHUP)
    time.sleep(0.3)
    t.eq(status(port, "/b"), 200, "broken reload: /b still served")
    with open(gw.config_path, "w") as f:
        json.dump(dict(cfg_b, portt=1), f)
    os.kill(gw.pid, signal.SIGHUP)
    time.sleep(0.3)
    t.eq(status(port, "/b"), 200, "invalid reload: /b still served")
    t.ok(gw.proc.alive(), "the gateway survived two bad reloads")

    # SIGTERM with a stream in flight: it finishes, then exit 0.
    with gwtest.H1Conn(port, timeout=10) as c:
        c.send_request("GET", path)
        r = c.read_head()
        it = c.body_iter(r)
        first = next(it, (0, b""))
        os.kill(gw.pid, signal.SIGTERM)
        time.sleep(0.3)
        refused = False
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
            refused = s.recv(100) == b""
            s.close()
        except OSError:
            refused = True
        t.ok(refused, "after SIGTERM: new connections are not served")
        rest = list(it)
        events = gwtest.sse_events([first] + rest)
        t.eq(len(events), N, "after SIGTERM: the in-flight stream got "
             "all %d events" % N)
    t.stop_gateway(gw)


if __name__ == "__main__":
    gwtest.main("h1_reload_and_shutdown", test, timeout=60)
