/*
 * cors.h: security/cors, answered by the gateway before routing.
 *
 * Pure: it reads request header values and emits response headers through
 * a callback, so it works the same under HTTP/1.1 and HTTP/2 and is
 * tested without sockets.
 */
#ifndef GW_CORS_H
#define GW_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct gw_cors;

/* Emits one response header; value is not NUL-terminated. */
typedef void (*gw_header_cb)(void *arg, const char *name,
    const char *value, size_t value_len);

/* Compiles cfg (patterns, joined header values); cfg must outlive it. */
struct gw_cors *gw_cors_create(const struct gw_cors_config *cfg);
void gw_cors_destroy(struct gw_cors *c);

/*
 * Whether origin (e.g. "https://a.example.com") is allowed: exact match
 * (case-insensitive scheme and host), "*", or a wildcard such as
 * "https://" "*" ".example.com" (one or more labels in place of '*', same scheme and port).
 */
bool gw_cors_origin_allowed(const struct gw_cors *c, const char *origin,
    size_t len);

/* Whether a request is a preflight: OPTIONS with Origin and
 * Access-Control-Request-Method. */
bool gw_cors_is_preflight(const char *method, size_t method_len,
    const char *origin, const char *acr_method);

/*
 * Answers a preflight.  Returns the status to send (options_success_status,
 * default 204) and emits the Access-Control-* headers and Vary through
 * cb; for a disallowed origin, method or header it emits only Vary and
 * still returns the status (the browser then blocks the call), as
 * KrakenD does.  acr_headers may be NULL.
 */
int gw_cors_preflight(const struct gw_cors *c, const char *origin,
    size_t origin_len, const char *acr_method, size_t acr_method_len,
    const char *acr_headers, size_t acr_headers_len, gw_header_cb cb,
    void *arg);

/*
 * Headers for an actual (non-preflight) response to a request with
 * Origin: Access-Control-Allow-Origin, -Allow-Credentials,
 * -Expose-Headers when allowed, and Vary: Origin always (unless all
 * origins are allowed without credentials).
 */
void gw_cors_response_headers(const struct gw_cors *c, const char *origin,
    size_t origin_len, gw_header_cb cb, void *arg);

#endif
