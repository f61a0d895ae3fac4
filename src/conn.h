/*
 * conn.h: one client connection.  Owned by its worker from accept to
 * close; it owns its bufferevent and its protocol state (HTTP/1.1 or an
 * nghttp2 session), which owns the connection's streams.
 *
 * Parking: a plaintext connection that has been idle a while, with
 * nothing queued either way, may give up its bufferevent (with its
 * buffers, events and callbacks, most of an idle connection's memory)
 * and keep its socket, watched by one event of its protocol state until
 * the next byte or the idle timeout.  c->bev is NULL while parked.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "sockio.h"

struct bufferevent;
struct event;
struct gw_worker;

enum gw_proto {
	GW_PROTO_SNIFF = 0,      /* first bytes not seen yet */
	GW_PROTO_H1,
	GW_PROTO_H2,
};

struct gw_conn {
	struct gw_worker *worker;
	struct bufferevent *bev;
	struct gw_sockio sockio; /* bev's socket I/O (sockio.h) */
	bool tls;
	enum gw_proto proto;
	void *proto_ctx;         /* struct gw_h1_conn or gw_h2_conn */
	char peer_ip[48];        /* text form of the peer address */
	uint16_t peer_port;
	char local_port[8];
	struct gw_conn *next, *prev; /* worker's list */
	int parked_fd;           /* -1, or the socket while parked */
	bool closing;            /* graceful shutdown asked */
};

/* Takes an accepted socket on worker w (its thread).  tls: wrap in TLS. */
void gw_conn_accept(struct gw_worker *w, int fd, struct sockaddr *sa,
    int salen);
/* Frees the connection, its protocol state and its streams.  Called by
 * the protocol code on its close path; never twice. */
void gw_conn_free(struct gw_conn *c);
/* Asks a connection to finish in-flight work and close (shutdown). */
void gw_conn_shutdown(struct gw_conn *c);

/* True if c can park now: plaintext, not closing, nothing queued. */
bool gw_conn_can_park(const struct gw_conn *c);
/* Frees c's bufferevent and keeps its socket, which `ev` (the caller's,
 * not pending) then watches for reading, with timeout idle_ns (0: none),
 * calling cb(fd, what, arg). */
void gw_conn_park(struct gw_conn *c, struct event *ev,
    void (*cb)(int, short, void *), void *arg, int64_t idle_ns);
/* Undoes gw_conn_park: ev becomes an event without a socket calling cb;
 * c->bev a new socket bufferevent, attached to the worker's flusher, with
 * nothing enabled and no callbacks.  -1 if that fails: c is then to be
 * freed. */
int gw_conn_unpark(struct gw_conn *c, struct event *ev,
    void (*cb)(int, short, void *), void *arg);

#endif
