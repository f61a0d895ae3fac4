/*
 * cors.h: security/cors, answered by the gateway before routing.
 *
 * Pure: it reads request header values and emits response headers through
 * a callback, so it works the same under HTTP/1.1 and HTTP/2 and is
 * tested without sockets.
 *
 * Behaviour follows KrakenD, which hands its config to rs/cors; where
 * rs/cors versions differ, or where we differ, it says so:
 *  - allow_origins empty, or containing "*": every origin.  Otherwise
 *    each entry is scheme://host[:port], "null", or a wildcard: the same
 *    with a host of "*." and a domain (scheme https, host *.liquidity.io
 *    in the liquidity config).  Other entries can never match; they are
 *    logged and ignored at create, and gw_cors_origin_pattern_valid()
 *    lets the config loader reject them first.  Scheme and host compare
 *    case-insensitively; a scheme's default port (80 for http/ws, 443
 *    for https/wss) equals no port.  The wildcard stands for one or more
 *    whole labels: with "*.example.com" over https, https://a.example.com
 *    and https://a.b.example.com match, but not https://example.com,
 *    https://evil-example.com, https://a.example.com.evil.com, another
 *    scheme or another port.  (rs/cors's '*' matches any characters and
 *    its origins any string; we are stricter on purpose.)
 *  - allow_methods empty: GET, HEAD, POST.  Methods compare
 *    case-sensitively, as HTTP method names are (RFC 9110 9.1) and as
 *    current rs/cors does (older versions upper-cased); OPTIONS is always
 *    allowed.
 *  - allow_headers empty: rs/cors's defaults, Accept, Content-Type,
 *    X-Requested-With; "*" allows all.  Origin is always allowed too, as
 *    KrakenD documents.  Names compare case-insensitively.
 *  - Access-Control-Allow-Origin is "*" when every origin is allowed and
 *    credentials are not, else the request's Origin, since browsers
 *    refuse "*" on a credentialed response (older rs/cors; current
 *    rs/cors sends "*" either way).
 *  - max_age under one second sends no Access-Control-Max-Age.
 *  - expose_headers empty sends no Access-Control-Expose-Headers.
 */
#ifndef GW_CORS_H
#define GW_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct gw_cors;

/* Emits one response header.  name is a static string; value is not
 * NUL-terminated and is valid only during the call (a preflight's
 * Access-Control-Allow-Headers is built in a temporary buffer): a
 * callback that keeps it must copy it. */
typedef void (*gw_header_cb)(void *arg, const char *name,
    const char *value, size_t value_len);

/* Compiles cfg (patterns, joined header values); cfg must outlive it. */
struct gw_cors *gw_cors_create(const struct gw_cors_config *cfg);
void gw_cors_destroy(struct gw_cors *c);

/*
 * Whether origin (e.g. "https://a.example.com") is allowed: exact match
 * (case-insensitive scheme and host), "*", or a wildcard host
 * "*.example.com" (one or more labels in place of '*', same scheme and
 * port).
 * An empty origin, or one with bytes outside visible ASCII, never is.
 */
bool gw_cors_origin_allowed(const struct gw_cors *c, const char *origin,
    size_t len);

/* Whether an allow_origins entry can match anything (see above). */
bool gw_cors_origin_pattern_valid(const char *pattern);

/* Whether a request is a preflight: OPTIONS (exactly) with Origin and
 * Access-Control-Request-Method; pass NULL for an absent or empty
 * header. */
bool gw_cors_is_preflight(const char *method, size_t method_len,
    const char *origin, const char *acr_method);

/*
 * Answers a preflight.  Returns the status to send (options_success_status,
 * default 204) and emits the Access-Control-* headers and Vary through
 * cb; for a disallowed origin, method or header it emits only Vary and
 * still returns the status (the browser then blocks the call), as
 * KrakenD does.  acr_headers may be NULL.
 *
 * Vary is one header: "Origin, Access-Control-Request-Method,
 * Access-Control-Request-Headers".  Access-Control-Allow-Methods echoes
 * the requested method and Access-Control-Allow-Headers the requested
 * names (trimmed, joined by ", "), as rs/cors does: a request naming any
 * header not allowed, or anything that is not a header name, is refused
 * as a whole, so what is echoed is exactly what is allowed.
 */
int gw_cors_preflight(const struct gw_cors *c, const char *origin,
    size_t origin_len, const char *acr_method, size_t acr_method_len,
    const char *acr_headers, size_t acr_headers_len, gw_header_cb cb,
    void *arg);

/*
 * As gw_cors_preflight(), with whether the request carried
 * Access-Control-Request-Private-Network: true.  With
 * allow_private_network set, Vary also names that header and an allowed
 * preflight that asked gets Access-Control-Allow-Private-Network: true.
 */
int gw_cors_preflight_pna(const struct gw_cors *c, const char *origin,
    size_t origin_len, const char *acr_method, size_t acr_method_len,
    const char *acr_headers, size_t acr_headers_len, bool private_network,
    gw_header_cb cb, void *arg);

/*
 * Headers for an actual (non-preflight) response to a request with
 * Origin: Access-Control-Allow-Origin, -Allow-Credentials,
 * -Expose-Headers when allowed, and Vary: Origin always, even when all
 * origins are allowed: whether Access-Control-Allow-Origin is sent still
 * depends on the request having an Origin, so a shared cache must key on
 * it (rs/cors does the same).  origin may be NULL (no Origin header).
 */
void gw_cors_response_headers(const struct gw_cors *c, const char *origin,
    size_t origin_len, gw_header_cb cb, void *arg);

/*
 * As gw_cors_response_headers(), and like rs/cors also refusing a method
 * not in allow_methods (Vary only).  method may be NULL: no method test.
 */
void gw_cors_actual_headers(const struct gw_cors *c, const char *method,
    size_t method_len, const char *origin, size_t origin_len,
    gw_header_cb cb, void *arg);

#endif
