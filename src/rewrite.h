/*
 * rewrite.h: what the gateway sends to a backend in place of what the
 * client sent: the url_pattern expanded, the query string and headers
 * filtered as the endpoint says.
 *
 * Templates are compiled once per config (gw_urltmpl_compile) so a request
 * only copies literal runs and values.
 */
#ifndef GW_REWRITE_H
#define GW_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "router.h"

struct evbuffer;

/* A compiled url_pattern. */
struct gw_urltmpl;

/*
 * Compiles `pattern` (a backend url_pattern) against `endpoint` (its
 * endpoint pattern): every {name} in pattern must be a placeholder of
 * endpoint; "{*}" or a final "*" of the path stands for the wildcard
 * remainder.  When endpoint ends in a "*" segment and pattern places no
 * remainder, it is appended after a '/' as KrakenD does ("/legacy" gets
 * "/legacy/<rest>").  pattern must start with '/'.  A query part
 * ("/a?x=1") is kept literally; placeholders in it are encoded for a
 * query, and the client's parameters follow with '&'.
 * Returns NULL and sets *cause (malloc'd, e.g. "placeholder {id} is not
 * defined by the endpoint /a/{b}") on error.
 */
struct gw_urltmpl *gw_urltmpl_compile(const char *pattern,
    const char *endpoint, char **cause);
void gw_urltmpl_destroy(struct gw_urltmpl *t);

/*
 * Appends the expanded path to out.  Placeholder values and the wildcard
 * remainder are percent-encoded for a path segment (RFC 3986 pchar; '/'
 * in a placeholder value is encoded as %2F, so a value never adds a
 * segment; "." and ".." values are encoded as %2E / %2E%2E).  The
 * remainder keeps its '/' separators and its escapes (router.h).
 * Then, if the query string has parameters that `allowed` admits,
 * appends '?' and them, in their original order and encoding.
 *   allowed: n == 0: none; all: every parameter; else names, exact match
 *   (case-sensitive) on the name decoded as a query parser does ('+' is a
 *   space, %XX once), so "ids[]" admits both "ids[]=1" and "ids%5B%5D=1".
 * Empty parameters are dropped, and so are those whose name has a
 * malformed escape when names are listed (Go's url.ParseQuery does the
 * same).  Bytes no request-target may hold (controls, space, '#',
 * non-ASCII) are escaped rather than passed.
 * `query` excludes the '?'; it may be NULL, and so may `allowed` (none).
 * Allocates nothing but the evbuffer's own space.
 */
void gw_urltmpl_expand(const struct gw_urltmpl *t, const struct gw_match *m,
    const char *query, size_t query_len, const struct gw_strlist *allowed,
    struct evbuffer *out);

/*
 * Whether a client header goes to the backend, per the endpoint's
 * input_headers (names compared case-insensitively).  When the endpoint
 * sets none (ep->input_headers_set false, or an empty list, which KrakenD
 * treats alike), KrakenD's default applies: only the client's Content-Type
 * passes (lura's router HeadersToSend; see rewrite.c).  The User-Agent,
 * Accept-Encoding and X-Forwarded-* headers a backend sees by default are
 * the gateway's own, set by the caller.  The caller also owns Host, the
 * hop-by-hop headers and body framing (Content-Length, Transfer-Encoding):
 * it never passes those through this function, which does not know them.
 */
bool gw_header_allowed(const struct gw_endpoint_config *ep,
    const char *name, size_t len);

#endif
