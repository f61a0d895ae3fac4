#!/usr/bin/python3 -B
"""h2c_to_h1_many_streams: 1000 requests on ONE HTTP/2 connection (h2c,
prior knowledge), as many at once as the gateway's
SETTINGS_MAX_CONCURRENT_STREAMS allows (capped at 128): a new stream
opens as soon as another ends.  Each stream asks for its own path, so a
response delivered on the wrong stream is caught.  Then the same load
with h2load (-n1000 -c1 -m100) when nghttp2-client's h2load is there.
"""
import json
import re
import shutil
import subprocess
import time

import gwtest

TOTAL = 1000


def test(t):
    gwtest.need_module("h2")
    b = t.start_backend()
    gw = t.start_gateway(t.config([
        t.endpoint("/s/{k}", "/echo/s/{k}", b),
    ]))
    with gwtest.H2Client(gw.port, timeout=30) as h:
        h.wait(lambda: h.settings_received, 5)
        t.ok(h.settings_received, "gateway sent its SETTINGS")
        server_limit = h.max_concurrent
        limit = min(server_limit, 128)
        t.note("server SETTINGS_MAX_CONCURRENT_STREAMS %s; using %d" %
               (server_limit, limit))
        pending = list(range(TOTAL))
        active = {}
        done = []
        most = 0
        deadline = time.monotonic() + 60
        t0 = time.monotonic()
        while (pending or active) and time.monotonic() < deadline \
                and not h.closed:
            while pending and h.open_streams() < limit:
                k = pending.pop(0)
                st = h.start("GET", "/s/%d" % k)
                active[st.id] = (k, st)
            most = max(most, len(active))
            h.pump(0.5)
            for sid in [s for s, (_, st) in active.items() if st.done]:
                done.append(active.pop(sid))
        elapsed = time.monotonic() - t0
        t.note("%d streams in %.2f s, at most %d open at once" %
               (len(done), elapsed, most))
        t.ok(not h.closed, "the connection stayed open",
             "GOAWAY error code %s" % h.goaway)
        t.eq(len(done), TOTAL, "all %d streams completed" % TOTAL)
        statuses = {}
        wrong = []
        resets = []
        for k, st in done:
            statuses[st.status] = statuses.get(st.status, 0) + 1
            if st.reset is not None:
                resets.append((k, st.reset))
                continue
            try:
                if json.loads(st.body)["path"] != "/echo/s/%d" % k:
                    wrong.append(k)
            except (ValueError, KeyError):
                wrong.append(k)
        t.eq(statuses, {200: TOTAL}, "every stream answered 200")
        t.eq(resets[:5], [], "no stream was reset")
        t.eq(wrong[:5], [], "every stream got its own response")
        t.ok(most <= server_limit, "never more streams open than allowed")
        # The connection still works after the load.
        st = h.request("GET", "/__health")
        t.eq(st.status, 200, "GET /__health on the same connection")

    h2load = shutil.which("h2load")
    if h2load is None:
        t.note("h2load not found (nghttp2-client); its run is left out")
    else:
        p = subprocess.run([h2load, "-n%d" % TOTAL, "-c1", "-m100",
                            "-t1", "http://127.0.0.1:%d/s/1" % gw.port],
                           capture_output=True, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, "
                      r"(\d+) succeeded", out)
        codes = re.search(r"status codes: (\d+) 2xx", out)
        t.ok(p.returncode == 0 and m and m.group(4) == str(TOTAL) and
             codes and codes.group(1) == str(TOTAL),
             "h2load -n%d -c1 -m100: all succeeded with 2xx" % TOTAL,
             out[-1500:] + p.stderr.decode("utf-8", "replace")[-500:])
    st = b.stats()
    t.ok(st["requests"] >= TOTAL, "backend got the requests (%d)" %
         st["requests"])
    t.stop_gateway(gw)


if __name__ == "__main__":
    gwtest.main("h2c_to_h1_many_streams", test, timeout=120)
