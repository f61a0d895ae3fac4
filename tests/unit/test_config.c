/*
 * test_config.c: the configuration loader.
 *
 * Inline configs are written with single quotes and turned into JSON by
 * json() below, so that they stay readable; none of them needs a literal
 * single quote.  Every rejection test checks the JSON path the message
 * names, because that path is what an operator follows to the mistake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "config.h"
#include "gw.h"
#include "log.h"

#define NS_S INT64_C(1000000000)

/* Name that inline configs carry in messages. */
#define T_FILE "t.json"

/* Directory of the compat configs, found in main(). */
static char compat_dir[4096];

/* A minimal valid endpoint, to build configs from. */
#define EP_A "{'endpoint': '/a', 'backend': [{'host': ['http://h']}]}"
/* The same, left open for more keys. */
#define EP_A_OPEN "{'endpoint': '/a', 'backend': [{'host': ['http://h']}], "

/* Returns an allocated copy of `s` with every ' turned into ". */
static char *
json(const char *s)
{
	char *j = strdup(s), *p;

	assert_non_null(j);
	for (p = j; *p != '\0'; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return j;
}

static void
print_errors(const struct gw_config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		print_message("  %s\n", errs->msgs[i]);
}

static struct gw_config *
load_ok(const char *text)
{
	struct gw_config_errors errs = { NULL, 0 };
	struct gw_config *cfg = NULL;
	char *j = json(text);
	int rc;

	rc = gw_config_load_string(j, T_FILE, &cfg, &errs);
	free(j);
	if (rc != 0) {
		print_errors(&errs);
		gw_config_errors_clear(&errs);
		fail_msg("the config was rejected");
	}
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	return cfg;
}

/*
 * Loads a config that must fail and returns its errors (caller clears).
 */
static struct gw_config_errors
load_bad(const char *text)
{
	struct gw_config_errors errs = { NULL, 0 };
	struct gw_config *cfg = (struct gw_config *)&errs;
	char *j = json(text);
	int rc;

	rc = gw_config_load_string(j, T_FILE, &cfg, &errs);
	free(j);
	if (rc == 0) {
		gw_config_unref(cfg);
		fail_msg("the config was accepted");
	}
	assert_int_equal(rc, -1);
	assert_null(cfg);
	assert_true(errs.n > 0);
	return errs;
}

/* True when some message is "t.json: PATH: ..." and contains `text`. */
static bool
has_error(const struct gw_config_errors *errs, const char *path,
    const char *text)
{
	char prefix[512];
	size_t i;

	if (path != NULL && *path != '\0')
		snprintf(prefix, sizeof(prefix), "%s: %s: ", T_FILE, path);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", T_FILE);
	for (i = 0; i < errs->n; i++) {
		if (strncmp(errs->msgs[i], prefix, strlen(prefix)) == 0 &&
		    strstr(errs->msgs[i] + strlen(prefix), text) != NULL)
			return true;
	}
	return false;
}

/*
 * Asserts that `text` fails with one error at `path` containing `want`.
 * One error exactly: a second one would mean the first cascaded.
 */
static void
expect_error(const char *text, const char *path, const char *want)
{
	struct gw_config_errors errs = load_bad(text);

	if (!has_error(&errs, path, want) || errs.n != 1) {
		print_message("wanted one error \"%s: %s: ...%s...\", got:\n",
		    T_FILE, path, want);
		print_errors(&errs);
		gw_config_errors_clear(&errs);
		fail();
	}
	gw_config_errors_clear(&errs);
}

/* Wraps endpoints in a valid service. */
static char *
with_endpoints(const char *eps)
{
	char *s;

	if (asprintf(&s, "{'version': 3, 'endpoints': [%s]}", eps) == -1)
		abort();
	return s;
}

static void
expect_ep_error(const char *eps, const char *path, const char *want)
{
	char *s = with_endpoints(eps);

	expect_error(s, path, want);
	free(s);
}

static struct gw_config *
load_eps_ok(const char *eps)
{
	char *s = with_endpoints(eps);
	struct gw_config *cfg = load_ok(s);

	free(s);
	return cfg;
}

static size_t
count_notices(const struct gw_config *cfg, const char *text)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->nnotices; i++) {
		if (strstr(cfg->notices[i], text) != NULL)
			n++;
	}
	return n;
}

/* --- compat configs ---------------------------------------------------- */

static struct gw_config *
load_compat(const char *name)
{
	struct gw_config_errors errs = { NULL, 0 };
	struct gw_config *cfg = NULL;
	char path[8192];

	snprintf(path, sizeof(path), "%s/%s", compat_dir, name);
	if (gw_config_load_file(path, &cfg, &errs) != 0) {
		print_errors(&errs);
		gw_config_errors_clear(&errs);
		fail_msg("%s was rejected", path);
	}
	assert_non_null(cfg);
	assert_string_equal(cfg->path, path);
	return cfg;
}

static void
compat_hanzo(void **state)
{
	struct gw_config *cfg = load_compat("hanzo-gateway.json");
	const struct gw_endpoint_config *ep;
	size_t i, nrl = 0;

	(void)state;
	assert_int_equal(cfg->nendpoints, 193);
	assert_int_equal(cfg->port, 8080);
	assert_int_equal(cfg->timeout_ns, 120 * NS_S);
	assert_int_equal(cfg->output_encoding, GW_ENC_NOOP);
	assert_true(cfg->router.return_error_msg);
	assert_non_null(cfg->ratelimit);
	assert_true(cfg->ratelimit->max_rate == 5000);
	assert_true(cfg->ratelimit->client_max_rate == 100);
	assert_int_equal(cfg->logging.level, GW_LOG_INFO);
	assert_string_equal(cfg->logging.prefix, "[GATEWAY]");
	assert_true(cfg->logging.use_stdout);
	for (i = 0; i < cfg->nendpoints; i++) {
		ep = &cfg->endpoints[i];
		assert_int_equal(ep->index, i);
		assert_int_equal(ep->nbackends, 1);
		assert_non_null(ep->ratelimit);
		if (ep->own_ratelimit != NULL) {
			nrl++;
			assert_ptr_equal(ep->ratelimit, ep->own_ratelimit);
			assert_int_equal(ep->ratelimit->every_ns, 60 * NS_S);
		} else
			assert_ptr_equal(ep->ratelimit, cfg->ratelimit);
	}
	assert_int_equal(nrl, 65);
	/* Each ignored namespace is one notice, however often it appears. */
	assert_int_equal(count_notices(cfg, "\"auth/validator\""), 1);
	assert_int_equal(count_notices(cfg, "(156 places)"), 1);
	assert_int_equal(count_notices(cfg, "\"telemetry/opentelemetry\""), 1);
	assert_int_equal(count_notices(cfg,
	    "\"github.com/hanzoai/gateway/zap\""), 1);
	assert_int_equal(cfg->nnotices, 3);
	gw_config_unref(cfg);
}

static void
compat_lux(void **state)
{
	struct gw_config *cfg = load_compat("lux-gateway.json");

	(void)state;
	assert_int_equal(cfg->nendpoints, 14);
	assert_int_equal(cfg->timeout_ns, 30 * NS_S);
	assert_true(cfg->endpoints[0].input_headers_set);
	assert_true(cfg->endpoints[0].input_headers.all);
	assert_int_equal(count_notices(cfg, "\"auth/public\""), 1);
	assert_int_equal(cfg->nnotices, 1);
	gw_config_unref(cfg);
}

static void
compat_lux_rpc(void **state)
{
	struct gw_config *cfg = load_compat("lux-rpc-gateway.json");
	const struct gw_backend_config *be;

	(void)state;
	assert_int_equal(cfg->nendpoints, 5);
	assert_string_equal(cfg->endpoints[2].endpoint,
	    "/testnet/ext/bc/C/rpc");
	be = &cfg->endpoints[2].backends[0];
	assert_int_equal(be->nhosts, 1);
	assert_string_equal(be->hosts[0].name,
	    "luxd.lux-testnet.svc.cluster.local");
	assert_int_equal(be->hosts[0].port, 9640);
	assert_false(be->hosts[0].tls);
	assert_int_equal(be->encoding, GW_ENC_NOOP);
	assert_int_equal(cfg->nnotices, 0);
	gw_config_unref(cfg);
}

static void
compat_example(void **state)
{
	struct gw_config *cfg = load_compat("example-gateway.json");

	(void)state;
	assert_int_equal(cfg->nendpoints, 6);
	assert_int_equal(cfg->endpoints[0].output_encoding, GW_ENC_JSON);
	assert_int_equal(cfg->endpoints[2].output_encoding, GW_ENC_NOOP);
	gw_config_unref(cfg);
}

static void
compat_liquidity(void **state)
{
	struct gw_config *cfg = load_compat("liquidity-gateway.json");
	const struct gw_cors_config *c;

	(void)state;
	assert_int_equal(cfg->nendpoints, 0);
	c = cfg->cors;
	assert_non_null(c);
	assert_int_equal(c->allow_origins.n, 7);
	assert_false(c->allow_origins.all);
	assert_string_equal(c->allow_origins.v[1], "https://*.liquidity.io");
	assert_int_equal(c->max_age_ns, 12 * 3600 * NS_S);
	assert_int_equal(c->allow_methods.n, 6);
	assert_string_equal(c->allow_methods.v[5], "OPTIONS");
	assert_int_equal(c->allow_headers.n, 8);
	assert_int_equal(c->expose_headers.n, 2);
	assert_string_equal(c->expose_headers.v[1], "X-Request-ID");
	assert_int_equal(c->options_success_status, 204);
	assert_false(c->allow_credentials);
	gw_config_unref(cfg);
}

/* --- defaults and inheritance ------------------------------------------ */

static void
defaults(void **state)
{
	struct gw_config *cfg = load_eps_ok(EP_A);
	const struct gw_endpoint_config *ep = &cfg->endpoints[0];
	const struct gw_backend_config *be = &ep->backends[0];

	(void)state;
	assert_string_equal(cfg->path, "<string>");
	assert_null(cfg->name);
	assert_int_equal(cfg->port, 8080);
	assert_null(cfg->listen_ip);
	assert_int_equal(cfg->timeout_ns, 2 * NS_S);
	assert_int_equal(cfg->output_encoding, GW_ENC_JSON);
	assert_null(cfg->tls);
	assert_null(cfg->cors);
	assert_null(cfg->ratelimit);
	assert_false(cfg->router.return_error_msg);
	assert_string_equal(cfg->router.health_path, "/__health");
	assert_false(cfg->router.disable_health);
	assert_int_equal(cfg->router.max_clients, 100000);
	assert_int_equal(cfg->router.trusted_proxies.n, 0);
	assert_int_equal(cfg->router.remote_ip_headers.n, 1);
	assert_string_equal(cfg->router.remote_ip_headers.v[0],
	    "X-Forwarded-For");
	assert_int_equal(cfg->logging.level, GW_LOG_INFO);
	assert_null(cfg->logging.prefix);
	assert_false(cfg->logging.use_stdout);
	assert_false(cfg->logging.use_syslog);
	assert_int_equal(cfg->read_timeout_ns, 0);
	assert_int_equal(cfg->nnotices, 0);

	assert_string_equal(ep->endpoint, "/a");
	assert_string_equal(ep->method, "GET");
	assert_int_equal(ep->timeout_ns, 2 * NS_S);
	assert_int_equal(ep->output_encoding, GW_ENC_JSON);
	assert_false(ep->input_headers_set);
	assert_int_equal(ep->input_query_strings.n, 0);
	assert_null(ep->ratelimit);
	assert_null(ep->own_ratelimit);

	assert_string_equal(be->url_pattern, "/");
	assert_int_equal(be->encoding, GW_ENC_JSON);
	assert_null(be->method);
	assert_null(be->breaker);
	assert_int_equal(be->nhosts, 1);
	assert_string_equal(be->hosts[0].url, "http://h");
	assert_string_equal(be->hosts[0].name, "h");
	assert_int_equal(be->hosts[0].port, 80);
	assert_false(be->hosts[0].tls);
	gw_config_unref(cfg);
}

static void
service_settings(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'name': 'gw', "
	    "'port': 9000, 'listen_ip': '::1', 'timeout': '3s', "
	    "'echo_endpoint': true, 'read_timeout': '1m', "
	    "'write_timeout': '2m', 'idle_timeout': '90s', "
	    "'read_header_timeout': '5s', 'dialer_timeout': '1s', "
	    "'idle_connection_timeout': '30s', "
	    "'max_idle_connections_per_host': 64, "
	    "'$schema': 'https://www.krakend.io/schema/v3.json', "
	    "'endpoints': []}");

	(void)state;
	assert_string_equal(cfg->name, "gw");
	assert_int_equal(cfg->port, 9000);
	assert_string_equal(cfg->listen_ip, "::1");
	assert_int_equal(cfg->timeout_ns, 3 * NS_S);
	assert_true(cfg->echo_endpoint);
	assert_false(cfg->debug_endpoint);
	assert_int_equal(cfg->read_timeout_ns, 60 * NS_S);
	assert_int_equal(cfg->write_timeout_ns, 120 * NS_S);
	assert_int_equal(cfg->idle_timeout_ns, 90 * NS_S);
	assert_int_equal(cfg->read_header_timeout_ns, 5 * NS_S);
	assert_int_equal(cfg->dialer_timeout_ns, NS_S);
	assert_int_equal(cfg->idle_connection_timeout_ns, 30 * NS_S);
	assert_int_equal(cfg->max_idle_connections_per_host, 64);
	/* "$schema" is silent. */
	assert_int_equal(cfg->nnotices, 0);
	gw_config_unref(cfg);
}

static void
inherit_output_encoding(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, "
	    "'output_encoding': 'no-op', 'endpoints': [" EP_A ", "
	    "{'endpoint': '/b', 'output_encoding': 'json', 'backend': ["
	    "{'host': ['http://h']}, {'host': ['http://h']}]}]}");

	(void)state;
	assert_int_equal(cfg->output_encoding, GW_ENC_NOOP);
	assert_int_equal(cfg->endpoints[0].output_encoding, GW_ENC_NOOP);
	assert_int_equal(cfg->endpoints[1].output_encoding, GW_ENC_JSON);
	assert_int_equal(cfg->endpoints[1].nbackends, 2);
	gw_config_unref(cfg);
}

static void
inherit_timeout(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'timeout': '10s', "
	    "'endpoints': [" EP_A ", {'endpoint': '/b', 'timeout': '1500ms', "
	    "'backend': [{'host': ['http://h']}]}]}");

	(void)state;
	assert_int_equal(cfg->endpoints[0].timeout_ns, 10 * NS_S);
	assert_int_equal(cfg->endpoints[1].timeout_ns, 1500 * 1000000LL);
	gw_config_unref(cfg);
}

static void
inherit_ratelimit(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'extra_config': {"
	    "'qos/ratelimit/router': {'max_rate': 50, 'client_max_rate': 5, "
	    "'every': '10m', 'strategy': 'ip'}}, 'endpoints': [" EP_A ", "
	    "{'endpoint': '/b/{tenant}', 'backend': [{'host': ['http://h']}], "
	    "'extra_config': {'qos/ratelimit/router': {'client_max_rate': 2.5, "
	    "'client_capacity': 10, 'strategy': 'param', 'key': 'tenant'}}}]}");
	const struct gw_ratelimit_config *rl;

	(void)state;
	rl = cfg->ratelimit;
	assert_non_null(rl);
	assert_true(rl->max_rate == 50);
	assert_true(rl->client_max_rate == 5);
	assert_int_equal(rl->every_ns, 600 * NS_S);
	assert_int_equal(rl->strategy, GW_RL_STRATEGY_IP);
	assert_null(rl->key);
	assert_int_equal(rl->capacity, 0);

	assert_ptr_equal(cfg->endpoints[0].ratelimit, cfg->ratelimit);
	assert_null(cfg->endpoints[0].own_ratelimit);

	/* The endpoint's replaces the service's as a whole. */
	rl = cfg->endpoints[1].ratelimit;
	assert_ptr_equal(rl, cfg->endpoints[1].own_ratelimit);
	assert_true(rl->max_rate == 0);
	assert_true(rl->client_max_rate == 2.5);
	assert_int_equal(rl->client_capacity, 10);
	assert_int_equal(rl->every_ns, NS_S);
	assert_int_equal(rl->strategy, GW_RL_STRATEGY_PARAM);
	assert_string_equal(rl->key, "tenant");
	gw_config_unref(cfg);
}

static void
default_hosts(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'host': "
	    "['https://a.example:8443', 'http://[2001:db8::1]'], "
	    "'endpoints': [{'endpoint': '/a', 'backend': [{}]}, "
	    "{'endpoint': '/b', 'backend': [{'host': []}]}, "
	    "{'endpoint': '/c', 'backend': [{'host': ['http://own']}]}]}");
	const struct gw_backend_config *be;
	size_t i;

	(void)state;
	assert_int_equal(cfg->default_hosts.n, 2);
	for (i = 0; i < 2; i++) {
		be = &cfg->endpoints[i].backends[0];
		assert_int_equal(be->nhosts, 2);
		assert_string_equal(be->hosts[0].name, "a.example");
		assert_int_equal(be->hosts[0].port, 8443);
		assert_true(be->hosts[0].tls);
		assert_string_equal(be->hosts[1].name, "2001:db8::1");
		assert_int_equal(be->hosts[1].port, 80);
	}
	be = &cfg->endpoints[2].backends[0];
	assert_int_equal(be->nhosts, 1);
	assert_string_equal(be->hosts[0].name, "own");
	gw_config_unref(cfg);
}

/* h2c:// hosts: HTTP/2 with prior knowledge, port 80 by default, kept
 * when a backend inherits the service's hosts. */
static void
h2c_hosts(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'host': "
	    "['h2c://grpc.internal:50051'], "
	    "'endpoints': [{'endpoint': '/a', 'backend': [{}]}, "
	    "{'endpoint': '/b', 'backend': [{'host': ['H2C://own/', "
	    "'http://plain']}]}]}");
	const struct gw_backend_config *be;

	(void)state;
	be = &cfg->endpoints[0].backends[0];
	assert_int_equal(be->nhosts, 1);
	assert_string_equal(be->hosts[0].name, "grpc.internal");
	assert_int_equal(be->hosts[0].port, 50051);
	assert_true(be->hosts[0].h2);
	assert_false(be->hosts[0].tls);
	be = &cfg->endpoints[1].backends[0];
	assert_int_equal(be->nhosts, 2);
	assert_string_equal(be->hosts[0].name, "own");
	assert_int_equal(be->hosts[0].port, 80);
	assert_true(be->hosts[0].h2);
	assert_false(be->hosts[1].h2);
	gw_config_unref(cfg);
}

static void
endpoint_fields(void **state)
{
	struct gw_config *cfg = load_eps_ok("{'endpoint': '/u/{id}/*', "
	    "'method': 'patch', 'input_headers': ['Authorization', 'X-A'], "
	    "'input_query_strings': ['*'], 'concurrent_calls': 1, "
	    "'backend': [{'host': ['https://h/'], 'url_pattern': "
	    "'users/{id}?x={id}', 'method': 'post', 'encoding': 'no-op', "
	    "'disable_host_sanitize': true, 'extra_config': {"
	    "'qos/circuit-breaker': {'interval': 60, 'timeout': 10, "
	    "'max_errors': 3, 'name': 'cb', 'log_status_change': true}}}]}");
	const struct gw_endpoint_config *ep = &cfg->endpoints[0];
	const struct gw_backend_config *be = &ep->backends[0];

	(void)state;
	assert_string_equal(ep->method, "PATCH");
	assert_true(ep->input_headers_set);
	assert_int_equal(ep->input_headers.n, 2);
	assert_false(ep->input_headers.all);
	assert_true(ep->input_query_strings.all);
	assert_string_equal(be->url_pattern, "/users/{id}?x={id}");
	assert_string_equal(be->method, "POST");
	assert_int_equal(be->encoding, GW_ENC_NOOP);
	assert_true(be->disable_host_sanitize);
	assert_string_equal(be->hosts[0].url, "https://h/");
	assert_int_equal(be->hosts[0].port, 443);
	assert_non_null(be->breaker);
	assert_int_equal(be->breaker->interval_ns, 60 * NS_S);
	assert_int_equal(be->breaker->timeout_ns, 10 * NS_S);
	assert_int_equal(be->breaker->max_errors, 3);
	assert_string_equal(be->breaker->name, "cb");
	assert_true(be->breaker->log_status_change);
	gw_config_unref(cfg);
}

static void
breaker_without_max_errors(void **state)
{
	struct gw_config *cfg = load_eps_ok("{'endpoint': '/a', 'backend': "
	    "[{'host': ['http://h'], 'extra_config': {'qos/circuit-breaker': "
	    "{'interval': 5, 'timeout': 7}}}]}");
	const struct gw_breaker_config *b;

	(void)state;
	b = cfg->endpoints[0].backends[0].breaker;
	assert_int_equal(b->max_errors, 0);
	assert_null(b->name);
	assert_false(b->log_status_change);
	gw_config_unref(cfg);
}

static void
namespaces_parsed(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'extra_config': {"
	    "'router': {'health_path': '/healthz', 'disable_access_log': true, "
	    "'auto_options': true, 'trusted_proxies': ['10.0.0.0/8', "
	    "'192.168.1.1', 'fd00::/8', '::1'], 'remote_ip_headers': "
	    "['X-Real-IP'], 'max_clients': 5000, "
	    "'disable_redirect_fixed_path': true}, "
	    "'telemetry/logging': {'level': 'debug', 'syslog': true, "
	    "'syslog_facility': 'local5', 'format': 'logstash'}, "
	    "'security/cors': {'allow_origins': ['*'], "
	    "'allow_methods': ['get', 'PUT'], 'allow_credentials': true, "
	    "'options_success_status': 200, 'allow_private_network': true, "
	    "'debug': true, 'expose_headers': []}}, "
	    "'tls': {'public_key': 'c.pem', 'private_key': 'k.pem', "
	    "'min_version': 'TLS13'}, 'endpoints': []}");
	const struct gw_cors_config *c;

	(void)state;
	assert_string_equal(cfg->router.health_path, "/healthz");
	assert_true(cfg->router.disable_access_log);
	assert_true(cfg->router.auto_options);
	assert_int_equal(cfg->router.trusted_proxies.n, 4);
	assert_string_equal(cfg->router.remote_ip_headers.v[0], "X-Real-IP");
	assert_int_equal(cfg->router.remote_ip_headers.n, 1);
	assert_int_equal(cfg->router.max_clients, 5000);
	assert_int_equal(cfg->logging.level, GW_LOG_DEBUG);
	assert_true(cfg->logging.use_syslog);
	assert_string_equal(cfg->logging.syslog_facility, "local5");
	assert_string_equal(cfg->logging.format, "logstash");
	c = cfg->cors;
	assert_true(c->allow_origins.all);
	assert_string_equal(c->allow_methods.v[0], "GET");
	assert_string_equal(c->allow_methods.v[1], "PUT");
	assert_true(c->allow_credentials);
	assert_true(c->allow_private_network);
	assert_true(c->debug);
	assert_int_equal(c->options_success_status, 200);
	assert_int_equal(c->expose_headers.n, 0);
	assert_int_equal(c->max_age_ns, 0);
	assert_non_null(cfg->tls);
	assert_string_equal(cfg->tls->public_key, "c.pem");
	assert_string_equal(cfg->tls->private_key, "k.pem");
	assert_int_equal(cfg->tls->min_version, TLS1_3_VERSION);
	assert_int_equal(cfg->tls->max_version, 0);
	assert_false(cfg->tls->disabled);
	assert_int_equal(cfg->nnotices, 0);
	gw_config_unref(cfg);
}

/* An allow_origins entry that can never match an Origin is rejected with
 * its path; a valid exact, wildcard and "*" entry load. */
static void
cors_origin_malformed(void **state)
{
	struct gw_config *cfg;

	(void)state;
	expect_error("{'version': 3, 'extra_config': {'security/cors': "
	    "{'allow_origins': ['https://a.example.com', 'a.example.com']}}}",
	    "extra_config[\"security/cors\"].allow_origins[1]", "expected an origin");
	expect_error("{'version': 3, 'extra_config': {'security/cors': "
	    "{'allow_origins': ['https://a.example.com/']}}}",
	    "extra_config[\"security/cors\"].allow_origins[0]", "found");
	cfg = load_ok("{'version': 3, 'extra_config': {'security/cors': "
	    "{'allow_origins': ['https://a.example.com', "
	    "'https://*.example.com', 'http://localhost:3000']}}}");
	assert_int_equal(cfg->cors->allow_origins.n, 3);
	gw_config_unref(cfg);
}

static void
cors_defaults(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'extra_config': {"
	    "'security/cors': {}}}");
	const struct gw_cors_config *c = cfg->cors;

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->allow_origins.n, 0);
	assert_int_equal(c->allow_methods.n, 3);
	assert_string_equal(c->allow_methods.v[0], "GET");
	assert_string_equal(c->allow_methods.v[1], "HEAD");
	assert_string_equal(c->allow_methods.v[2], "POST");
	assert_int_equal(c->allow_headers.n, 0);
	assert_int_equal(c->expose_headers.n, 2);
	assert_int_equal(c->options_success_status, 204);
	assert_int_equal(c->max_age_ns, 0);
	assert_int_equal(cfg->nendpoints, 0);
	gw_config_unref(cfg);
}

static void
tls_forms(void **state)
{
	struct gw_config *cfg;

	(void)state;
	cfg = load_ok("{'version': 3, 'tls': {'keys': [{'public_key': 'a', "
	    "'private_key': 'b'}, {'public_key': 'c', 'private_key': 'd'}], "
	    "'min_version': 'TLS12', 'max_version': 'TLS13', "
	    "'cipher_suites': [4865]}}");
	assert_string_equal(cfg->tls->public_key, "a");
	assert_string_equal(cfg->tls->private_key, "b");
	assert_int_equal(cfg->tls->min_version, TLS1_2_VERSION);
	assert_int_equal(cfg->tls->max_version, TLS1_3_VERSION);
	assert_int_equal(count_notices(cfg, "only the first key pair"), 1);
	assert_int_equal(count_notices(cfg, "tls.cipher_suites: not "
	    "implemented"), 1);
	gw_config_unref(cfg);

	/* A disabled section is still checked, but loads as no TLS. */
	cfg = load_ok("{'version': 3, 'tls': {'disabled': true, "
	    "'public_key': 'a', 'private_key': 'b', 'min_version': 'TLS13'}}");
	assert_null(cfg->tls);
	gw_config_unref(cfg);
	expect_error("{'version': 3, 'tls': {'disabled': true, "
	    "'min_version': 'TLS9'}}", "tls.min_version", "found \"TLS9\"");

	cfg = load_ok("{'version': 3, 'tls': null}");
	assert_null(cfg->tls);
	gw_config_unref(cfg);

	cfg = load_ok("{'version': 3, 'tls': {'public_key': 'a', "
	    "'private_key': 'b', 'enable_mtls': true}}");
	assert_int_equal(count_notices(cfg, "NOT verified"), 1);
	assert_int_equal(cfg->nnotices, 1);
	gw_config_unref(cfg);
}

/* --- notices ----------------------------------------------------------- */

static void
notices_deduplicated(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'extra_config': {"
	    "'telemetry/opentelemetry': {'a': 1}, 'auth/validator': {}}, "
	    "'endpoints': [{'endpoint': '/a', 'extra_config': "
	    "{'auth/validator': {'alg': 'RS256'}, 'auth/public': true, "
	    "'proxy': {'sequential': true}}, 'backend': [{'host': "
	    "['http://h'], 'extra_config': {'github.com/x/y': {}, "
	    "'modifier/martian': {}}}]}, {'endpoint': '/b', 'extra_config': "
	    "{'auth/validator': {}, 'validation/json-schema': {}}, "
	    "'backend': [{'host': ['http://h'], 'extra_config': "
	    "{'github.com/x/y': 1}}]}]}");

	(void)state;
	assert_int_equal(count_notices(cfg, "\"auth/validator\""), 1);
	assert_int_equal(count_notices(cfg, "t.json: extra_config[\""
	    "auth/validator\"]: namespace \"auth/validator\" is not "
	    "implemented and is ignored (the gateway does not check "
	    "credentials) (3 places)"), 1);
	assert_int_equal(count_notices(cfg, "\"telemetry/opentelemetry\""),
	    1);
	assert_int_equal(count_notices(cfg, "\"auth/public\""), 1);
	assert_int_equal(count_notices(cfg, "\"proxy\""), 1);
	assert_int_equal(count_notices(cfg, "\"modifier/martian\""), 1);
	assert_int_equal(count_notices(cfg, "\"validation/json-schema\""), 1);
	assert_int_equal(count_notices(cfg, "t.json: endpoints[0].backend[0]"
	    ".extra_config[\"github.com/x/y\"]: namespace \"github.com/x/y\" "
	    "is not implemented and is ignored (2 places)"), 1);
	assert_int_equal(cfg->nnotices, 7);
	gw_config_unref(cfg);
}

static void
ignored_keys(void **state)
{
	struct gw_config *cfg;

	(void)state;
	/* Zero values ask for nothing: no notice. */
	cfg = load_ok("{'version': 3, 'cache_ttl': '0s', 'disable_rest': "
	    "false, 'sequential_start': true, 'endpoints': [{'endpoint': "
	    "'/a', 'cache_ttl': '0s', 'backend': [{'host': ['http://h'], "
	    "'sd': 'static', 'is_collection': false, 'allow': []}]}], "
	    "'extra_config': {'router': {'hide_version_header': true}, "
	    "'qos/ratelimit/router': {'max_rate': 1, 'num_shards': 8}}}");
	assert_int_equal(cfg->nnotices, 0);
	gw_config_unref(cfg);

	cfg = load_ok("{'version': 3, 'cache_ttl': '1m', 'use_h2c': true, "
	    "'dialer_keep_alive': '-1s', 'endpoints': [{'endpoint': '/a', "
	    "'concurrent_calls': 3, 'backend': [{'host': ['http://h'], "
	    "'target': 'data', 'group': 'g', 'sd': 'dns'}]}, {'endpoint': "
	    "'/b', 'backend': [{'host': ['http://h'], 'target': 'x'}]}], "
	    "'extra_config': {'router': {'logger_skip_paths': ['/x']}}}");
	assert_int_equal(count_notices(cfg, "t.json: cache_ttl: not "
	    "implemented; ignored"), 1);
	assert_int_equal(count_notices(cfg, "use_h2c"), 1);
	assert_int_equal(count_notices(cfg, "dialer_keep_alive"), 1);
	assert_int_equal(count_notices(cfg, "concurrent_calls"), 1);
	assert_int_equal(count_notices(cfg, "backend[0].target: not "
	    "implemented; ignored (2 places)"), 1);
	assert_int_equal(count_notices(cfg, ".group:"), 1);
	assert_int_equal(count_notices(cfg, ".sd:"), 1);
	assert_int_equal(count_notices(cfg, "logger_skip_paths"), 1);
	assert_int_equal(cfg->nnotices, 8);
	gw_config_unref(cfg);
}

static void
encoding_notice(void **state)
{
	struct gw_config *cfg = load_eps_ok("{'endpoint': '/a', "
	    "'output_encoding': 'xml', 'backend': [{'host': ['http://h'], "
	    "'encoding': 'xml'}]}, {'endpoint': '/b', 'output_encoding': "
	    "'negotiate', 'backend': [{'host': ['http://h'], 'encoding': "
	    "'safejson'}]}");

	(void)state;
	assert_int_equal(cfg->endpoints[0].output_encoding, GW_ENC_XML);
	assert_int_equal(cfg->endpoints[0].backends[0].encoding, GW_ENC_XML);
	assert_int_equal(cfg->endpoints[1].output_encoding, GW_ENC_NEGOTIATE);
	assert_int_equal(count_notices(cfg, "encoding \"xml\""), 1);
	assert_int_equal(count_notices(cfg, "encoding \"negotiate\""), 1);
	assert_int_equal(count_notices(cfg, "encoding \"safejson\""), 1);
	assert_int_equal(cfg->nnotices, 3);
	assert_string_equal(gw_encoding_name(GW_ENC_NOOP), "no-op");
	assert_string_equal(gw_encoding_name(GW_ENC_FAST_JSON), "fast-json");
	assert_string_equal(gw_encoding_name(GW_ENC_JSON_COLLECTION),
	    "json-collection");
	gw_config_unref(cfg);
}

/* --- rejections -------------------------------------------------------- */

static void
reject_version(void **state)
{
	(void)state;
	expect_error("{'endpoints': []}", "", "missing \"version\"");
	expect_error("{'version': 2}", "version", "expected 3");
	expect_error("{'version': '3'}", "version",
	    "expected integer, found string \"3\"");
}

static void
reject_not_json(void **state)
{
	struct gw_config_errors errs;

	(void)state;
	errs = load_bad("{'version': 3,\n 'port': }");
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msgs[0], "t.json: invalid JSON: "));
	assert_non_null(strstr(errs.msgs[0], "(line 2, column"));
	gw_config_errors_clear(&errs);

	expect_error("[1, 2]", "", "expected an object at the top level, "
	    "found array");
	errs = load_bad("{'version': 3, 'port': 1, 'port': 2}");
	assert_non_null(strstr(errs.msgs[0], "duplicate object key"));
	gw_config_errors_clear(&errs);
}

static void
reject_endpoint_path(void **state)
{
	(void)state;
	expect_ep_error("{'endpoint': 'a/b', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint",
	    "must start with \"/\", found \"a/b\"");
	expect_ep_error("{'backend': [{'host': ['http://h']}]}",
	    "endpoints[0]", "missing \"endpoint\"");
	expect_ep_error(EP_A ", {'endpoint': '/a//b', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[1].endpoint", "empty path segment");
	expect_ep_error("{'endpoint': '/a/{x}.json', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint",
	    "a placeholder must be a whole path segment");
	expect_ep_error("{'endpoint': '/a/{x}/{x}', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint",
	    "placeholder defined twice");
	expect_ep_error("{'endpoint': '/a/{}', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint", "empty placeholder");
	expect_ep_error("{'endpoint': '/a?b=1', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint",
	    "invalid character in the path");
	expect_ep_error("{'endpoint': 5, 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint",
	    "expected string, found integer 5");
}

static void
reject_wildcard(void **state)
{
	struct gw_config *cfg;

	(void)state;
	expect_ep_error("{'endpoint': '/a/*/b', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint",
	    "\"*\" is only allowed as a final \"/*\"");
	expect_ep_error("{'endpoint': '/a*', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint",
	    "\"*\" is only allowed as a final \"/*\"");
	expect_ep_error("{'endpoint': '/a/b*', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint", "final \"/*\"");
	cfg = load_eps_ok("{'endpoint': '/*', 'backend': [{'host': "
	    "['http://h']}]}, {'endpoint': '/a/{b}/*', 'backend': [{'host': "
	    "['http://h']}]}");
	assert_string_equal(cfg->endpoints[1].endpoint, "/a/{b}/*");
	gw_config_unref(cfg);
}

static void
reject_duplicate_route(void **state)
{
	struct gw_config *cfg;

	(void)state;
	expect_ep_error("{'endpoint': '/a/{x}', 'backend': [{'host': "
	    "['http://h']}]}, " EP_A ", {'endpoint': '/a/{y}', 'method': "
	    "'get', 'backend': [{'host': ['http://h']}]}",
	    "endpoints[2].endpoint", "GET /a/{y} is already defined by "
	    "endpoints[0] (GET /a/{x})");
	/* Another method, or another shape, is another route. */
	cfg = load_eps_ok("{'endpoint': '/a/{x}', 'backend': [{'host': "
	    "['http://h']}]}, {'endpoint': '/a/{y}', 'method': 'POST', "
	    "'backend': [{'host': ['http://h']}]}, {'endpoint': '/a/{x}/', "
	    "'backend': [{'host': ['http://h']}]}, {'endpoint': '/a/b', "
	    "'backend': [{'host': ['http://h']}]}");
	assert_int_equal(cfg->nendpoints, 4);
	gw_config_unref(cfg);
}

static void
reject_duplicate_route_many(void **state)
{
	struct gw_config_errors errs;

	(void)state;
	errs = load_bad("{'version': 3, 'endpoints': [" EP_A ", " EP_A ", "
	    EP_A "]}");
	assert_int_equal(errs.n, 2);
	assert_true(has_error(&errs, "endpoints[1].endpoint",
	    "already defined by endpoints[0]"));
	assert_true(has_error(&errs, "endpoints[2].endpoint",
	    "already defined by endpoints[0]"));
	gw_config_errors_clear(&errs);
}

static void
reject_no_backend(void **state)
{
	(void)state;
	expect_ep_error("{'endpoint': '/a'}", "endpoints[0]",
	    "missing \"backend\"");
	expect_ep_error("{'endpoint': '/a', 'backend': []}",
	    "endpoints[0].backend", "expected at least one backend, found []");
	expect_ep_error("{'endpoint': '/a', 'backend': {}}",
	    "endpoints[0].backend", "expected array, found object");
	expect_ep_error("{'endpoint': '/a', 'backend': [5]}",
	    "endpoints[0].backend[0]", "expected object, found integer 5");
}

static void
reject_noop_backends(void **state)
{
	(void)state;
	expect_ep_error("{'endpoint': '/a', 'output_encoding': 'no-op', "
	    "'backend': [{'host': ['http://h']}, {'host': ['http://h']}]}",
	    "endpoints[0].backend",
	    "expected exactly one backend with output_encoding no-op, found 2");
	expect_error("{'version': 3, 'output_encoding': 'no-op', "
	    "'endpoints': [" EP_A ", {'endpoint': '/b', 'backend': [{'host': "
	    "['http://h']}, {'host': ['http://h']}, {'host': ['http://h']}]}]}",
	    "endpoints[1].backend", "no-op (inherited from the top level), "
	    "found 3");
}

static void
reject_url_pattern(void **state)
{
	(void)state;
	expect_ep_error("{'endpoint': '/a/{id}', 'backend': [{'host': "
	    "['http://h'], 'url_pattern': '/b/{id}/{name}'}]}",
	    "endpoints[0].backend[0].url_pattern",
	    "placeholder {name} is not defined by the endpoint \"/a/{id}\"");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://h']}, {'host': ['http://h'], 'url_pattern': '/b/{id'}]}",
	    "endpoints[0].backend[1].url_pattern", "unterminated placeholder");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'url_pattern': 'http://h/b'}]}",
	    "endpoints[0].backend[0].url_pattern", "expected a path");
}

static void
reject_host(void **state)
{
	struct gw_config *cfg;

	(void)state;
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://ok', 'ftp://x']}]}", "endpoints[0].backend[0].host[1]",
	    "expected http(s)://name[:port], found \"ftp://x\"");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['h:8080']}]}", "endpoints[0].backend[0].host[0]",
	    "found \"h:8080\"");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://h/api']}]}", "endpoints[0].backend[0].host[0]",
	    "a host has no path");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['h2c://']}]}", "endpoints[0].backend[0].host[0]",
	    "empty host name");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://u:p@h']}]}", "endpoints[0].backend[0].host[0]",
	    "user information is not allowed");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://h:0']}]}", "endpoints[0].backend[0].host[0]",
	    "port out of range");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://h:65536']}]}", "endpoints[0].backend[0].host[0]",
	    "port out of range");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://h:']}]}", "endpoints[0].backend[0].host[0]",
	    "empty port");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://[::g]:80']}]}", "endpoints[0].backend[0].host[0]",
	    "invalid IPv6 address");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://']}]}", "endpoints[0].backend[0].host[0]",
	    "empty host name");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': "
	    "['http://a b']}]}", "endpoints[0].backend[0].host[0]",
	    "invalid character");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': [1]}]}",
	    "endpoints[0].backend[0].host[0]",
	    "expected string, found integer 1");
	expect_error("{'version': 3, 'host': ['http://h/x'], 'endpoints': "
	    "[{'endpoint': '/a', 'backend': [{}]}]}", "host[0]",
	    "a host has no path");

	cfg = load_eps_ok("{'endpoint': '/a', 'backend': [{'host': "
	    "['HTTPS://[::1]:8443', 'http://10.0.0.1:65535', "
	    "'http://svc.ns.svc.cluster.local:8000']}]}");
	assert_string_equal(cfg->endpoints[0].backends[0].hosts[0].name,
	    "::1");
	assert_int_equal(cfg->endpoints[0].backends[0].hosts[0].port, 8443);
	assert_true(cfg->endpoints[0].backends[0].hosts[0].tls);
	assert_int_equal(cfg->endpoints[0].backends[0].hosts[1].port, 65535);
	gw_config_unref(cfg);
}

static void
reject_no_host(void **state)
{
	(void)state;
	expect_ep_error("{'endpoint': '/a', 'backend': [{}]}",
	    "endpoints[0].backend[0]", "no \"host\" here and no top-level "
	    "\"host\"");
}

static void
reject_rates(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'extra_config': {'qos/ratelimit/router': "
	    "{'max_rate': 0}}}", "extra_config[\"qos/ratelimit/router\"]"
	    ".max_rate", "expected a number > 0");
	expect_ep_error(EP_A_OPEN
	    "'extra_config': {'qos/ratelimit/router': {'client_max_rate': "
	    "-5}}}", "endpoints[0].extra_config[\"qos/ratelimit/router\"]"
	    ".client_max_rate", "expected a number > 0 (omit the key for no "
	    "limit), found -5");
	expect_error("{'version': 3, 'extra_config': {'qos/ratelimit/router': "
	    "{'max_rate': 1, 'capacity': 0}}}",
	    "extra_config[\"qos/ratelimit/router\"].capacity",
	    "expected an integer >= 1, found 0");
	expect_error("{'version': 3, 'extra_config': {'qos/ratelimit/router': "
	    "{'client_max_rate': 1, 'client_capacity': -1}}}",
	    "extra_config[\"qos/ratelimit/router\"].client_capacity",
	    "expected an integer >= 1");
	expect_error("{'version': 3, 'extra_config': {'qos/ratelimit/router': "
	    "{'max_rate': 1, 'every': '0s'}}}",
	    "extra_config[\"qos/ratelimit/router\"].every",
	    "expected a duration > 0, found \"0s\"");
	expect_error("{'version': 3, 'extra_config': {'qos/ratelimit/router': "
	    "{'every': '1s'}}}", "extra_config[\"qos/ratelimit/router\"]",
	    "expected max_rate or client_max_rate");
	expect_error("{'version': 3, 'extra_config': {'qos/ratelimit/router': "
	    "{'max_rate': '10'}}}",
	    "extra_config[\"qos/ratelimit/router\"].max_rate",
	    "expected number, found string \"10\"");
	expect_error("{'version': 3, 'extra_config': {'router': "
	    "{'max_clients': 0}}}", "extra_config.router.max_clients",
	    "expected an integer >= 1, found 0");
}

static void
reject_breaker(void **state)
{
	const char *p = "endpoints[0].backend[0].extra_config"
	    "[\"qos/circuit-breaker\"]";
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s.max_errors", p);
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'extra_config': {'qos/circuit-breaker': {'interval': 1, "
	    "'timeout': 1, 'max_errors': 0}}}]}", path,
	    "expected an integer 1..4294967295, found 0");
	snprintf(path, sizeof(path), "%s.interval", p);
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'extra_config': {'qos/circuit-breaker': {'interval': -1, "
	    "'timeout': 1}}}]}", path, "found -1");
	snprintf(path, sizeof(path), "%s.timeout", p);
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'extra_config': {'qos/circuit-breaker': {'interval': 1, "
	    "'timeout': 0}}}]}", path, "found 0");
	/* KrakenD spells these in seconds, not as duration strings. */
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'extra_config': {'qos/circuit-breaker': {'interval': 1, "
	    "'timeout': '10s'}}}]}", path,
	    "expected integer, found string \"10s\"");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'extra_config': {'qos/circuit-breaker': {'timeout': 1}}}]}", p,
	    "missing \"interval\"");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'extra_config': {'qos/circuit-breaker': true}}]}", p,
	    "expected object, found boolean true");
}

static void
reject_durations(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'timeout': '2 s'}", "timeout",
	    "expected a duration such as \"500ms\", \"2s\" or \"1h30m\", "
	    "found \"2 s\"");
	expect_error("{'version': 3, 'timeout': '0s'}", "timeout",
	    "expected a duration > 0");
	expect_error("{'version': 3, 'read_timeout': '-1s'}", "read_timeout",
	    "found \"-1s\"");
	expect_error("{'version': 3, 'timeout': 2000}", "timeout",
	    "expected string (a duration), found integer 2000");
	expect_ep_error("{'endpoint': '/a', 'timeout': '5', 'backend': "
	    "[{'host': ['http://h']}]}", "endpoints[0].timeout",
	    "found \"5\"");
	expect_error("{'version': 3, 'extra_config': {'security/cors': "
	    "{'max_age': '12 hours'}}}",
	    "extra_config[\"security/cors\"].max_age", "expected a duration");
	expect_error("{'version': 3, 'cache_ttl': 'forever'}", "cache_ttl",
	    "expected a duration");
}

static void
reject_types(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'port': '8080'}", "port",
	    "expected integer, found string \"8080\"");
	expect_error("{'version': 3, 'name': 1}", "name",
	    "expected string, found integer 1");
	expect_error("{'version': 3, 'endpoints': {}}", "endpoints",
	    "expected array, found object");
	expect_error("{'version': 3, 'echo_endpoint': 'yes'}",
	    "echo_endpoint", "expected boolean, found string \"yes\"");
	expect_error("{'version': 3, 'extra_config': []}", "extra_config",
	    "expected object, found array");
	expect_error("{'version': 3, 'extra_config': {'router': 1}}",
	    "extra_config.router", "expected object, found integer 1");
	expect_ep_error("{'endpoint': '/a', 'input_headers': ['A', 2], "
	    "'backend': [{'host': ['http://h']}]}",
	    "endpoints[0].input_headers[1]",
	    "expected string, found integer 2");
	expect_ep_error("{'endpoint': '/a', 'input_headers': 'A', "
	    "'backend': [{'host': ['http://h']}]}",
	    "endpoints[0].input_headers",
	    "expected array of strings, found string \"A\"");
	expect_error("{'version': 3, 'cache_ttl': 0}", "cache_ttl",
	    "expected string (a duration), found integer 0");
}

static void
reject_method(void **state)
{
	(void)state;
	expect_ep_error("{'endpoint': '/a', 'method': 'FETCH', 'backend': "
	    "[{'host': ['http://h']}]}", "endpoints[0].method",
	    "expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, "
	    "CONNECT, TRACE, found \"FETCH\"");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'method': 'get '}]}", "endpoints[0].backend[0].method",
	    "found \"get \"");
}

static void
reject_strategy(void **state)
{
	const char *rl = "endpoints[0].extra_config[\"qos/ratelimit/router\"]";
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s.strategy", rl);
	expect_ep_error(EP_A_OPEN
	    "'extra_config': {'qos/ratelimit/router': {'client_max_rate': 1, "
	    "'strategy': 'cookie'}}}", path,
	    "expected one of ip, header, param, found \"cookie\"");
	expect_ep_error(EP_A_OPEN
	    "'extra_config': {'qos/ratelimit/router': {'client_max_rate': 1, "
	    "'strategy': 'header'}}}", rl, "strategy header needs \"key\"");
	expect_ep_error(EP_A_OPEN
	    "'extra_config': {'qos/ratelimit/router': {'client_max_rate': 1, "
	    "'strategy': 'param', 'key': ''}}}", rl,
	    "strategy param needs \"key\"");
	snprintf(path, sizeof(path), "%s.key", rl);
	expect_ep_error("{'endpoint': '/a/{user}', 'backend': [{'host': "
	    "['http://h']}], 'extra_config': {'qos/ratelimit/router': "
	    "{'client_max_rate': 1, 'strategy': 'param', 'key': 'tenant'}}}",
	    path, "{tenant} is not a placeholder of the endpoint");
	expect_ep_error(EP_A_OPEN
	    "'extra_config': {'qos/ratelimit/router': {'client_max_rate': 1, "
	    "'strategy': 'header', 'key': 'X Tenant'}}}", path,
	    "expected a header name, found \"X Tenant\"");
	/* The service's param strategy binds every endpoint that uses it. */
	expect_error("{'version': 3, 'extra_config': {'qos/ratelimit/router': "
	    "{'client_max_rate': 1, 'strategy': 'param', 'key': 'id'}}, "
	    "'endpoints': [{'endpoint': '/u/{id}', 'backend': [{'host': "
	    "['http://h']}]}, {'endpoint': '/v', 'backend': [{'host': "
	    "['http://h']}]}, {'endpoint': '/w', 'backend': [{'host': "
	    "['http://h']}], 'extra_config': {'qos/ratelimit/router': "
	    "{'max_rate': 1}}}]}", "endpoints[1]",
	    "the top-level qos/ratelimit/router uses placeholder {id}, which "
	    "this endpoint does not define");
}

static void
reject_log_level(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'extra_config': {'telemetry/logging': "
	    "{'level': 'LOUD'}}}", "extra_config[\"telemetry/logging\"].level",
	    "expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, found "
	    "\"LOUD\"");
	expect_error("{'version': 3, 'extra_config': {'telemetry/logging': "
	    "{'level': 'INFO', 'syslog_facility': 'daemon'}}}",
	    "extra_config[\"telemetry/logging\"].syslog_facility",
	    "found \"daemon\"");
	expect_error("{'version': 3, 'extra_config': {'telemetry/logging': "
	    "{'level': 'INFO', 'format': 'json'}}}",
	    "extra_config[\"telemetry/logging\"].format", "found \"json\"");
}

static void
reject_port(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'port': 0}", "port",
	    "expected an integer 1..65535, found 0");
	expect_error("{'version': 3, 'port': 65536}", "port",
	    "expected an integer 1..65535, found 65536");
	expect_error("{'version': 3, 'port': -1}", "port", "found -1");
	expect_error("{'version': 3, 'listen_ip': 'localhost'}", "listen_ip",
	    "expected an IPv4 or IPv6 address, found \"localhost\"");
}

static void
reject_unknown_keys(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'prot': 8080}", "prot", "unknown key");
	expect_ep_error("{'endpoint': '/a', 'methods': 'GET', 'backend': "
	    "[{'host': ['http://h']}]}", "endpoints[0].methods",
	    "unknown key");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'timeout': '1s'}]}", "endpoints[0].backend[0].timeout",
	    "unknown key");
	expect_ep_error("{'endpoint': '/a', 'headers_to_pass': ['A'], "
	    "'backend': [{'host': ['http://h']}]}",
	    "endpoints[0].headers_to_pass",
	    "unknown key (version 3 calls it \"input_headers\")");
	expect_error("{'version': 3, 'extra_config': {'router': "
	    "{'return_error_message': true}}}",
	    "extra_config.router.return_error_message", "unknown key");
	expect_error("{'version': 3, 'extra_config': {'security/cors': "
	    "{'allow_origin': ['*']}}}",
	    "extra_config[\"security/cors\"].allow_origin", "unknown key");
	expect_error("{'version': 3, 'extra_config': {'qos/ratelimit/router': "
	    "{'max_rate': 1, 'maxRate': 1}}}",
	    "extra_config[\"qos/ratelimit/router\"].maxRate", "unknown key");
	expect_error("{'version': 3, 'tls': {'public_key': 'a', "
	    "'private_key': 'b', 'min': 'TLS12'}}", "tls.min", "unknown key");
	expect_error("{'version': 3, 'extra_config': {'rooter': {}}}",
	    "extra_config.rooter", "unknown namespace");
}

static void
reject_cors(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'extra_config': {'security/cors': "
	    "{'allow_methods': ['GET', 'FETCH']}}}",
	    "extra_config[\"security/cors\"].allow_methods[1]",
	    "found \"FETCH\"");
	expect_error("{'version': 3, 'extra_config': {'security/cors': "
	    "{'allow_origins': ['https://a', '*']}}}",
	    "extra_config[\"security/cors\"].allow_origins[1]",
	    "\"*\" must be the only element");
	expect_error("{'version': 3, 'extra_config': {'security/cors': "
	    "{'allow_origins': ['https://*.*.a']}}}",
	    "extra_config[\"security/cors\"].allow_origins[0]",
	    "at most one \"*\"");
	expect_error("{'version': 3, 'extra_config': {'security/cors': "
	    "{'options_success_status': 404}}}",
	    "extra_config[\"security/cors\"].options_success_status",
	    "expected an integer 200..299, found 404");
}

static void
reject_router(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'extra_config': {'router': "
	    "{'trusted_proxies': ['10.0.0.0/8', '10.0.0.0/33']}}}",
	    "extra_config.router.trusted_proxies[1]",
	    "expected an IPv4 or IPv6 address or CIDR, found \"10.0.0.0/33\"");
	expect_error("{'version': 3, 'extra_config': {'router': "
	    "{'trusted_proxies': ['::/129']}}}",
	    "extra_config.router.trusted_proxies[0]", "found \"::/129\"");
	expect_error("{'version': 3, 'extra_config': {'router': "
	    "{'trusted_proxies': ['proxy.local']}}}",
	    "extra_config.router.trusted_proxies[0]", "found \"proxy.local\"");
	expect_error("{'version': 3, 'extra_config': {'router': "
	    "{'health_path': 'health'}}}", "extra_config.router.health_path",
	    "expected a plain path starting with \"/\"");
	expect_ep_error("{'endpoint': '/__health', 'backend': [{'host': "
	    "['http://h']}]}", "endpoints[0].endpoint",
	    "/__health is the health endpoint");
}

static void
router_forwarded_false(void **state)
{
	struct gw_config *cfg = load_ok("{'version': 3, 'extra_config': {"
	    "'router': {'trusted_proxies': ['10.0.0.0/8'], "
	    "'forwarded_by_client_ip': false, 'disable_health': true}}, "
	    "'endpoints': [{'endpoint': '/__health', 'backend': [{'host': "
	    "['http://h']}]}]}");

	(void)state;
	assert_int_equal(cfg->router.trusted_proxies.n, 0);
	assert_int_equal(count_notices(cfg, "forwarded_by_client_ip is false"),
	    1);
	gw_config_unref(cfg);
}

static void
reject_tls(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'tls': {'public_key': 'a', "
	    "'private_key': 'b', 'min_version': 'TLS1.2'}}",
	    "tls.min_version", "expected one of TLS10, TLS11, TLS12, TLS13, "
	    "found \"TLS1.2\"");
	expect_error("{'version': 3, 'tls': {'public_key': 'a', "
	    "'private_key': 'b', 'min_version': 'TLS13', "
	    "'max_version': 'TLS12'}}", "tls.max_version",
	    "lower than min_version");
	expect_error("{'version': 3, 'tls': {'public_key': 'a'}}", "tls",
	    "expected public_key and private_key");
	expect_error("{'version': 3, 'tls': {'keys': [{'public_key': 'a'}]}}",
	    "tls.keys[0]", "expected public_key and private_key");
	expect_error("{'version': 3, 'tls': true}", "tls",
	    "expected object or null, found boolean true");
}

static void
reject_encoding(void **state)
{
	(void)state;
	expect_error("{'version': 3, 'output_encoding': 'noop'}",
	    "output_encoding", "found \"noop\"");
	expect_ep_error("{'endpoint': '/a', 'output_encoding': 'rss', "
	    "'backend': [{'host': ['http://h']}]}",
	    "endpoints[0].output_encoding", "found \"rss\"");
	expect_ep_error("{'endpoint': '/a', 'backend': [{'host': ['http://h'], "
	    "'encoding': 'negotiate'}]}", "endpoints[0].backend[0].encoding",
	    "found \"negotiate\"");
}

static void
reject_input_headers(void **state)
{
	(void)state;
	expect_ep_error("{'endpoint': '/a', 'input_headers': ['*', 'Cookie'], "
	    "'backend': [{'host': ['http://h']}]}",
	    "endpoints[0].input_headers[0]", "\"*\" must be the only element");
	expect_ep_error("{'endpoint': '/a', 'input_headers': ['X A'], "
	    "'backend': [{'host': ['http://h']}]}",
	    "endpoints[0].input_headers[0]",
	    "expected a header name, found \"X A\"");
}

/* Errors keep coming after the first, and each names its own place. */
static void
many_errors_at_once(void **state)
{
	struct gw_config_errors errs;

	(void)state;
	errs = load_bad("{'version': 3, 'port': 0, 'extra_config': {"
	    "'telemetry/logging': {'level': 'LOUD'}}, 'endpoints': ["
	    "{'endpoint': 'x', 'backend': [{'host': ['ftp://x']}]}, "
	    "{'endpoint': '/b', 'method': 'FETCH', 'backend': []}, "
	    "{'endpoint': '/c', 'backend': [{'host': ['http://h'], "
	    "'url_pattern': '/{nope}'}]}]}");
	if (errs.n != 7) {
		print_errors(&errs);
		fail_msg("expected 7 errors, got %zu", errs.n);
	}
	assert_true(has_error(&errs, "port", "1..65535"));
	assert_true(has_error(&errs, "extra_config[\"telemetry/logging\"]"
	    ".level", "LOUD"));
	assert_true(has_error(&errs, "endpoints[0].endpoint",
	    "must start with"));
	assert_true(has_error(&errs, "endpoints[0].backend[0].host[0]",
	    "ftp://x"));
	assert_true(has_error(&errs, "endpoints[1].method", "FETCH"));
	assert_true(has_error(&errs, "endpoints[1].backend", "at least one"));
	assert_true(has_error(&errs, "endpoints[2].backend[0].url_pattern",
	    "{nope}"));
	gw_config_errors_clear(&errs);
}

/* A load appends to errors already in the list and leaves them alone. */
static void
errors_appended(void **state)
{
	struct gw_config_errors errs = { NULL, 0 };
	struct gw_config *cfg;

	(void)state;
	assert_int_equal(gw_config_load_string("{\"version\": 1}", NULL, &cfg,
	    &errs), -1);
	assert_int_equal(gw_config_load_string("{\"version\": 2}", "b.json",
	    &cfg, &errs), -1);
	assert_null(cfg);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.msgs[0], "<string>: version: expected 3 (the "
	    "syntax of KrakenD 2.x), found 1");
	assert_non_null(strstr(errs.msgs[1], "b.json: version: "));
	gw_config_errors_clear(&errs);
	assert_int_equal(errs.n, 0);
	assert_null(errs.msgs);
}

static void
load_file_missing(void **state)
{
	struct gw_config_errors errs = { NULL, 0 };
	struct gw_config *cfg = NULL;

	(void)state;
	assert_int_equal(gw_config_load_file("/nonexistent/gw.json", &cfg,
	    &errs), -1);
	assert_null(cfg);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msgs[0], "/nonexistent/gw.json: cannot open: "
	    "No such file or directory");
	gw_config_errors_clear(&errs);
}

/* --- refcounting ------------------------------------------------------- */

#define REF_THREADS 8
#define REF_ROUNDS 20000

static void *
ref_worker(void *arg)
{
	struct gw_config *cfg = arg;
	int i;

	for (i = 0; i < REF_ROUNDS; i++) {
		gw_config_ref(cfg);
		gw_config_unref(cfg);
	}
	/* Each thread drops the reference main() took for it. */
	gw_config_unref(cfg);
	return NULL;
}

static void
refcount_threads(void **state)
{
	struct gw_config *cfg = load_eps_ok(EP_A);
	pthread_t t[REF_THREADS];
	int i;

	(void)state;
	assert_ptr_equal(gw_config_ref(cfg), cfg);
	gw_config_unref(cfg);
	for (i = 0; i < REF_THREADS; i++) {
		gw_config_ref(cfg);
		assert_int_equal(pthread_create(&t[i], NULL, ref_worker, cfg),
		    0);
	}
	for (i = 0; i < REF_THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(cfg->_refcnt, 1);
	gw_config_unref(cfg);
	gw_config_unref(NULL);
}

/* --- main -------------------------------------------------------------- */

static bool
try_compat_dir(const char *dir)
{
	char probe[8192];

	snprintf(probe, sizeof(probe), "%s/hanzo-gateway.json", dir);
	if (access(probe, R_OK) != 0)
		return false;
	snprintf(compat_dir, sizeof(compat_dir), "%s", dir);
	return true;
}

/*
 * `make check` sets GW_SRCDIR; a test run by hand from the build or the
 * source tree finds the files relative to where it is.
 */
static void
find_compat_dir(const char *argv0)
{
	const char *src = getenv("GW_SRCDIR");
	char buf[4096], *copy, *dir;

	if (src != NULL) {
		snprintf(buf, sizeof(buf), "%s/tests/compat", src);
		if (try_compat_dir(buf))
			return;
	}
	if (try_compat_dir("tests/compat") || try_compat_dir("../compat") ||
	    try_compat_dir("../tests/compat") ||
	    try_compat_dir("../../tests/compat"))
		return;
	copy = strdup(argv0);
	if (copy != NULL) {
		dir = dirname(copy);
		snprintf(buf, sizeof(buf), "%s/../compat", dir);
		if (!try_compat_dir(buf)) {
			snprintf(buf, sizeof(buf), "%s/../../tests/compat",
			    dir);
			try_compat_dir(buf);
		}
		free(copy);
	}
}

static int
need_compat(void **state)
{
	(void)state;
	if (compat_dir[0] == '\0') {
		print_error("tests/compat not found: set GW_SRCDIR to the "
		    "source tree\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest compat[] = {
		cmocka_unit_test(compat_hanzo),
		cmocka_unit_test(compat_lux),
		cmocka_unit_test(compat_lux_rpc),
		cmocka_unit_test(compat_example),
		cmocka_unit_test(compat_liquidity),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(service_settings),
		cmocka_unit_test(inherit_output_encoding),
		cmocka_unit_test(inherit_timeout),
		cmocka_unit_test(inherit_ratelimit),
		cmocka_unit_test(default_hosts),
		cmocka_unit_test(h2c_hosts),
		cmocka_unit_test(endpoint_fields),
		cmocka_unit_test(breaker_without_max_errors),
		cmocka_unit_test(namespaces_parsed),
		cmocka_unit_test(cors_defaults),
		cmocka_unit_test(tls_forms),
		cmocka_unit_test(notices_deduplicated),
		cmocka_unit_test(ignored_keys),
		cmocka_unit_test(encoding_notice),
		cmocka_unit_test(reject_version),
		cmocka_unit_test(reject_not_json),
		cmocka_unit_test(reject_endpoint_path),
		cmocka_unit_test(reject_wildcard),
		cmocka_unit_test(reject_duplicate_route),
		cmocka_unit_test(reject_duplicate_route_many),
		cmocka_unit_test(reject_no_backend),
		cmocka_unit_test(reject_noop_backends),
		cmocka_unit_test(reject_url_pattern),
		cmocka_unit_test(reject_host),
		cmocka_unit_test(reject_no_host),
		cmocka_unit_test(reject_rates),
		cmocka_unit_test(reject_breaker),
		cmocka_unit_test(reject_durations),
		cmocka_unit_test(reject_types),
		cmocka_unit_test(reject_method),
		cmocka_unit_test(reject_strategy),
		cmocka_unit_test(reject_log_level),
		cmocka_unit_test(reject_port),
		cmocka_unit_test(reject_unknown_keys),
		cmocka_unit_test(reject_cors),
		cmocka_unit_test(reject_router),
		cmocka_unit_test(router_forwarded_false),
		cmocka_unit_test(reject_tls),
		cmocka_unit_test(reject_encoding),
		cmocka_unit_test(reject_input_headers),
		cmocka_unit_test(many_errors_at_once),
		cmocka_unit_test(errors_appended),
		cmocka_unit_test(cors_origin_malformed),
		cmocka_unit_test(load_file_missing),
		cmocka_unit_test(refcount_threads),
	};
	int failed;

	(void)argc;
	find_compat_dir(argv[0]);
	failed = cmocka_run_group_tests_name("compat", compat, need_compat,
	    NULL);
	failed += cmocka_run_group_tests_name("config", tests, NULL, NULL);
	return failed != 0;
}
