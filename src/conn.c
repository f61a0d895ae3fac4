/*
 * conn.c: accepts a client connection and decides its protocol.
 *
 * TLS: ALPN decides ("h2" or HTTP/1.1).  Plaintext: the first bytes do:
 * the HTTP/2 connection preface (RFC 9113 3.4) means h2c with prior
 * knowledge; anything else is HTTP/1.1, which may still upgrade to h2c.
 */
#define GW_LOG_MODULE "conn"
#include "conn.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "gw.h"
#include "h1_server.h"
#include "h2_server.h"
#include "log.h"
#include "worker.h"
#include "xmalloc.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void
sniff_read_cb(struct bufferevent *bev, void *arg)
{
	struct gw_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in), n;
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	unsigned char *p;

	if (c->tls) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
		if (alpn_len == 2 && memcmp(alpn, "h2", 2) == 0)
			gw_h2_server_start(c);
		else
			gw_h1_server_start(c);
		return;
	}
	n = GW_MIN(len, sizeof(h2_preface) - 1);
	p = evbuffer_pullup(in, (ev_ssize_t)n);
	if (memcmp(p, h2_preface, n) != 0) {
		gw_h1_server_start(c);
		return;
	}
	if (n == sizeof(h2_preface) - 1)
		gw_h2_server_start(c);
	/* else: a prefix of the preface; wait for the rest. */
}

static void
sniff_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gw_conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	if ((what & BEV_EVENT_ERROR) && c->tls)
		log_debug("%s: TLS handshake failed", c->peer_ip);
	gw_conn_free(c);
}

void
gw_conn_accept(struct gw_worker *w, int fd, struct sockaddr *sa, int salen)
{
	struct gw_conn *c;
	struct timeval tv;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = xcalloc(1, sizeof(*c));
	c->worker = w;
	c->parked_fd = -1;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, c->peer_ip,
		    sizeof(c->peer_ip));
		c->peer_port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

		/* A v4 client on a dual-stack socket: log it as v4. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12],
			    c->peer_ip, sizeof(c->peer_ip));
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, c->peer_ip,
			    sizeof(c->peer_ip));
		c->peer_port = ntohs(sin6->sin6_port);
	} else
		strcpy(c->peer_ip, "unix");

	if (w->server_tls != NULL) {
		SSL *ssl = SSL_new(w->server_tls);

		c->tls = true;
		c->bev = bufferevent_openssl_socket_new(w->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else
		c->bev = bufferevent_socket_new(w->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	gw_worker_conn_add(w, c);
	w->stats.conns_accepted++;
	/* Until the protocol is known, the header timeout applies. */
	tv.tv_sec = w->header_timeout_ns / GW_NS_PER_S;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_setcb(c->bev, sniff_read_cb, NULL, sniff_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	gw_sockio_attach(&c->sockio, &w->flusher, c->bev, c->tls);
}

void
gw_conn_free(struct gw_conn *c)
{
	switch (c->proto) {
	case GW_PROTO_H1:
		gw_h1_server_free(c);
		break;
	case GW_PROTO_H2:
		gw_h2_server_free(c);
		break;
	case GW_PROTO_SNIFF:
		break;
	}
	gw_worker_conn_remove(c->worker, c);
	if (c->bev != NULL) {
		gw_sockio_detach(&c->sockio);
		bufferevent_free(c->bev);
	}
	if (c->parked_fd != -1)
		close(c->parked_fd);
	free(c);
}

bool
gw_conn_can_park(const struct gw_conn *c)
{
	return c->bev != NULL && !c->tls && !c->closing &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

void
gw_conn_park(struct gw_conn *c, struct event *ev,
    void (*cb)(int, short, void *), void *arg, int64_t idle_ns)
{
	struct timeval tv;
	int fd = bufferevent_getfd(c->bev);

	gw_sockio_detach(&c->sockio);
	/* Keeps the socket open through the free. */
	bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->parked_fd = fd;
	event_assign(ev, c->worker->base, fd, EV_READ, cb, arg);
	tv.tv_sec = idle_ns / GW_NS_PER_S;
	tv.tv_usec = (idle_ns % GW_NS_PER_S) / 1000;
	event_add(ev, idle_ns > 0 ? &tv : NULL);
}

int
gw_conn_unpark(struct gw_conn *c, struct event *ev,
    void (*cb)(int, short, void *), void *arg)
{
	int fd = c->parked_fd;

	event_del(ev);
	event_assign(ev, c->worker->base, -1, 0, cb, arg);
	c->bev = bufferevent_socket_new(c->worker->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		return -1;       /* parked_fd is closed with c */
	c->parked_fd = -1;
	gw_sockio_attach(&c->sockio, &c->worker->flusher, c->bev, false);
	return 0;
}

void
gw_conn_shutdown(struct gw_conn *c)
{
	c->closing = true;
	switch (c->proto) {
	case GW_PROTO_H1:
		gw_h1_server_shutdown(c);
		break;
	case GW_PROTO_H2:
		gw_h2_server_shutdown(c);
		break;
	case GW_PROTO_SNIFF:
		gw_conn_free(c);
		break;
	}
}
