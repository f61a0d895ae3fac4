/*
 * conn.h: one client connection.  Owned by its worker from accept to
 * close; it owns its bufferevent and its protocol state (HTTP/1.1 or an
 * nghttp2 session), which owns the connection's streams.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "sockio.h"

struct bufferevent;
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

#endif
