/*
 * h2_server.h: the client-facing HTTP/2 front (nghttp2 on the
 * connection's bufferevent), for h2 over TLS (ALPN), h2c with prior
 * knowledge, and h2c by HTTP/1.1 Upgrade (RFC 7540 3.2).
 */
#ifndef GW_H2_SERVER_H
#define GW_H2_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct gw_conn;
struct gw_stream;
struct gw_req_head;
struct gw_worker;

/*
 * Makes c an HTTP/2 connection: creates the nghttp2 server session, sends
 * the server SETTINGS, and processes whatever is already in the input
 * buffer (the client preface).  Returns 0, or -1 after freeing c.
 */
int gw_h2_server_start(struct gw_conn *c);

/*
 * Upgrade from HTTP/1.1: the 101 has been queued by the caller.
 * settings/len is the decoded HTTP2-Settings payload; head is the
 * upgrading request (no body), which becomes stream 1 and is started
 * through gw_stream_begin().  Returns 0, or -1 after freeing c.
 */
int gw_h2_server_upgrade(struct gw_conn *c, const uint8_t *settings,
    size_t len, const struct gw_req_head *head);

/* Frees the session and its streams (conn close path). */
void gw_h2_server_free(struct gw_conn *c);
/* Graceful shutdown: GOAWAY, finish open streams, then close. */
void gw_h2_server_shutdown(struct gw_conn *c);
/* Frees the HTTP/2 streams the worker keeps for reuse (at its teardown,
 * after its connections are gone). */
void gw_h2_server_cache_free(struct gw_worker *w);

#endif
