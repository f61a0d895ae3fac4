#!/usr/bin/python3 -B
"""qos_breaker: qos/circuit-breaker against the real daemon.

One endpoint /b/{a}/{c} -> /{a}/{c} whose backend has a breaker with
interval 10, timeout 2, max_errors 2: the path chooses what the backend
does (/b/status/500, /b/status/200, /b/slow/x?delay=..), so the same
breaker sees failures and successes.

  - errors must be consecutive: 2 errors, a success, 2 errors: nothing
    opens; a 3rd error in a row (more than max_errors) passes through as
    500 and opens the circuit;
  - open: 503 {"message": "circuit breaker is open"} for any request,
    without the backend being hit, fast (client-side latency, and the
    gateway's own "ms=" of the access log for those 503s);
  - still open 1.5 s after it opened; 2 s after, half-open: one probe
    goes through; its success closes the circuit;
  - a failed probe opens it again at once;
  - while the probe is out, other requests are refused;
  - connect failures (port closed) count as errors: 502, 502, 502, then
    503 with nothing connecting; after the timeout a probe connects to a
    listener opened meanwhile on that port, and its 200 closes the circuit;
  - backend timeouts (504) count as errors too;
  - with log_status_change the transitions are logged.
"""
import re
import socket
import time

import gwtest

OPEN_MSG = {"message": "circuit breaker is open"}
OPEN_RAW = b'{"message": "circuit breaker is open"}'


def get(port, path, timeout=10):
    return gwtest.request(port, "GET", path, timeout=timeout)


def backend_requests(b):
    return b.stats()["requests"]


def is_open_answer(r):
    return (r.status == 503 and r.body == OPEN_RAW and
            (r.header("Content-Type") or "").split(";")[0] ==
            "application/json")


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def access_ms(out_path, path_prefix, status):
    """The ms= of the access-log lines for path_prefix with status."""
    rx = re.compile(r'\baccess\b.* path="(%s[^"]*)".* status=(\d+) .*'
                    r'\bms=([0-9.]+)' % re.escape(path_prefix))
    ms = []
    with open(out_path, "rb") as f:
        for line in f.read().decode("utf-8", "replace").split("\n"):
            m = rx.search(line)
            if m and int(m.group(2)) == status:
                ms.append(float(m.group(3)))
    return ms


def sleep_until(t):
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


def test(t):
    b = t.start_backend()
    dead_port = gwtest.free_port()
    dead = "http://127.0.0.1:%d" % dead_port
    cb = "qos/circuit-breaker"

    def breaker(name):
        return {"backend_extra": {"extra_config": {cb: {
            "interval": 10, "timeout": 2, "max_errors": 2, "name": name,
            "log_status_change": True}}}}

    ep = t.endpoint
    gw = t.start_gateway(t.config([
        ep("/b/{a}/{c}", "/{a}/{c}", b, input_query_strings=["delay"],
           **breaker("flip")),
        ep("/dead", "/echo", dead, **breaker("dead")),
        ep("/to", "/slow", b, input_query_strings=["delay"], timeout="300ms",
           backend_extra={"extra_config": {cb: {
               "interval": 10, "timeout": 2, "max_errors": 1,
               "name": "slow"}}}),
    ]))
    port = gw.port

    # Closed: errors have to be consecutive.
    n0 = backend_requests(b)
    seq = ["500", "500", "200", "500", "500"]
    got = [get(port, "/b/status/" + c).status for c in seq]
    t.eq(got, [500, 500, 200, 500, 500],
         "2 errors, a success, 2 errors: all reach the backend")
    t.eq(backend_requests(b) - n0, 5, "the backend saw all 5")

    # The 3rd error in a row opens the circuit.
    r = get(port, "/b/status/500")
    t_open = time.monotonic()
    t.eq(r.status, 500, "the 3rd consecutive 500 passes through")
    t.eq(r.json(), {"status": 500}, "... with the backend's body")

    # Open: refused at once, the backend untouched.
    n0 = backend_requests(b)
    lat = []
    rs = []
    for i in range(20):
        t0 = time.monotonic()
        rs.append(get(port, "/b/status/%s" % ("200" if i % 2 else "500")))
        lat.append(1000 * (time.monotonic() - t0))
    t.ok(all(is_open_answer(x) for x in rs),
         "open: 20 requests (10 that would succeed) get 503 "
         "application/json %r" % OPEN_RAW,
         "got %r" % [(x.status, x.body[:60]) for x in rs])
    try:
        t.eq(rs[0].json(), OPEN_MSG, "open: the 503 body parses as JSON")
    except ValueError:
        t.ok(False, "open: the 503 body parses as JSON", repr(rs[0].body))
    t.eq(backend_requests(b) - n0, 0, "open: the backend saw none of them")
    med = median(lat)
    t.note("client-side latency of the 503s (ms): median %.2f, max %.2f" %
           (med, max(lat)))
    t.ok(med < 20, "open: median client-side latency %.2f ms < 20 ms" % med)

    # Still open before the timeout.
    sleep_until(t_open + 1.5)
    n0 = backend_requests(b)
    r = get(port, "/b/status/200")
    t.ok(is_open_answer(r) and backend_requests(b) == n0,
         "1.5 s after opening: still open (timeout 2 s)",
         "status %d" % r.status)

    # Half-open after the timeout: a successful probe closes it.
    sleep_until(t_open + 2.1)
    n0 = backend_requests(b)
    r = get(port, "/b/status/200")
    t.eq(r.status, 200, "2 s after opening: the probe goes through: 200")
    got = [get(port, "/b/status/%s" % c).status
           for c in ("500", "200", "500", "500")]
    t.eq(got, [500, 200, 500, 500],
         "closed again: errors pass through, counted from zero")
    t.eq(backend_requests(b) - n0, 5, "the backend saw the probe and "
         "the 4 after it")

    # Open it again; a failing probe reopens at once.
    r = get(port, "/b/status/500")
    t_open = time.monotonic()
    t.eq(r.status, 500, "the 3rd error in a row again: 500, opens")
    t.ok(is_open_answer(get(port, "/b/status/200")), "open again: 503")
    sleep_until(t_open + 2.1)
    n0 = backend_requests(b)
    r = get(port, "/b/status/500")
    t_open = time.monotonic()
    t.eq(r.status, 500, "half-open: a failing probe goes through: 500")
    r = get(port, "/b/status/200")
    t.ok(is_open_answer(r), "the failed probe reopened the circuit: 503",
         "status %d" % r.status)
    t.eq(backend_requests(b) - n0, 1, "the backend saw the probe only")

    # One probe at a time: while it is out, the rest are refused.
    sleep_until(t_open + 2.1)
    n0 = backend_requests(b)
    probe = gwtest.H1Conn(port, timeout=10)
    try:
        probe.send_request("GET", "/b/slow/x?delay=0.8", close=True)
        deadline = time.monotonic() + 3
        while backend_requests(b) == n0 and time.monotonic() < deadline:
            time.sleep(0.01)
        others = [get(port, "/b/status/200") for _ in range(3)]
        t.ok(all(is_open_answer(x) for x in others),
             "half-open, probe out: other requests get 503",
             repr([x.status for x in others]))
        r = probe.read_response()
    finally:
        probe.close()
    t.eq(r.status, 200, "the slow probe answers 200")
    t.eq(backend_requests(b) - n0, 1, "the backend saw the probe only")
    t.eq(get(port, "/b/status/200").status, 200, "its success closed the "
         "circuit")

    # Connect failures count as errors.
    got = [get(port, "/dead").status for _ in range(3)]
    t_open = time.monotonic()
    t.eq(got, [502, 502, 502], "port closed: 3 connect failures, 502")
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        lsock.bind(("127.0.0.1", dead_port))
        lsock.listen(16)
        lsock.settimeout(0)
        rs = [get(port, "/dead") for _ in range(5)]
        t.ok(all(is_open_answer(x) for x in rs),
             "after 3 connect failures: 503, circuit open",
             repr([x.status for x in rs]))
        try:
            c, _ = lsock.accept()
            c.close()
            connected = True
        except BlockingIOError:
            connected = False
        t.ok(not connected, "open: the gateway did not connect to the "
             "backend (now listening)")
        # The probe connects to the listener, which answers 200.
        sleep_until(t_open + 2.1)
        cl = gwtest.H1Conn(port, timeout=10)
        try:
            cl.send_request("GET", "/dead", close=True)
            lsock.settimeout(5)
            try:
                s, _ = lsock.accept()
            except socket.timeout:
                s = None
            t.ok(s is not None, "half-open: the probe connects")
            if s is not None:
                s.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    more = s.recv(4096)
                    if not more:
                        break
                    data += more
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: 2\r\nConnection: close\r\n\r\n"
                          b"ok")
                s.close()
            r = cl.read_response()
        finally:
            cl.close()
        t.eq((r.status, r.body), (200, b"ok"), "the probe's 200 reaches "
             "the client")
    finally:
        lsock.close()
    r = get(port, "/dead")
    t.eq(r.status, 502, "closed again: the next request tries the "
         "(closed again) port: 502")

    # Timeouts count as errors (max_errors 1: the 2nd opens).
    n0 = backend_requests(b)
    got = [get(port, "/to?delay=1").status for _ in range(2)]
    t.eq(got, [504, 504], "backend slower than 300ms: 504, 504")
    r = get(port, "/to?delay=0")
    t.ok(is_open_answer(r), "after 2 timeouts (max_errors 1): 503 open",
         "status %d" % r.status)
    t.eq(backend_requests(b) - n0, 2, "the backend saw the 2 slow ones "
         "only")

    # The gateway's own time for the 503s, from its access log.
    t.stop_gateway(gw)
    ms = access_ms(gw.proc.out, "/b/", 503)
    t.ok(len(ms) >= 20, "access log: %d lines of 503s for /b/" % len(ms))
    if ms:
        med = median(ms)
        t.note("gateway time of the breaker's 503s (access log ms=): "
               "median %.3f ms, max %.3f ms, %d lines" %
               (med, max(ms), len(ms)))
        t.ok(med < 1.0, "breaker 503s: median gateway time %.3f ms < 1 ms"
             % med)
    with open(gw.proc.out, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    for change in ("closed -> open", "open -> half-open",
                   "half-open -> closed", "half-open -> open"):
        t.ok(re.search(r"circuit breaker flip: %s\b" % re.escape(change),
                       log) is not None,
             "log_status_change: 'flip: %s' logged" % change)


if __name__ == "__main__":
    gwtest.main("qos_breaker", test, timeout=60)
