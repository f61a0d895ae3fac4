#!/usr/bin/python3 -B
"""qos_cors: security/cors against the real daemon.

The CORS block of tests/compat/liquidity-gateway.json (exact origins, a
wildcard https://*.liquidity.io, methods, headers, expose_headers,
max_age "12h"):

  - a preflight from an allowed origin is answered by the gateway itself,
    204, with Access-Control-Allow-Origin echoing the origin, -Methods,
    -Headers, Max-Age 43200 and Vary; the backend is not hit, even for a
    path no endpoint serves; the same over HTTP/2;
  - the wildcard matches subdomains only, over https only;
  - a denied origin, method or header: no Access-Control-Allow-Origin;
  - an actual request from an allowed origin gets Access-Control-Allow-
    Origin, -Expose-Headers and Vary: Origin, also on the gateway's own
    error answers; from a denied origin or without Origin it succeeds
    without any Access-Control-* header;
  - OPTIONS without Access-Control-Request-Method is not a preflight;
  - a second gateway with allow_origins ["*"] and options_success_status
    200 answers 200 and "*"; a third with allow_credentials echoes the
    origin and sends Access-Control-Allow-Credentials.
"""
import gwtest

LIQUIDITY_CORS = {
    "allow_origins": [
        "https://liquidity.io",
        "https://*.liquidity.io",
        "https://exchange.next.satschel.com",
        "https://exchange.alpha.satschel.com",
        "https://api.next.satschel.com",
        "https://api.alpha.satschel.com",
        "https://*.satschel.com",
    ],
    "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    "allow_headers": ["Origin", "Authorization", "Content-Type", "Accept",
                      "X-Requested-With", "X-Org-Id", "X-Project-Id",
                      "X-Request-ID"],
    "expose_headers": ["Content-Length", "X-Request-ID"],
    "max_age": "12h",
}

APP = "https://app.liquidity.io"


def tokens(r, name):
    """The comma-separated tokens of every `name` header, lower case."""
    out = []
    for v in r.header_all(name):
        out += [x.strip().lower() for x in v.split(",") if x.strip()]
    return out


def acx(r):
    """The Access-Control-* headers of a response."""
    return [(k, v) for k, v in r.headers
            if k.lower().startswith("access-control-")]


def preflight(port, path, origin, method="POST", req_headers=None):
    h = [("Origin", origin), ("Access-Control-Request-Method", method)]
    if req_headers is not None:
        h.append(("Access-Control-Request-Headers", req_headers))
    return gwtest.request(port, "OPTIONS", path, h)


def cfg(t, b, cors):
    return t.config([
        t.endpoint("/api/thing", "/echo/thing", b),
        t.endpoint("/api/thing", "/echo/thing", b, method="POST"),
    ], extra_config={
        "router": {"return_error_msg": True},
        "telemetry/logging": {"level": "INFO", "stdout": True},
        "security/cors": cors,
    })


def test(t):
    b = t.start_backend()
    gw = t.start_gateway(cfg(t, b, LIQUIDITY_CORS))
    port = gw.port
    n0 = b.stats()["requests"]

    # The allowed preflight.
    for path in ("/api/thing", "/no/such/route"):
        r = preflight(port, path, APP, "POST", "Authorization, Content-Type")
        lbl = "preflight %s from %s" % (path, APP)
        t.eq(r.status, 204, "%s: 204" % lbl)
        t.eq(r.header("Access-Control-Allow-Origin"), APP,
             "%s: Access-Control-Allow-Origin echoes the origin" % lbl)
        t.ok("post" in tokens(r, "Access-Control-Allow-Methods"),
             "%s: Access-Control-Allow-Methods has POST (%r)" %
             (lbl, r.header("Access-Control-Allow-Methods")))
        t.eq(r.header("Access-Control-Allow-Headers"),
             "Authorization, Content-Type",
             "%s: Access-Control-Allow-Headers echoes the 2 asked for" %
             lbl)
        t.eq(r.header("Access-Control-Max-Age"), "43200",
             "%s: Access-Control-Max-Age 43200 (12h)" % lbl)
        vary = tokens(r, "Vary")
        t.ok(all(x in vary for x in ("origin",
                                     "access-control-request-method",
                                     "access-control-request-headers")),
             "%s: Vary names Origin and the request headers (%r)" %
             (lbl, r.header_all("Vary")))
        t.eq(r.body, b"", "%s: no body" % lbl)
        t.eq(r.header("X-Backend"), None, "%s: not from the backend" % lbl)

    # Other allowed origins: exact, deeper subdomain, other wildcard.
    for origin in ("https://liquidity.io", "https://a.b.liquidity.io",
                   "https://API.Next.Satschel.com", "https://x.satschel.com"):
        r = preflight(port, "/api/thing", origin, "GET")
        t.eq((r.status, r.header("Access-Control-Allow-Origin")),
             (204, origin), "preflight from %s: allowed" % origin)

    # Denied origins, method, headers: no Access-Control-Allow-Origin.
    denied = [
        ("https://evil.com", "POST", None, "origin https://evil.com"),
        ("http://app.liquidity.io", "POST", None, "http:// for an https "
         "wildcard"),
        ("https://liquidity.io.evil.com", "POST", None, "suffix attack"),
        ("https://evilliquidity.io", "POST", None, "no dot before the "
         "domain"),
        ("https://app.liquidity.io:8443", "POST", None, "another port"),
        (APP, "TRACE", None, "method TRACE"),
        (APP, "post", None, "method post (methods are case-sensitive)"),
        (APP, "POST", "X-Evil", "header X-Evil"),
        (APP, "POST", "Authorization, X-Evil", "one header of two not "
         "allowed"),
    ]
    for origin, method, hdrs, what in denied:
        r = preflight(port, "/api/thing", origin, method, hdrs)
        t.ok(r.status == 204 and not acx(r),
             "denied preflight (%s): 204 without Access-Control-* headers"
             % what, "status %d, %r" % (r.status, acx(r)))
        t.ok("origin" in tokens(r, "Vary"),
             "denied preflight (%s): Vary: Origin still" % what)
    t.eq(b.stats()["requests"] - n0, 0,
         "the backend saw none of the %d preflights" % (len(denied) + 6))

    # Actual requests.
    n0 = b.stats()["requests"]
    r = gwtest.request(port, "GET", "/api/thing", [("Origin", APP)])
    t.eq((r.status, r.header("X-Backend")), (200, "b1"),
         "GET with an allowed Origin: 200 from the backend")
    t.eq(r.header("Access-Control-Allow-Origin"), APP,
         "GET: Access-Control-Allow-Origin echoes the origin")
    t.eq(sorted(tokens(r, "Access-Control-Expose-Headers")),
         ["content-length", "x-request-id"],
         "GET: Access-Control-Expose-Headers (%r)" %
         r.header("Access-Control-Expose-Headers"))
    t.ok("origin" in tokens(r, "Vary"), "GET: Vary: Origin (%r)" %
         r.header_all("Vary"))
    t.eq(r.header("Access-Control-Allow-Credentials"), None,
         "GET: no Access-Control-Allow-Credentials (not configured)")
    r = gwtest.request(port, "POST", "/api/thing", [("Origin", APP)],
                       b"{}")
    t.eq((r.status, r.header("Access-Control-Allow-Origin")), (200, APP),
         "POST with an allowed Origin: 200 with Access-Control-Allow-Origin")

    r = gwtest.request(port, "GET", "/api/thing",
                       [("Origin", "https://evil.com")])
    t.eq(r.status, 200, "GET from a denied origin still succeeds")
    t.eq(acx(r), [], "GET from a denied origin: no Access-Control-* header")
    r = gwtest.request(port, "GET", "/api/thing")
    t.eq((r.status, acx(r)), (200, []),
         "GET without Origin: 200, no Access-Control-* header")
    t.eq(b.stats()["requests"] - n0, 4, "the 4 actual requests reached "
         "the backend")

    # The gateway's own answers carry CORS headers too.
    r = gwtest.request(port, "GET", "/no/such/route", [("Origin", APP)])
    t.eq((r.status, r.header("Access-Control-Allow-Origin")), (404, APP),
         "the gateway's 404 to an allowed origin has "
         "Access-Control-Allow-Origin")

    # OPTIONS without Access-Control-Request-Method is not a preflight.
    r = gwtest.request(port, "OPTIONS", "/api/thing", [("Origin", APP)])
    t.ok(r.status not in (200, 204) and
         r.header("Access-Control-Allow-Methods") is None,
         "OPTIONS without Access-Control-Request-Method is routed, not "
         "answered as a preflight (%d)" % r.status)

    # Over HTTP/2.
    try:
        gwtest.need_module("h2")
    except gwtest.Skip:
        t.note("python3-h2 missing: the HTTP/2 checks are left out")
    else:
        n0 = b.stats()["requests"]
        try:
            with gwtest.H2Client(port) as h:
                s = h.request("OPTIONS", "/api/thing", [
                    ("origin", APP), ("access-control-request-method", "PUT"),
                    ("access-control-request-headers", "x-org-id")])
        except Exception as e:     # h2 cannot decode a garbled header
            t.ok(False, "h2 preflight: a response the client can decode",
                 "%s: %s" % (type(e).__name__, e))
        else:
            t.eq((s.status, s.header("access-control-allow-origin"),
                  s.header("access-control-max-age")), (204, APP, "43200"),
                 "h2 preflight: 204, origin echoed, Max-Age 43200")
            t.eq(s.header("access-control-allow-headers"), "x-org-id",
                 "h2 preflight: Access-Control-Allow-Headers x-org-id")
            t.ok(s.ended and s.body == b"", "h2 preflight: no body")
        with gwtest.H2Client(port) as h:
            s = h.request("GET", "/api/thing", [("origin", APP)])
            t.eq((s.status, s.header("access-control-allow-origin")),
                 (200, APP), "h2 GET: Access-Control-Allow-Origin")
            t.ok(s.header("access-control-expose-headers") is not None,
                 "h2 GET: Access-Control-Expose-Headers")
        t.eq(b.stats()["requests"] - n0, 1, "h2: only the GET reached "
             "the backend")
    # A long Access-Control-Request-Headers (past any small buffer) is
    # echoed exactly too.  Last on this gateway: a gateway that reads
    # freed memory here may not survive it.
    names = ["Authorization", "Content-Type", "Accept", "X-Requested-With",
             "X-Org-Id", "X-Project-Id", "X-Request-ID"] * 8
    want = ", ".join(names)
    try:
        r = preflight(port, "/api/thing", APP, "PUT", want)
        got = (r.status, r.header("Access-Control-Allow-Headers"))
    except (OSError, gwtest.ProtocolError) as e:
        got = "no answer: %s" % e
    t.eq(got, (204, want),
         "preflight asking for %d headers (%d bytes): all echoed exactly" %
         (len(names), len(want)))
    t.ok(gwtest.health_ok(port, timeout=5), "the gateway is still up")
    t.stop_gateway(gw)

    # "*" and options_success_status.
    gw2 = t.start_gateway(cfg(t, b, {"allow_origins": ["*"],
                                      "options_success_status": 200}))
    r = preflight(gw2.port, "/api/thing", "https://anything.example", "GET")
    t.eq((r.status, r.header("Access-Control-Allow-Origin")), (200, "*"),
         'allow_origins ["*"], options_success_status 200: preflight 200 '
         'with "*"')
    r = gwtest.request(gw2.port, "GET", "/api/thing",
                       [("Origin", "https://anything.example")])
    t.eq((r.status, r.header("Access-Control-Allow-Origin")), (200, "*"),
         'allow_origins ["*"]: GET gets "*"')
    t.ok("origin" in tokens(r, "Vary"), 'allow_origins ["*"]: Vary: Origin')
    t.stop_gateway(gw2)

    # Credentials: the origin is echoed, never "*".
    gw3 = t.start_gateway(cfg(t, b, {"allow_origins": ["*"],
                                      "allow_credentials": True}))
    r = preflight(gw3.port, "/api/thing", APP, "GET")
    t.eq((r.status, r.header("Access-Control-Allow-Origin"),
          r.header("Access-Control-Allow-Credentials")), (204, APP, "true"),
         "allow_credentials: preflight echoes the origin, credentials true")
    r = gwtest.request(gw3.port, "GET", "/api/thing", [("Origin", APP)])
    t.eq((r.status, r.header("Access-Control-Allow-Origin"),
          r.header("Access-Control-Allow-Credentials")), (200, APP, "true"),
         "allow_credentials: GET echoes the origin, credentials true")
    t.stop_gateway(gw3)


if __name__ == "__main__":
    gwtest.main("qos_cors", test, timeout=60)
