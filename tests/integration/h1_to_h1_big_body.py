#!/usr/bin/python3 -B
"""h1_to_h1_big_body: 256 MiB each way through the gateway over
HTTP/1.1 with bounded memory.

  - download: GET /big (Content-Length, deterministic bytes), sha256
    checked on arrival;
  - upload with Content-Length from a socket writer, and chunked from
    `curl -T -` fed by a generator; the backend reports length and sha256;
  - a client that stops reading for 3 s (small SO_RCVBUF) mid-download:
    the backend must be held back (its progress stalls) and the gateway
    must not buffer; closing that client ends the backend transfer.
The gateway's VmRSS is sampled during every transfer and must stay under
GW_TEST_RSS_LIMIT_MIB (64) unless the binary is built with ASAN.
"""
import hashlib
import json
import os
import subprocess
import threading
import time

import gwtest

SIZE = int(os.environ.get("GW_TEST_BIG_MIB", "256")) * 1024 * 1024


def check_rss(t, gw, sampler, label):
    if t.rss_checks:
        mx = sampler.max_kib
        t.ok(mx is not None and mx < t.rss_limit_kib,
             "%s: gateway RSS stays under %d MiB (max %.1f MiB, %d samples)"
             % (label, t.rss_limit_kib // 1024, (mx or 0) / 1024.0,
                len(sampler.samples)))


def big_active(b):
    return sum(b.stats()["big_active"].values())


def download(t, gw):
    want = gwtest.pattern_sha256(SIZE)
    h = hashlib.sha256()
    n = 0
    with gwtest.RssSampler(gw) as s, gwtest.H1Conn(gw.port, timeout=30) as c:
        t0 = time.monotonic()
        c.send_request("GET", "/big?size=%d" % SIZE, close=True)
        r = c.read_head()
        t.eq(r.status, 200, "GET /big answers 200")
        try:
            for _, data in c.body_iter(r):
                h.update(data)
                n += len(data)
        except (gwtest.ProtocolError, OSError) as e:
            t.ok(False, "download completes", str(e))
        dt = time.monotonic() - t0
    t.note("download: %d bytes in %.2f s (%.0f MiB/s)" %
           (n, dt, n / dt / 1048576))
    t.eq(r.header("Content-Length"), str(SIZE),
         "Content-Length of the download passed on")
    t.eq((n, h.hexdigest()), (SIZE, want), "256 MiB download: sha256 matches")
    check_rss(t, gw, s, "download")


def upload_cl(t, gw):
    h = hashlib.sha256()
    err = []

    def writer(c):
        try:
            for chunk in gwtest.pattern_chunks(SIZE):
                c.send(chunk)
                h.update(chunk)
        except OSError as e:
            err.append(e)

    with gwtest.RssSampler(gw) as s, gwtest.H1Conn(gw.port, timeout=30) as c:
        t0 = time.monotonic()
        c.send(("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                "application/octet-stream\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n" % (c.host, SIZE)).encode())
        w = threading.Thread(target=writer, args=(c,), daemon=True)
        w.start()
        try:
            r = c.read_response()
        except (gwtest.ProtocolError, OSError) as e:
            r = gwtest.Response(body=str(e).encode())
        w.join(30)
        dt = time.monotonic() - t0
    t.note("upload (Content-Length): %.2f s" % dt)
    t.ok(not err, "upload body fully sent", err)
    t.eq(r.status, 200, "POST /upload (Content-Length) answers 200")
    try:
        got = r.json()
    except ValueError:
        got = {"body": r.body[:200]}
    t.eq((got.get("length"), got.get("sha256")), (SIZE, h.hexdigest()),
         "256 MiB upload (Content-Length): backend got it intact")
    check_rss(t, gw, s, "upload with Content-Length")


def upload_chunked(t, gw):
    curl = gwtest.need_tool("curl")
    h = hashlib.sha256()
    out = os.path.join(t.tmp, "upload.json")
    errf = open(os.path.join(t.tmp, "upload.err"), "w+b")
    p = subprocess.Popen([curl, "-sS", "--max-time", "60", "-X", "POST",
                          "-T", "-", "-o", out, "-w", "%{http_code}",
                          "-H", "Content-Type: application/octet-stream",
                          "http://127.0.0.1:%d/upload" % gw.port],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=errf)
    fed = []

    def feed():
        try:
            for chunk in gwtest.pattern_chunks(SIZE):
                p.stdin.write(chunk)
                h.update(chunk)
            fed.append(True)
        except (OSError, ValueError):
            pass
        finally:
            try:
                p.stdin.close()
            except OSError:
                pass

    with gwtest.RssSampler(gw) as s:
        t0 = time.monotonic()
        f = threading.Thread(target=feed, daemon=True)
        f.start()
        try:
            p.wait(timeout=70)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        f.join(5)
        code = p.stdout.read()
        p.stdout.close()
        errf.seek(0)
        err = errf.read()
        errf.close()
        dt = time.monotonic() - t0
    t.note("upload (chunked, curl -T -): %.2f s" % dt)
    t.ok(fed, "curl took the whole chunked body")
    t.eq(code, b"200", "POST /upload (chunked) answers 200")
    try:
        got = json.load(open(out))
    except (OSError, ValueError):
        got = {"curl": err.decode("utf-8", "replace")[-300:]}
    t.eq((got.get("length"), got.get("sha256")), (SIZE, h.hexdigest()),
         "256 MiB upload (chunked): backend got it intact")
    check_rss(t, gw, s, "chunked upload")


def slow_reader(t, gw, b):
    aborted0 = b.stats()["big_aborted"]
    with gwtest.RssSampler(gw) as s, \
            gwtest.H1Conn(gw.port, timeout=10, rcvbuf=16384) as c:
        c.send_request("GET", "/big?size=%d" % SIZE, close=True)
        r = c.read_head()
        t.eq(r.status, 200, "slow reader: GET /big answers 200")
        got = 0
        it = c.body_iter(r)
        for _, data in it:
            got += len(data)
            if got >= 1 << 20:
                break
        # Stop reading for 3 s.
        time.sleep(1.0)
        p1 = big_active(b)
        time.sleep(2.0)
        p2 = big_active(b)
        t.note("slow reader: read %d bytes; backend sent %d after 1 s of "
               "pause, %d after 3 s" % (got, p1, p2))
        t.ok(p2 - p1 < 1 << 20,
             "slow reader: back-pressure stalls the backend",
             "backend sent %d more bytes in the last 2 s of the pause" %
             (p2 - p1))
        t.ok(p2 - got < 48 << 20,
             "slow reader: at most 48 MiB in flight between backend and "
             "client (%.1f MiB)" % ((p2 - got) / 1048576.0))
        # Read a little more: the stream resumes.
        more = 0
        for _, data in it:
            more += len(data)
            if more >= 1 << 20:
                break
        t.ok(more >= 1 << 20, "slow reader: the download resumes")
    # The client closed mid-body: the gateway must drop the backend
    # transfer.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and \
            b.stats()["big_aborted"] == aborted0:
        time.sleep(0.05)
    t.ok(b.stats()["big_aborted"] > aborted0,
         "slow reader gone: backend transfer aborted within 3 s")
    check_rss(t, gw, s, "slow reader")


def test(t):
    b = t.start_backend()
    gw = t.start_gateway(t.config([
        t.endpoint("/big", "/big", b, input_query_strings=["size"],
                   timeout="60s"),
        t.endpoint("/upload", "/upload", b, method="POST", timeout="60s",
                   input_headers=["Content-Type"]),
    ], timeout="60s"))
    t.rss_checks = gw.pid is not None and \
        not gwtest.binary_is_sanitized(t.bin)
    if not t.rss_checks:
        t.note("RSS bound not checked: %s" %
               ("ASAN build" if gw.pid else "daemon not started here"))
    else:
        t.note("gateway RSS at start: %.1f MiB" % (gw.rss_kib() / 1024.0))
    download(t, gw)
    upload_cl(t, gw)
    upload_chunked(t, gw)
    slow_reader(t, gw, b)
    t.eq(t.request(gw.port, "GET", "/__health").status, 200,
         "gateway still answers /__health")
    t.stop_gateway(gw)


if __name__ == "__main__":
    gwtest.main("h1_to_h1_big_body", test, timeout=150)
