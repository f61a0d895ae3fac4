#!/usr/bin/python3 -B
"""h1_to_h1_basic: curl over HTTP/1.1 through the gateway to an HTTP/1.1
backend that echoes what it received.

Checks what is forwarded: method, path (url_pattern with {placeholders}),
body, X-Request-ID (generated, or the client's kept), X-Forwarded-For /
-Host / -Proto, the backend's Host; input_headers and
input_query_strings filtering; hop-by-hop headers dropped; backend
response headers passed back; one pooled backend connection reused by
consecutive requests of one client connection.
"""
import hashlib
import json
import os
import subprocess

import gwtest


def echo_of(t, r, desc):
    """The echo backend's JSON from a curl result, or None (reported)."""
    try:
        return json.loads(r.body)
    except ValueError:
        t.ok(False, desc + ": body is the backend's JSON echo",
             "curl rc %s, status %s, body %r, stderr %s" %
             (r.rc, r.status, r.body[:300], r.stderr[:300]))
        return None


def got(echo, name):
    """All values of a header as the backend received it."""
    return [v for k, v in echo["headers"] if k.lower() == name.lower()]


def test(t):
    gwtest.need_tool("curl")
    b = t.start_backend()
    ep = t.endpoint
    gw = t.start_gateway(t.config([
        ep("/basic", "/echo", b, input_headers=["*"]),
        ep("/basic", "/echo", b, method="POST", input_headers=["*"]),
        ep("/keep", "/echo/keep", b, input_headers=["X-Keep"]),
        ep("/all", "/echo/all", b, input_headers=["*"]),
        ep("/default", "/echo/default", b),
        ep("/query", "/echo/query", b, input_query_strings=["a"]),
        ep("/allquery", "/echo/allquery", b, input_query_strings=["*"]),
        ep("/items/{id}", "/echo/items/{id}", b),
        ep("/users/{user}/orders/{order}", "/echo/o/{order}/u/{user}", b),
        ep("/hop", "/echo/hop", b, input_headers=["*"]),
    ]))
    url = "http://127.0.0.1:%d" % gw.port

    # GET: status, body, request id, forwarded headers, Host.
    r = t.curl([url + "/basic"])
    t.eq((r.rc, r.status), (0, 200), "GET /basic answers 200")
    t.eq(r.http_version, "1.1", "GET /basic is HTTP/1.1")
    e = echo_of(t, r, "GET /basic")
    if e:
        t.eq((e["method"], e["path"]), ("GET", "/echo"),
             "backend got GET /echo")
        t.eq(e["version"], "HTTP/1.1", "backend got HTTP/1.1")
        rid = r.header("X-Request-ID")
        t.ok(rid, "response has an X-Request-ID", r.headers)
        t.eq(got(e, "X-Request-ID"), [rid],
             "backend got the same X-Request-ID")
        t.eq(got(e, "X-Forwarded-For"), ["127.0.0.1"],
             "X-Forwarded-For is the client address")
        t.eq(got(e, "X-Forwarded-Proto"), ["http"], "X-Forwarded-Proto: http")
        t.eq(got(e, "X-Forwarded-Host"), ["127.0.0.1:%d" % gw.port],
             "X-Forwarded-Host is the client's Host")
        t.eq(got(e, "Host"), ["127.0.0.1:%d" % b.port],
             "Host is the backend's")
    t.eq(r.header("X-Backend"), "b1", "backend response header passed back")
    t.eq(r.header("Content-Type"), "application/json",
         "backend Content-Type passed back")

    # Two requests: distinct generated ids.
    r2 = t.curl([url + "/basic"])
    t.ok(r2.header("X-Request-ID") not in (None, r.header("X-Request-ID")),
         "each request gets its own X-Request-ID",
         "%r then %r" % (r.header("X-Request-ID"),
                         r2.header("X-Request-ID")))

    # The client's X-Request-ID is kept.
    r = t.curl(["-H", "X-Request-ID: client-id-42", url + "/basic"])
    e = echo_of(t, r, "GET /basic with X-Request-ID")
    t.eq(r.header("X-Request-ID"), "client-id-42",
         "client X-Request-ID returned unchanged")
    if e:
        t.eq(got(e, "X-Request-ID"), ["client-id-42"],
             "client X-Request-ID forwarded unchanged")

    # A second client address, and a client-sent X-Forwarded-For (not a
    # trusted proxy: the real peer must be the last element).
    r = t.curl(["--interface", "127.0.0.2", url + "/basic"])
    e = echo_of(t, r, "GET /basic from 127.0.0.2")
    if e:
        t.eq(got(e, "X-Forwarded-For"), ["127.0.0.2"],
             "X-Forwarded-For is 127.0.0.2 for a client at 127.0.0.2")
    r = t.curl(["-H", "X-Forwarded-For: 10.1.2.3", url + "/basic"])
    e = echo_of(t, r, "GET /basic with X-Forwarded-For")
    if e:
        xff = ",".join(got(e, "X-Forwarded-For"))
        t.ok([s.strip() for s in xff.split(",")][-1] == "127.0.0.1",
             "client X-Forwarded-For gets the peer address last",
             "backend saw X-Forwarded-For %r" % xff)

    # POST with a body.
    body = os.urandom(100 * 1024)
    path = os.path.join(t.tmp, "post.bin")
    with open(path, "wb") as f:
        f.write(body)
    r = t.curl(["--data-binary", "@" + path, "-H",
                "Content-Type: application/octet-stream", url + "/basic"])
    t.eq((r.rc, r.status), (0, 200), "POST /basic answers 200")
    e = echo_of(t, r, "POST /basic")
    if e:
        t.eq(e["method"], "POST", "backend got POST")
        t.eq((e["body_length"], e["body_sha256"]),
             (len(body), hashlib.sha256(body).hexdigest()),
             "backend got the 100 KiB body intact")
        t.eq(got(e, "Content-Type"), ["application/octet-stream"],
             "Content-Type forwarded")
    r = t.curl(["-X", "POST", url + "/basic"])
    e = echo_of(t, r, "POST /basic without a body")
    if e:
        t.eq(e["body_length"], 0, "empty POST forwarded with no body")

    # input_headers ["X-Keep"]: only that one.
    hdrs = ["-H", "X-Keep: k", "-H", "X-Drop: d"]
    e = echo_of(t, t.curl(hdrs + [url + "/keep"]), "GET /keep")
    if e:
        t.eq(got(e, "X-Keep"), ["k"], 'input_headers ["X-Keep"] passes X-Keep')
        t.eq(got(e, "X-Drop"), [], 'input_headers ["X-Keep"] drops X-Drop')
    e = echo_of(t, t.curl(hdrs + [url + "/all"]), "GET /all")
    if e:
        t.eq((got(e, "X-Keep"), got(e, "X-Drop")), (["k"], ["d"]),
             'input_headers ["*"] passes X-Keep and X-Drop')
    e = echo_of(t, t.curl(hdrs + [url + "/default"]), "GET /default")
    if e:
        t.eq((got(e, "X-Keep"), got(e, "X-Drop")), ([], []),
             "no input_headers: custom headers are not forwarded")
        t.eq(len(got(e, "X-Request-ID")), 1,
             "no input_headers: X-Request-ID still forwarded")

    # input_query_strings.
    e = echo_of(t, t.curl([url + "/query?a=1&b=2"]), "GET /query")
    if e:
        t.eq(e["query"], "a=1", 'input_query_strings ["a"]: a kept, b dropped')
    e = echo_of(t, t.curl([url + "/basic?a=1&b=2"]), "GET /basic?a&b")
    if e:
        t.eq(e["query"], "", "no input_query_strings: no query forwarded")
    e = echo_of(t, t.curl([url + "/allquery?a=1&b=2"]), "GET /allquery")
    if e:
        t.eq(e["query"], "a=1&b=2", 'input_query_strings ["*"]: all kept')

    # url_pattern expansion.
    e = echo_of(t, t.curl([url + "/items/42"]), "GET /items/42")
    if e:
        t.eq(e["path"], "/echo/items/42", "/items/{id} -> /echo/items/42")
    e = echo_of(t, t.curl([url + "/users/ann/orders/7"]), "GET /users/..")
    if e:
        t.eq(e["path"], "/echo/o/7/u/ann",
             "two placeholders, reordered by url_pattern")
    e = echo_of(t, t.curl([url + "/items/a%20b"]), "GET /items/a%20b")
    if e:
        t.eq(e["path"], "/echo/items/a%20b",
             "an encoded placeholder value stays encoded")

    # Hop-by-hop headers are not forwarded, even with input_headers ["*"].
    r = t.curl(["-H", "Connection: x-hop", "-H", "X-Hop: 1",
                "-H", "Keep-Alive: timeout=5", "-H", "TE: gzip",
                "-H", "Proxy-Foo: bar", "-H", "Proxy-Connection: keep-alive",
                "-H", "Upgrade: foo", "-H", "X-End: 1",
                # Proxy-* names of the lengths of other known fields: the
                # prefix rule must apply whatever the length.
                "-H", "Proxy-A: 1", "-H", "Proxy-Abcd: 1",
                "-H", "Proxy-Abcdef: 1", "-H", "Proxy-Abcdefghi: 1",
                url + "/hop"])
    e = echo_of(t, r, "GET /hop")
    if e:
        for h in ("X-Hop", "Keep-Alive", "TE", "Proxy-Foo",
                  "Proxy-Connection", "Upgrade", "Proxy-A", "Proxy-Abcd",
                  "Proxy-Abcdef", "Proxy-Abcdefghi"):
            t.eq(got(e, h), [], "hop-by-hop %s not forwarded" % h)
        conn = ",".join(got(e, "Connection")).lower()
        t.ok("x-hop" not in conn, "client Connection tokens not forwarded",
             "backend saw Connection: %r" % conn)
        t.eq(got(e, "X-End"), ["1"], "end-to-end X-End forwarded")

    # Upstream keep-alive: two requests on one client connection reuse
    # one pooled backend connection.
    o1 = os.path.join(t.tmp, "reuse.a")
    o2 = os.path.join(t.tmp, "reuse.b")
    subprocess.run(["curl", "-sS", "--max-time", "20", url + "/basic",
                    "-o", o1, url + "/basic", "-o", o2], timeout=30)
    try:
        c1 = json.load(open(o1))["connection"]
        c2 = json.load(open(o2))["connection"]
        t.eq(c1, c2, "backend connection reused for the next request")
    except (OSError, ValueError, KeyError) as ex:
        t.ok(False, "backend connection reused for the next request",
             "no echo: %s" % ex)

    t.stop_gateway(gw)


if __name__ == "__main__":
    gwtest.main("h1_to_h1_basic", test, timeout=60)
