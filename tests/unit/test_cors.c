/*
 * test_cors.c: origin matching, preflights and actual responses, with the
 * headers captured through the callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "gw.h"
#include "xmalloc.h"

#define NO_LIST ((const char *const[]){ NULL })

/* --- fixtures ------------------------------------------------------------ */

/* A list from a NULL-terminated array of literals. */
static struct gw_strlist
list(const char *const *src)
{
	struct gw_strlist l = { NULL, 0, false };
	size_t i;

	while (src[l.n] != NULL)
		l.n++;
	l.v = xcalloc(l.n + 1, sizeof(*l.v));
	for (i = 0; i < l.n; i++)
		l.v[i] = xstrdup(src[i]);
	l.all = l.n == 1 && strcmp(l.v[0], "*") == 0;
	return l;
}

static void
list_free(struct gw_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void
config_free(struct gw_cors_config *cfg)
{
	list_free(&cfg->allow_origins);
	list_free(&cfg->allow_methods);
	list_free(&cfg->allow_headers);
	list_free(&cfg->expose_headers);
}

/* An empty config: every list empty, every default. */
static struct gw_cors_config
config(void)
{
	struct gw_cors_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.allow_origins = list(NO_LIST);
	cfg.allow_methods = list(NO_LIST);
	cfg.allow_headers = list(NO_LIST);
	cfg.expose_headers = list(NO_LIST);
	return cfg;
}

/* /work/shared/compat/liquidity-gateway.json's security/cors. */
static struct gw_cors_config
liquidity(void)
{
	struct gw_cors_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.allow_origins = list((const char *const[]){
	    "https://liquidity.io",
	    "https://*.liquidity.io",
	    "https://exchange.next.satschel.com",
	    "https://exchange.alpha.satschel.com",
	    "https://api.next.satschel.com",
	    "https://api.alpha.satschel.com",
	    "https://*.satschel.com",
	    NULL });
	cfg.allow_methods = list((const char *const[]){
	    "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL });
	cfg.allow_headers = list((const char *const[]){
	    "Origin", "Authorization", "Content-Type", "Accept",
	    "X-Requested-With", "X-Org-Id", "X-Project-Id", "X-Request-ID",
	    NULL });
	cfg.expose_headers = list((const char *const[]){
	    "Content-Length", "X-Request-ID", NULL });
	cfg.max_age_ns = 12 * 3600 * GW_NS_PER_S;
	return cfg;
}

/* Headers emitted through the callback, in order. */
struct captured {
	int n;
	char name[16][64];
	char value[16][2048];
};

static void
capture(void *arg, const char *name, const char *value, size_t len)
{
	struct captured *cap = arg;

	assert_true(cap->n < 16);
	assert_true(len < sizeof(cap->value[0]));
	snprintf(cap->name[cap->n], sizeof(cap->name[0]), "%s", name);
	memcpy(cap->value[cap->n], value, len);
	cap->value[cap->n][len] = '\0';
	cap->n++;
}

/* The value of header `name`, or NULL. */
static const char *
header(const struct captured *cap, const char *name)
{
	int i;

	for (i = 0; i < cap->n; i++)
		if (strcmp(cap->name[i], name) == 0)
			return cap->value[i];
	return NULL;
}

#define VARY_PREFLIGHT \
	"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

static int
preflight(const struct gw_cors *c, const char *origin, const char *method,
    const char *headers, struct captured *cap)
{
	memset(cap, 0, sizeof(*cap));
	return gw_cors_preflight(c, origin, origin ? strlen(origin) : 0,
	    method, method ? strlen(method) : 0, headers,
	    headers ? strlen(headers) : 0, capture, cap);
}

static void
actual(const struct gw_cors *c, const char *method, const char *origin,
    struct captured *cap)
{
	memset(cap, 0, sizeof(*cap));
	gw_cors_actual_headers(c, method, method ? strlen(method) : 0, origin,
	    origin ? strlen(origin) : 0, capture, cap);
}

/* Only Vary: the shape of every refusal. */
static void
assert_refused(const struct captured *cap, const char *vary)
{
	assert_int_equal(cap->n, 1);
	assert_string_equal(cap->name[0], "Vary");
	assert_string_equal(cap->value[0], vary);
}

/* --- origins ------------------------------------------------------------- */

static bool
allowed(const struct gw_cors *c, const char *origin)
{
	return gw_cors_origin_allowed(c, origin, strlen(origin));
}

static void
origin_matching_table(void **state)
{
	struct gw_cors_config cfg = config();
	struct gw_cors *c;
	const struct {
		const char *origin;
		bool ok;
	} t[] = {
		{ "https://example.com", true },
		{ "HTTPS://EXAMPLE.COM", true },
		{ "https://Example.Com", true },
		{ "https://example.com:443", true },      /* default port */
		{ "https://example.com:8443", false },
		{ "http://example.com", false },          /* scheme */
		{ "wss://example.com", false },
		{ "https://a.example.com", true },        /* wildcard */
		{ "https://a.b.example.com", true },
		{ "https://A-1_b.example.com", true },
		{ "https://a.example.com:443", true },
		{ "https://a.example.com:444", false },
		{ "http://a.example.com", false },
		{ "https://.example.com", false },
		{ "https://a..example.com", false },
		{ "https://evil-example.com", false },
		{ "https://evilexample.com", false },
		{ "https://example.com.evil.com", false },
		{ "https://a.example.com.evil.com", false },
		{ "https://a.example.co", false },
		{ "https://a.example.com/", false },
		{ "https://a.example.com/x", false },
		{ "https://user@a.example.com", false },
		{ "https://a.example.com@evil.com", false },
		{ "https://evil.com#.example.com", false },
		{ "https://evil.com?.example.com", false },
		{ "https://evil.com/.example.com", false },
		{ "https://evil.com\\.example.com", false },
		{ "https://evil.com%2e.example.com", false },
		{ "https://a.example.com.", false },
		{ "https://a.example.com ", false },
		{ " https://a.example.com", false },
		{ "https://a.example.com\r\nX: y", false },
		{ "https://a.example.com:", false },
		{ "https://a.example.com:99999", false },
		{ "https://a.example.com:44a", false },
		{ "https://*.example.com", false },       /* not an origin */
		{ "https://", false },
		{ "example.com", false },
		{ "a.example.com", false },
		{ "*", false },
		{ "", false },
		{ "http://localhost:3000", true },
		{ "http://LOCALHOST:3000", true },
		{ "http://localhost", false },
		{ "http://localhost:3001", false },
		{ "https://localhost:3000", false },
		{ "http://[::1]:8080", true },
		{ "http://[::1]", false },
		{ "http://[::2]:8080", false },
		{ "http://[::1:8080", false },
		{ "null", true },
		{ "NULL", false },
		{ "https://x.b.test:8443", true },        /* wildcard + port */
		{ "https://x.y.b.test:8443", true },
		{ "https://x.b.test", false },
		{ "https://b.test:8443", false },
	};
	size_t i;

	(void)state;
	list_free(&cfg.allow_origins);
	cfg.allow_origins = list((const char *const[]){
	    "https://example.com", "https://*.example.com",
	    "http://localhost:3000", "http://[::1]:8080", "null",
	    "https://*.b.test:8443", NULL });
	c = gw_cors_create(&cfg);
	for (i = 0; i < GW_ARRAY_SIZE(t); i++)
		if (allowed(c, t[i].origin) != t[i].ok)
			fail_msg("\"%s\": expected %s", t[i].origin,
			    t[i].ok ? "allowed" : "refused");
	/* Embedded NUL: the bytes after it count. */
	assert_false(gw_cors_origin_allowed(c, "https://example.com\0x", 21));
	assert_true(gw_cors_origin_allowed(c, "https://example.comXX", 19));
	assert_false(gw_cors_origin_allowed(c, NULL, 0));
	gw_cors_destroy(c);
	config_free(&cfg);
}

/* The deployment's real list. */
static void
origin_liquidity_config(void **state)
{
	struct gw_cors_config cfg = liquidity();
	struct gw_cors *c = gw_cors_create(&cfg);

	(void)state;
	assert_true(allowed(c, "https://app.liquidity.io"));
	assert_true(allowed(c, "https://liquidity.io"));
	assert_false(allowed(c, "https://evil.com"));
	assert_false(allowed(c, "http://app.liquidity.io"));
	assert_true(allowed(c, "https://x.satschel.com"));
	assert_false(allowed(c, "https://satschel.com.evil.io"));

	assert_true(allowed(c, "https://exchange.next.satschel.com"));
	assert_true(allowed(c, "https://a.b.liquidity.io"));
	assert_false(allowed(c, "https://satschel.com"));  /* no exact */
	assert_false(allowed(c, "http://liquidity.io"));
	assert_false(allowed(c, "https://liquidity.io.evil.com"));
	assert_false(allowed(c, "https://evilliquidity.io"));
	assert_false(allowed(c, "https://app.liquidity.io:8443"));
	assert_false(allowed(c, "https://app.liquidity.io.evil.com"));
	assert_false(allowed(c, "null"));
	gw_cors_destroy(c);
	config_free(&cfg);
}

static void
origin_all(void **state)
{
	struct gw_cors_config cfg = config();
	struct gw_cors *c;

	(void)state;
	/* Empty list: all. */
	c = gw_cors_create(&cfg);
	assert_true(allowed(c, "https://anything.example"));
	assert_true(allowed(c, "null"));
	assert_false(allowed(c, ""));
	assert_false(allowed(c, "https://a b"));        /* not echoable */
	assert_false(allowed(c, "https://a\r\nb"));
	gw_cors_destroy(c);

	/* "*" anywhere in the list: all. */
	list_free(&cfg.allow_origins);
	cfg.allow_origins = list((const char *const[]){
	    "https://a.com", "*", NULL });
	c = gw_cors_create(&cfg);
	assert_true(allowed(c, "https://b.com"));
	gw_cors_destroy(c);
	config_free(&cfg);
}

static void
origin_patterns_validated(void **state)
{
	const char *good[] = {
		"*", "null", "https://a.com", "https://*.a.com",
		"http://localhost:3000", "http://[::1]:8080",
		"https://*.a.com:8443", "HTTPS://A.COM",
	};
	const char *bad[] = {
		"", "a.com", "*.a.com", "https://", "https://*",
		"https://*.", "https://a.com/", "https://a.com/x",
		"https://a*.com", "https://*.*.a.com", "https://a.*.com",
		"https://a.com:", "https://a.com:x", "https://user@a.com",
		"//a.com", "https:/a.com", "https://a.com ",
	};
	struct gw_cors_config cfg = config();
	struct gw_cors *c;
	size_t i;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(good); i++)
		if (!gw_cors_origin_pattern_valid(good[i]))
			fail_msg("\"%s\" should be valid", good[i]);
	for (i = 0; i < GW_ARRAY_SIZE(bad); i++)
		if (gw_cors_origin_pattern_valid(bad[i]))
			fail_msg("\"%s\" should be invalid", bad[i]);

	/* Invalid entries are dropped; the valid ones still work, and the
	 * list does not turn into "all". */
	list_free(&cfg.allow_origins);
	cfg.allow_origins = list((const char *const[]){
	    "a.com", "https://a.com/", "https://*", "https://b.com", NULL });
	c = gw_cors_create(&cfg);
	assert_true(allowed(c, "https://b.com"));
	assert_false(allowed(c, "https://a.com"));
	assert_false(allowed(c, "https://x.com"));
	gw_cors_destroy(c);
	config_free(&cfg);
}

/* --- preflight ----------------------------------------------------------- */

static void
is_preflight(void **state)
{
	(void)state;
	assert_true(gw_cors_is_preflight("OPTIONS", 7, "o", "GET"));
	assert_false(gw_cors_is_preflight("OPTIONS", 7, NULL, "GET"));
	assert_false(gw_cors_is_preflight("OPTIONS", 7, "o", NULL));
	assert_false(gw_cors_is_preflight("options", 7, "o", "GET"));
	assert_false(gw_cors_is_preflight("OPTIONSX", 8, "o", "GET"));
	assert_false(gw_cors_is_preflight("OPTION", 6, "o", "GET"));
	assert_false(gw_cors_is_preflight("GET", 3, "o", "GET"));
	assert_false(gw_cors_is_preflight(NULL, 0, "o", "GET"));
}

static void
preflight_allowed(void **state)
{
	struct gw_cors_config cfg = liquidity();
	struct gw_cors *c = gw_cors_create(&cfg);
	struct captured cap;

	(void)state;
	assert_int_equal(preflight(c, "https://app.liquidity.io", "PUT",
	    "content-type,authorization, x-org-id", &cap), 204);
	assert_int_equal(cap.n, 5);
	assert_string_equal(cap.name[0], "Vary");
	assert_string_equal(cap.value[0], VARY_PREFLIGHT);
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"),
	    "https://app.liquidity.io");
	assert_string_equal(header(&cap, "Access-Control-Allow-Methods"),
	    "PUT");
	assert_string_equal(header(&cap, "Access-Control-Allow-Headers"),
	    "content-type, authorization, x-org-id");
	assert_string_equal(header(&cap, "Access-Control-Max-Age"), "43200");
	assert_null(header(&cap, "Access-Control-Allow-Credentials"));
	assert_null(header(&cap, "Access-Control-Expose-Headers"));

	/* No Access-Control-Request-Headers: no Allow-Headers. */
	assert_int_equal(preflight(c, "https://liquidity.io", "DELETE", NULL,
	    &cap), 204);
	assert_int_equal(cap.n, 4);
	assert_null(header(&cap, "Access-Control-Allow-Headers"));
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"),
	    "https://liquidity.io");

	/* Origin is always allowed, even when not listed. */
	gw_cors_destroy(c);
	config_free(&cfg);
	cfg = config();
	list_free(&cfg.allow_headers);
	cfg.allow_headers = list((const char *const[]){ "X-A", NULL });
	c = gw_cors_create(&cfg);
	assert_int_equal(preflight(c, "https://a.com", "GET", "x-a, origin",
	    &cap), 204);
	assert_string_equal(header(&cap, "Access-Control-Allow-Headers"),
	    "x-a, origin");
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"), "*");
	gw_cors_destroy(c);
	config_free(&cfg);
}

static void
preflight_refused(void **state)
{
	struct gw_cors_config cfg = liquidity();
	struct gw_cors *c = gw_cors_create(&cfg);
	struct captured cap;

	(void)state;
	/* Origin. */
	assert_int_equal(preflight(c, "https://evil.com", "GET", NULL, &cap),
	    204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "http://app.liquidity.io", "GET", NULL,
	    &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, NULL, "GET", NULL, &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "", "GET", NULL, &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);

	/* Method: unknown, wrong case, empty, not a token. */
	assert_int_equal(preflight(c, "https://liquidity.io", "TRACE", NULL,
	    &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "https://liquidity.io", "put", NULL,
	    &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "https://liquidity.io", "", NULL, &cap),
	    204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "https://liquidity.io", NULL, NULL,
	    &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "https://liquidity.io", "GET\r\nX: y",
	    NULL, &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);

	/* Headers: one not allowed refuses them all. */
	assert_int_equal(preflight(c, "https://liquidity.io", "GET",
	    "content-type, x-evil", &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "https://liquidity.io", "GET",
	    "x-org-id x-evil", &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "https://liquidity.io", "GET",
	    "accept\r\nx-evil: 1", &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);
	gw_cors_destroy(c);
	config_free(&cfg);
}

/* Names compare case-insensitively; the list syntax allows OWS and empty
 * elements; the echo is the names as sent, trimmed. */
static void
preflight_header_list_syntax(void **state)
{
	struct gw_cors_config cfg = liquidity();
	struct gw_cors *c = gw_cors_create(&cfg);
	struct captured cap;

	(void)state;
	assert_int_equal(preflight(c, "https://liquidity.io", "POST",
	    ",, Content-Type ,\tX-ORG-ID\t,,accept , ", &cap), 204);
	assert_string_equal(header(&cap, "Access-Control-Allow-Headers"),
	    "Content-Type, X-ORG-ID, accept");
	/* Only separators: allowed, nothing to echo. */
	assert_int_equal(preflight(c, "https://liquidity.io", "POST", " , ",
	    &cap), 204);
	assert_int_equal(cap.n, 4);
	assert_null(header(&cap, "Access-Control-Allow-Headers"));
	gw_cors_destroy(c);
	config_free(&cfg);
}

/* Empty allow_headers: rs/cors's defaults (plus Origin). */
static void
preflight_default_headers_and_methods(void **state)
{
	struct gw_cors_config cfg = config();
	struct gw_cors *c = gw_cors_create(&cfg);
	struct captured cap;

	(void)state;
	assert_int_equal(preflight(c, "https://a.com", "POST",
	    "accept, content-type, x-requested-with, origin", &cap), 204);
	assert_string_equal(header(&cap, "Access-Control-Allow-Headers"),
	    "accept, content-type, x-requested-with, origin");
	assert_int_equal(preflight(c, "https://a.com", "POST",
	    "authorization", &cap), 204);
	assert_refused(&cap, VARY_PREFLIGHT);

	/* Default methods GET, HEAD, POST (and OPTIONS, always). */
	assert_int_equal(preflight(c, "https://a.com", "GET", NULL, &cap),
	    204);
	assert_int_equal(cap.n, 3);
	assert_int_equal(preflight(c, "https://a.com", "HEAD", NULL, &cap),
	    204);
	assert_int_equal(cap.n, 3);
	assert_int_equal(preflight(c, "https://a.com", "OPTIONS", NULL, &cap),
	    204);
	assert_string_equal(header(&cap, "Access-Control-Allow-Methods"),
	    "OPTIONS");
	assert_int_equal(preflight(c, "https://a.com", "PUT", NULL, &cap),
	    204);
	assert_refused(&cap, VARY_PREFLIGHT);
	assert_int_equal(preflight(c, "https://a.com", "DELETE", NULL, &cap),
	    204);
	assert_refused(&cap, VARY_PREFLIGHT);
	/* No max_age: no Access-Control-Max-Age. */
	assert_int_equal(preflight(c, "https://a.com", "GET", NULL, &cap),
	    204);
	assert_null(header(&cap, "Access-Control-Max-Age"));
	gw_cors_destroy(c);
	config_free(&cfg);
}

static void
preflight_all_headers(void **state)
{
	struct gw_cors_config cfg = config();
	struct gw_cors *c;
	struct captured cap;
	char *big;
	size_t i, off = 0;

	(void)state;
	list_free(&cfg.allow_headers);
	cfg.allow_headers = list((const char *const[]){ "*", NULL });
	c = gw_cors_create(&cfg);
	assert_int_equal(preflight(c, "https://a.com", "GET",
	    "x-anything, authorization", &cap), 204);
	assert_string_equal(header(&cap, "Access-Control-Allow-Headers"),
	    "x-anything, authorization");
	/* Still only header names. */
	assert_int_equal(preflight(c, "https://a.com", "GET", "x:y", &cap),
	    204);
	assert_refused(&cap, VARY_PREFLIGHT);

	/* A list longer than the stack buffer: packed "a,b", echoed with
	 * ", " (twice as long in the worst case). */
	big = xmalloc(2000);
	for (i = 0; i < 200; i++)
		off += (size_t)snprintf(big + off, 2000 - off, "%sx%03zu",
		    i > 0 ? "," : "", i);
	assert_int_equal(preflight(c, "https://a.com", "GET", big, &cap), 204);
	assert_int_equal(strlen(header(&cap, "Access-Control-Allow-Headers")),
	    200 * 4 + 199 * 2);
	assert_memory_equal(header(&cap, "Access-Control-Allow-Headers"),
	    "x000, x001, x002", 16);
	free(big);
	gw_cors_destroy(c);
	config_free(&cfg);
}

static void
preflight_status_and_max_age(void **state)
{
	struct gw_cors_config cfg = config();
	struct gw_cors *c;
	struct captured cap;
	const struct {
		int64_t ns;
		const char *value;
	} ages[] = {
		{ 0, NULL },
		{ 500 * GW_NS_PER_MS, NULL },
		{ 1500 * GW_NS_PER_MS, "1" },
		{ 600 * GW_NS_PER_S, "600" },
		{ 12 * 3600 * GW_NS_PER_S, "43200" },
	};
	size_t i;

	(void)state;
	cfg.options_success_status = 200;
	c = gw_cors_create(&cfg);
	assert_int_equal(preflight(c, "https://a.com", "GET", NULL, &cap),
	    200);
	assert_int_equal(preflight(c, "https://a.com", "PUT", NULL, &cap),
	    200);
	assert_refused(&cap, VARY_PREFLIGHT);
	gw_cors_destroy(c);

	for (i = 0; i < GW_ARRAY_SIZE(ages); i++) {
		cfg.max_age_ns = ages[i].ns;
		c = gw_cors_create(&cfg);
		preflight(c, "https://a.com", "GET", NULL, &cap);
		if (ages[i].value == NULL)
			assert_null(header(&cap, "Access-Control-Max-Age"));
		else
			assert_string_equal(header(&cap,
			    "Access-Control-Max-Age"), ages[i].value);
		gw_cors_destroy(c);
	}
	config_free(&cfg);
}

/*
 * Credentials: with every origin allowed, "*" would be refused by
 * browsers, so the origin is echoed; with a list, always the origin.
 */
static void
credentials_and_wildcards(void **state)
{
	struct gw_cors_config cfg = config();
	struct gw_cors *c;
	struct captured cap;

	(void)state;
	c = gw_cors_create(&cfg);
	preflight(c, "https://a.com", "GET", NULL, &cap);
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"), "*");
	assert_null(header(&cap, "Access-Control-Allow-Credentials"));
	actual(c, "GET", "https://a.com", &cap);
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"), "*");
	assert_string_equal(header(&cap, "Vary"), "Origin");
	gw_cors_destroy(c);

	cfg.allow_credentials = true;
	c = gw_cors_create(&cfg);
	preflight(c, "https://a.com", "GET", NULL, &cap);
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"),
	    "https://a.com");
	assert_string_equal(header(&cap, "Access-Control-Allow-Credentials"),
	    "true");
	actual(c, "GET", "https://a.com", &cap);
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"),
	    "https://a.com");
	assert_string_equal(header(&cap, "Access-Control-Allow-Credentials"),
	    "true");
	gw_cors_destroy(c);

	list_free(&cfg.allow_origins);
	cfg.allow_origins = list((const char *const[]){
	    "https://*.a.com", NULL });
	c = gw_cors_create(&cfg);
	preflight(c, "https://x.a.com", "GET", NULL, &cap);
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"),
	    "https://x.a.com");
	assert_string_equal(header(&cap, "Access-Control-Allow-Credentials"),
	    "true");
	preflight(c, "https://a.com", "GET", NULL, &cap);
	assert_refused(&cap, VARY_PREFLIGHT);
	gw_cors_destroy(c);
	config_free(&cfg);
}

static void
private_network(void **state)
{
	struct gw_cors_config cfg = config();
	struct gw_cors *c;
	struct captured cap;

	(void)state;
	cfg.allow_private_network = true;
	c = gw_cors_create(&cfg);
	memset(&cap, 0, sizeof(cap));
	gw_cors_preflight_pna(c, "https://a.com", 13, "GET", 3, NULL, 0, true,
	    capture, &cap);
	assert_string_equal(header(&cap, "Vary"), VARY_PREFLIGHT
	    ", Access-Control-Request-Private-Network");
	assert_string_equal(header(&cap,
	    "Access-Control-Allow-Private-Network"), "true");
	memset(&cap, 0, sizeof(cap));
	gw_cors_preflight_pna(c, "https://a.com", 13, "GET", 3, NULL, 0, false,
	    capture, &cap);
	assert_null(header(&cap, "Access-Control-Allow-Private-Network"));
	gw_cors_destroy(c);

	/* Not configured: asked or not, never granted. */
	cfg.allow_private_network = false;
	c = gw_cors_create(&cfg);
	memset(&cap, 0, sizeof(cap));
	gw_cors_preflight_pna(c, "https://a.com", 13, "GET", 3, NULL, 0, true,
	    capture, &cap);
	assert_string_equal(header(&cap, "Vary"), VARY_PREFLIGHT);
	assert_null(header(&cap, "Access-Control-Allow-Private-Network"));
	gw_cors_destroy(c);
	config_free(&cfg);
}

/* --- actual responses ---------------------------------------------------- */

static void
actual_response_headers(void **state)
{
	struct gw_cors_config cfg = liquidity();
	struct gw_cors *c = gw_cors_create(&cfg);
	struct captured cap;

	(void)state;
	memset(&cap, 0, sizeof(cap));
	gw_cors_response_headers(c, "https://app.liquidity.io", 24, capture,
	    &cap);
	assert_int_equal(cap.n, 3);
	assert_string_equal(cap.name[0], "Vary");
	assert_string_equal(cap.value[0], "Origin");
	assert_string_equal(header(&cap, "Access-Control-Allow-Origin"),
	    "https://app.liquidity.io");
	assert_string_equal(header(&cap, "Access-Control-Expose-Headers"),
	    "Content-Length, X-Request-ID");
	assert_null(header(&cap, "Access-Control-Allow-Credentials"));
	assert_null(header(&cap, "Access-Control-Max-Age"));
	assert_null(header(&cap, "Access-Control-Allow-Methods"));

	/* Refused origin, no origin: Vary only. */
	memset(&cap, 0, sizeof(cap));
	gw_cors_response_headers(c, "https://evil.com", 16, capture, &cap);
	assert_refused(&cap, "Origin");
	memset(&cap, 0, sizeof(cap));
	gw_cors_response_headers(c, NULL, 0, capture, &cap);
	assert_refused(&cap, "Origin");

	/* With the method: one not allowed gets Vary only. */
	actual(c, "GET", "https://x.satschel.com", &cap);
	assert_int_equal(cap.n, 3);
	actual(c, "TRACE", "https://x.satschel.com", &cap);
	assert_refused(&cap, "Origin");
	actual(c, "get", "https://x.satschel.com", &cap);
	assert_refused(&cap, "Origin");
	actual(c, "GET", "https://satschel.com.evil.io", &cap);
	assert_refused(&cap, "Origin");
	gw_cors_destroy(c);
	config_free(&cfg);

	/* Defaults: no expose header, default methods. */
	cfg = config();
	c = gw_cors_create(&cfg);
	actual(c, "POST", "https://a.com", &cap);
	assert_int_equal(cap.n, 2);
	assert_null(header(&cap, "Access-Control-Expose-Headers"));
	actual(c, "DELETE", "https://a.com", &cap);
	assert_refused(&cap, "Origin");
	gw_cors_destroy(c);
	config_free(&cfg);
	gw_cors_destroy(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(origin_matching_table),
		cmocka_unit_test(origin_liquidity_config),
		cmocka_unit_test(origin_all),
		cmocka_unit_test(origin_patterns_validated),
		cmocka_unit_test(is_preflight),
		cmocka_unit_test(preflight_allowed),
		cmocka_unit_test(preflight_refused),
		cmocka_unit_test(preflight_header_list_syntax),
		cmocka_unit_test(preflight_default_headers_and_methods),
		cmocka_unit_test(preflight_all_headers),
		cmocka_unit_test(preflight_status_and_max_age),
		cmocka_unit_test(credentials_and_wildcards),
		cmocka_unit_test(private_network),
		cmocka_unit_test(actual_response_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
