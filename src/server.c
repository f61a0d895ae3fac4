/*
 * server.c: the running gateway.  The main thread owns the listening
 * sockets, the signals and the current routes; workers serve.
 *
 * SIGHUP: the config file is parsed again here, off the workers' path; if
 * it is invalid the old one stays and the errors are logged; if valid,
 * each worker swaps its routes at its next loop turn.  Streams in flight
 * keep the routes they started with (refcounted).  The listening port
 * does not change on reload.
 * SIGTERM/SIGINT: workers stop accepting, tell clients (Connection:
 * close, GOAWAY), let in-flight requests finish within the grace period,
 * and the process exits 0.
 */
#define GW_LOG_MODULE "server"
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "gw.h"
#include "log.h"
#include "route.h"
#include "tls.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

#define GW_GRACE_NS (10 * GW_NS_PER_S)

struct server {
	const char *path;
	struct event_base *base;
	struct gw_worker **workers;
	int nworkers;
	struct gw_routes *routes;
	uint16_t port;
};

static void
notify(const char *state)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

/*
 * Opens the listening socket: the configured address, or every address
 * (IPv6 any with v4-mapped, falling back to IPv4 any where IPv6 is off).
 */
static int
listen_socket(const char *ip, uint16_t port, char **cause)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8];
	int fd = -1, one = 1, zero = 0, rc, err = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = ip != NULL ? AF_UNSPEC : AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(ip, portstr, &hints, &res);
	if (rc != 0 && ip == NULL) {
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, portstr, &hints, &res);
	}
	if (rc != 0) {
		xasprintf(cause, "listen address %s: %s", ip ? ip : "*",
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0 && ai->ai_family == AF_INET6 && ip == NULL) {
			/* No IPv6 here: listen on IPv4 instead. */
			struct sockaddr_in sin = { .sin_family = AF_INET,
			    .sin_port = htons(port) };

			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, 0);
			if (fd < 0) {
				err = errno;
				continue;
			}
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			    sizeof(one));
			if (bind(fd, (struct sockaddr *)&sin,
			    sizeof(sin)) == 0 && listen(fd, 1024) == 0)
				break;
			err = errno;
			close(fd);
			fd = -1;
			continue;
		}
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
			    sizeof(zero));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		xasprintf(cause, "cannot listen on %s:%u: %s", ip ? ip : "*",
		    port, strerror(err));
	return fd;
}

static void
apply_logging(const struct gw_config *cfg)
{
	const struct gw_logging_config *lc = &cfg->logging;

	gw_log_configure(lc->level, lc->prefix, lc->use_stdout,
	    lc->use_syslog);
}

static void
log_notices(const struct gw_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nnotices; i++)
		log_info("%s", cfg->notices[i]);
}

static void
reload(struct server *s)
{
	struct gw_config_errors errs = { 0 };
	struct gw_config *cfg = NULL;
	struct gw_routes *routes;
	char *cause = NULL;
	size_t i;
	int w;

	notify("RELOADING=1");
	log_info("reloading %s", s->path);
	if (gw_config_load_file(s->path, &cfg, &errs) != 0) {
		for (i = 0; i < errs.n; i++)
			log_error("%s", errs.msgs[i]);
		log_error("reload failed: keeping the running config");
		gw_config_errors_clear(&errs);
		notify("READY=1");
		return;
	}
	if ((routes = gw_routes_create(cfg, &cause)) == NULL) {
		log_error("%s: %s; keeping the running config", s->path,
		    cause);
		free(cause);
		gw_config_unref(cfg);
		notify("READY=1");
		return;
	}
	log_notices(cfg);
	if (cfg->port != s->port)
		log_warn("port %u -> %u needs a restart; still on %u",
		    s->port, cfg->port, s->port);
	for (w = 0; w < s->nworkers; w++)
		gw_worker_post_routes(s->workers[w], routes);
	gw_routes_unref(s->routes);
	s->routes = routes;
	gw_config_unref(cfg);
	log_info("reloaded: %zu endpoints", routes->nroutes);
	notify("READY=1");
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	if (sig == SIGHUP) {
		reload(s);
		return;
	}
	log_info("%s: stopping gracefully", sig == SIGTERM ? "SIGTERM" :
	    "SIGINT");
	notify("STOPPING=1");
	event_base_loopbreak(s->base);
}

int
gw_server_run(struct gw_config *cfg, const char *path, int nworkers)
{
	struct gw_worker_settings set = {
		.header_timeout_ns = 10 * GW_NS_PER_S,
		.idle_timeout_ns = 75 * GW_NS_PER_S,
		.body_timeout_ns = 60 * GW_NS_PER_S,
		.grace_ns = GW_GRACE_NS,
		.max_concurrent_streams = 100,
		.pool_max_idle = 1024,
		.pool_idle_timeout_ns = 90 * GW_NS_PER_S,
		.pool_connect_timeout_ns = 10 * GW_NS_PER_S,
	};
	struct event *sigs[3];
	sigset_t mask;
	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	SSL_CTX *server_tls = NULL, *client_tls;
	struct server s = { .path = path, .port = cfg->port };
	char *cause = NULL;
	int fd, i, rc = -1;

	apply_logging(cfg);
	log_notices(cfg);
	signal(SIGPIPE, SIG_IGN);
	if (cfg->read_header_timeout_ns > 0)
		set.header_timeout_ns = cfg->read_header_timeout_ns;
	if (cfg->idle_timeout_ns > 0)
		set.idle_timeout_ns = cfg->idle_timeout_ns;
	if (cfg->read_timeout_ns > 0)
		set.body_timeout_ns = cfg->read_timeout_ns;
	if (cfg->max_idle_connections_per_host > 0)
		set.pool_max_idle = cfg->max_idle_connections_per_host;
	if (cfg->idle_connection_timeout_ns > 0)
		set.pool_idle_timeout_ns = cfg->idle_connection_timeout_ns;
	if (cfg->dialer_timeout_ns > 0)
		set.pool_connect_timeout_ns = cfg->dialer_timeout_ns;

	if ((s.routes = gw_routes_create(cfg, &cause)) == NULL) {
		log_error("%s: %s", path, cause);
		free(cause);
		return -1;
	}
	if (cfg->tls != NULL && !cfg->tls->disabled &&
	    (server_tls = gw_tls_server_ctx_create(cfg->tls, &cause)) ==
	    NULL) {
		log_error("%s", cause);
		free(cause);
		gw_routes_unref(s.routes);
		return -1;
	}
	client_tls = gw_upstream_tls_ctx_create();
	if ((fd = listen_socket(cfg->listen_ip, cfg->port, &cause)) < 0) {
		log_error("%s", cause);
		free(cause);
		goto out_tls;
	}
	if (nworkers <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		nworkers = n > 0 ? (int)GW_MIN(n, 64) : 1;
	}
	/* Signals are ours before the first worker answers anything: a
	 * SIGHUP or SIGTERM sent as soon as /__health answers must reload
	 * or stop, never meet the default action. */
	s.base = event_base_new();
	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(s.base, signums[i], signal_cb, &s);
		evsignal_add(sigs[i], NULL);
	}
	s.workers = xcalloc((size_t)nworkers, sizeof(*s.workers));
	for (i = 0; i < nworkers; i++) {
		s.workers[i] = gw_worker_create(i, &fd, 1, s.routes,
		    server_tls, client_tls, &set);
		if (gw_worker_start(s.workers[i]) != 0) {
			log_error("cannot start worker %d", i);
			abort();
		}
		s.nworkers++;
	}
	log_info("%s: listening on %s:%u (%s) with %d worker%s, %zu "
	    "endpoints", cfg->name ? cfg->name : "gateway",
	    cfg->listen_ip ? cfg->listen_ip : "*", cfg->port,
	    server_tls ? "TLS, h2 + http/1.1" : "h2c + http/1.1", nworkers,
	    nworkers == 1 ? "" : "s", s.routes->nroutes);
	notify("READY=1");

	event_base_dispatch(s.base);

	/* Stopping: no new connections anywhere, then drain. */
	close(fd);
	for (i = 0; i < s.nworkers; i++)
		gw_worker_post_stop(s.workers[i]);
	for (i = 0; i < s.nworkers; i++)
		gw_worker_join_destroy(s.workers[i]);
	/* Freeing the signal events restores the default actions: a second
	 * SIGTERM from an impatient supervisor would then kill the process
	 * mid-teardown and turn a clean stop into a crash.  Blocked, it is
	 * simply never delivered. */
	sigemptyset(&mask);
	for (i = 0; i < 3; i++)
		sigaddset(&mask, signums[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	free(s.workers);
	event_base_free(s.base);
	log_info("stopped");
	rc = 0;
out_tls:
	SSL_CTX_free(client_tls);
	SSL_CTX_free(server_tls);
	gw_routes_unref(s.routes);
	return rc;
}
