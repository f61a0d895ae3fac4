/*
 * test_router.c: gw_router_create() and gw_router_match().
 *
 * Configs are built by hand from {method, pattern} arrays so that these
 * tests do not depend on the config loader.  Targets are copied into
 * buffers of their exact length, and scratch is exactly target_len + 1
 * bytes, so that AddressSanitizer catches any read or write past them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "router.h"

struct spec {
	const char *method;
	const char *pattern;
};

/* One match and the buffers its results point into. */
struct res {
	int rc;
	struct gw_match m;
	char *target;
	char *scratch;
};

static struct gw_config *
make_config(const struct spec *specs, size_t n)
{
	struct gw_config *cfg;
	size_t i;

	cfg = calloc(1, sizeof *cfg);
	assert_non_null(cfg);
	cfg->endpoints = calloc(n ? n : 1, sizeof *cfg->endpoints);
	assert_non_null(cfg->endpoints);
	cfg->nendpoints = n;
	for (i = 0; i < n; i++) {
		cfg->endpoints[i].method = specs[i].method != NULL ?
		    strdup(specs[i].method) : NULL;
		cfg->endpoints[i].endpoint = strdup(specs[i].pattern);
		cfg->endpoints[i].index = i;
	}
	return cfg;
}

static void
free_config(struct gw_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nendpoints; i++) {
		free(cfg->endpoints[i].method);
		free(cfg->endpoints[i].endpoint);
	}
	free(cfg->endpoints);
	free(cfg);
}

/* A config and its router, which must build. */
struct fixture {
	struct gw_config *cfg;
	struct gw_router *r;
};

static void
fixture_init(struct fixture *f, const struct spec *specs, size_t n)
{
	char *cause = NULL;

	f->cfg = make_config(specs, n);
	f->r = gw_router_create(f->cfg, &cause);
	if (f->r == NULL)
		fail_msg("gw_router_create: %s", cause);
	assert_null(cause);
}

static void
fixture_free(struct fixture *f)
{
	gw_router_destroy(f->r);
	free_config(f->cfg);
}

#define FIXTURE(f, specs) fixture_init((f), (specs), GW_ARRAY_SIZE(specs))

static void
run_len(struct res *x, const struct gw_router *r, const char *method,
    const char *target, size_t len)
{
	x->target = malloc(len ? len : 1);
	x->scratch = malloc(len + 1);
	assert_non_null(x->target);
	assert_non_null(x->scratch);
	memcpy(x->target, target, len);
	x->rc = gw_router_match(r, method, strlen(method), x->target, len,
	    &x->m, x->scratch);
}

static void
run(struct res *x, const struct gw_router *r, const char *method,
    const char *target)
{
	run_len(x, r, method, target, strlen(target));
}

static void
res_free(struct res *x)
{
	free(x->target);
	free(x->scratch);
}

/* Expects rc for method + target. */
static void
expect_rc(const struct gw_router *r, const char *method, const char *target,
    int rc)
{
	struct res x;

	run(&x, r, method, target);
	if (x.rc != rc)
		fail_msg("%s %s: got %d, want %d", method, target, x.rc, rc);
	res_free(&x);
}

/* Expects method + target to match endpoint `ep`. */
static void
expect_ep(const struct gw_router *r, const char *method, const char *target,
    size_t ep)
{
	struct res x;

	run(&x, r, method, target);
	if (x.rc != 0)
		fail_msg("%s %s: got %d, want endpoint %zu", method, target,
		    x.rc, ep);
	if (x.m.endpoint != ep)
		fail_msg("%s %s: got endpoint %zu, want %zu", method, target,
		    x.m.endpoint, ep);
	assert_null(x.m.allow);
	res_free(&x);
}

static void
expect_allow(const struct gw_router *r, const char *method,
    const char *target, const char *allow)
{
	struct res x;

	run(&x, r, method, target);
	if (x.rc != GW_ERR_METHOD)
		fail_msg("%s %s: got %d, want 405", method, target, x.rc);
	assert_non_null(x.m.allow);
	assert_string_equal(x.m.allow, allow);
	res_free(&x);
}

static void
assert_param(const struct gw_match *m, size_t i, const char *name,
    const char *value, size_t len)
{
	assert_true(i < m->nparams);
	assert_string_equal(m->params[i].name, name);
	assert_int_equal(m->params[i].len, len);
	assert_memory_equal(m->params[i].value, value, len);
}

#define PARAM(m, i, name, value) \
	assert_param((m), (i), (name), (value), sizeof(value) - 1)

static void
assert_rest(const struct gw_match *m, const char *rest)
{
	assert_non_null(m->rest);
	assert_int_equal(m->rest_len, strlen(rest));
	assert_memory_equal(m->rest, rest, strlen(rest));
}

/* --- matching --------------------------------------------------------- */

static void
static_routes(void **state)
{
	static const struct spec specs[] = {
		{ "GET", "/v1/models" },
		{ "GET", "/v1/model" },
		{ "GET", "/v1" },
		{ "GET", "/" },
		{ "GET", "/v1/models/" },
		{ NULL, "/default" },
	};
	struct fixture f;

	(void)state;
	FIXTURE(&f, specs);
	expect_ep(f.r, "GET", "/v1/models", 0);
	expect_ep(f.r, "GET", "/v1/model", 1);
	expect_ep(f.r, "GET", "/v1", 2);
	expect_ep(f.r, "GET", "/", 3);
	expect_ep(f.r, "GET", "/?x=1", 3);
	expect_ep(f.r, "GET", "/v1/models?limit=10&x=%zz", 0);
	/* A trailing '/' is significant, as in gin. */
	expect_ep(f.r, "GET", "/v1/models/", 4);
	expect_rc(f.r, "GET", "/v1/", GW_ERR_NOT_FOUND);
	expect_rc(f.r, "GET", "/v1/modelsx", GW_ERR_NOT_FOUND);
	expect_rc(f.r, "GET", "/v1/mode", GW_ERR_NOT_FOUND);
	expect_rc(f.r, "GET", "/v1/models/x", GW_ERR_NOT_FOUND);
	expect_rc(f.r, "GET", "/V1/models", GW_ERR_NOT_FOUND);
	/* Static segments are compared decoded. */
	expect_ep(f.r, "GET", "/v1/%6Dodels", 0);
	expect_ep(f.r, "GET", "/%76%31/models", 0);
	/* A NULL method in the config is GET. */
	expect_ep(f.r, "GET", "/default", 5);
	fixture_free(&f);
}

static void
static_beats_placeholder(void **state)
{
	static const struct spec specs[] = {
		{ "POST", "/v1/chat/completions" },
		{ "POST", "/v1/chat/{path}" },
		{ "GET", "/v1/chat/{path}" },
	};
	struct fixture f;
	struct res x;

	(void)state;
	FIXTURE(&f, specs);
	run(&x, f.r, "POST", "/v1/chat/completions");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 0);
	assert_int_equal(x.m.nparams, 0);
	assert_null(x.m.rest);
	res_free(&x);

	run(&x, f.r, "POST", "/v1/chat/threads");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 1);
	assert_int_equal(x.m.nparams, 1);
	PARAM(&x.m, 0, "path", "threads");
	res_free(&x);

	/* Precedence is per method: GET has no static completions, so the
	 * placeholder takes it, as with gin's per-method trees. */
	run(&x, f.r, "GET", "/v1/chat/completions");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 2);
	PARAM(&x.m, 0, "path", "completions");
	res_free(&x);

	/* {path} is one segment. */
	expect_rc(f.r, "POST", "/v1/chat/a/b", GW_ERR_NOT_FOUND);
	expect_rc(f.r, "POST", "/v1/chat/", GW_ERR_NOT_FOUND);
	expect_rc(f.r, "POST", "/v1/chat", GW_ERR_NOT_FOUND);
	fixture_free(&f);
}

static void
backtracking(void **state)
{
	static const struct spec specs[] = {
		{ "GET", "/a/b/c" },            /* 0 */
		{ "GET", "/a/{x}/d" },          /* 1 */
		{ "GET", "/a/*" },              /* 2 */
		{ "GET", "/a/b/{y}/e" },        /* 3 */
		{ "GET", "/a/{x}/{y}/f" },      /* 4 */
		{ "GET", "/p/q/r/s" },          /* 5 */
		{ "GET", "/p/{x}/r/t" },        /* 6 */
		{ "GET", "/p/{x}/{y}/{z}" },    /* 7 */
	};
	struct fixture f;
	struct res x;

	(void)state;
	FIXTURE(&f, specs);
	expect_ep(f.r, "GET", "/a/b/c", 0);

	/* The static b leads nowhere for d: back to {x}. */
	run(&x, f.r, "GET", "/a/b/d");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 1);
	assert_int_equal(x.m.nparams, 1);
	PARAM(&x.m, 0, "x", "b");
	res_free(&x);

	/* Neither b nor {x} has z: back to the wildcard. */
	run(&x, f.r, "GET", "/a/b/z");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 2);
	assert_int_equal(x.m.nparams, 0);
	assert_rest(&x.m, "b/z");
	res_free(&x);

	/* Two levels deep in the static branch, then back up. */
	run(&x, f.r, "GET", "/a/b/c/e");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 3);
	PARAM(&x.m, 0, "y", "c");
	res_free(&x);

	run(&x, f.r, "GET", "/a/b/c/f");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 4);
	assert_int_equal(x.m.nparams, 2);
	PARAM(&x.m, 0, "x", "b");
	PARAM(&x.m, 1, "y", "c");
	res_free(&x);

	/* A value pushed in a failed branch must not stay. */
	run(&x, f.r, "GET", "/a/b/c/g");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 2);
	assert_int_equal(x.m.nparams, 0);
	assert_rest(&x.m, "b/c/g");
	res_free(&x);

	expect_ep(f.r, "GET", "/p/q/r/s", 5);
	expect_ep(f.r, "GET", "/p/q/r/t", 6);
	run(&x, f.r, "GET", "/p/q/r/u");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 7);
	assert_int_equal(x.m.nparams, 3);
	PARAM(&x.m, 0, "x", "q");
	PARAM(&x.m, 1, "y", "r");
	PARAM(&x.m, 2, "z", "u");
	res_free(&x);
	expect_rc(f.r, "GET", "/p/q/r", GW_ERR_NOT_FOUND);
	fixture_free(&f);
}

static void
wildcard_remainder(void **state)
{
	static const struct spec specs[] = {
		{ "GET", "/files/*" },          /* 0 */
		{ "GET", "/files/special" },    /* 1 */
		{ "GET", "/u/{id}/*" },         /* 2 */
		{ "GET", "/x/*" },              /* 3 */
		{ "GET", "/x/y/{z}" },          /* 4 */
	};
	static const struct spec root[] = {
		{ "GET", "/*" },
		{ "GET", "/health" },
	};
	struct fixture f;
	struct res x;

	(void)state;
	FIXTURE(&f, specs);

	/* "/files/\*" takes "/files/" and below, not "/files". */
	expect_rc(f.r, "GET", "/files", GW_ERR_NOT_FOUND);
	run(&x, f.r, "GET", "/files/");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 0);
	assert_rest(&x.m, "");
	res_free(&x);

	expect_ep(f.r, "GET", "/files/special", 1);
	run(&x, f.r, "GET", "/files/special/");
	assert_int_equal(x.m.endpoint, 0);
	assert_rest(&x.m, "special/");
	res_free(&x);

	run(&x, f.r, "GET", "/files/a/b?q=1");
	assert_int_equal(x.m.endpoint, 0);
	assert_rest(&x.m, "a/b");
	res_free(&x);

	run(&x, f.r, "GET", "/files/a/b/");
	assert_rest(&x.m, "a/b/");
	res_free(&x);

	/* Segments are decoded, except '/' and '%', which stay escaped so
	 * that the remainder is unambiguous. */
	run(&x, f.r, "GET", "/files/a%2Fb/c%20d/%25/%41");
	assert_int_equal(x.rc, 0);
	assert_rest(&x.m, "a%2Fb/c d/%25/A");
	res_free(&x);

	run(&x, f.r, "GET", "/files//a///b/./c/../d");
	assert_int_equal(x.rc, 0);
	assert_rest(&x.m, "a/b/d");
	res_free(&x);

	run(&x, f.r, "GET", "/files/x/..");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 0);
	assert_rest(&x.m, "");
	res_free(&x);

	run(&x, f.r, "GET", "/u/7/a/b");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 2);
	PARAM(&x.m, 0, "id", "7");
	assert_rest(&x.m, "a/b");
	res_free(&x);
	expect_rc(f.r, "GET", "/u/7", GW_ERR_NOT_FOUND);

	/* "/x/y" ends on a node without endpoints: back to "/x/\*". */
	run(&x, f.r, "GET", "/x/y");
	assert_int_equal(x.m.endpoint, 3);
	assert_rest(&x.m, "y");
	res_free(&x);
	run(&x, f.r, "GET", "/x/y/");
	assert_int_equal(x.m.endpoint, 3);
	assert_rest(&x.m, "y/");
	res_free(&x);
	run(&x, f.r, "GET", "/x/y/z");
	assert_int_equal(x.m.endpoint, 4);
	PARAM(&x.m, 0, "z", "z");
	assert_null(x.m.rest);
	res_free(&x);
	fixture_free(&f);

	FIXTURE(&f, root);
	run(&x, f.r, "GET", "/");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 0);
	assert_rest(&x.m, "");
	res_free(&x);
	run(&x, f.r, "GET", "/anything/at/all");
	assert_int_equal(x.m.endpoint, 0);
	assert_rest(&x.m, "anything/at/all");
	res_free(&x);
	expect_ep(f.r, "GET", "/health", 1);
	fixture_free(&f);
}

static void
placeholder_values(void **state)
{
	static const struct spec specs[] = {
		{ "GET", "/v1/pricing/{path}" },
		{ "GET", "/v1/pricing/model/{name}" },
		{ "GET", "/v1/billing/accounts/{id}/members/{mid}" },
	};
	struct fixture f;
	struct res x;

	(void)state;
	FIXTURE(&f, specs);

	/* Decoded once: "%2541" is "%41", not "A". */
	run(&x, f.r, "GET", "/v1/pricing/model/%2541");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 1);
	PARAM(&x.m, 0, "name", "%41");
	res_free(&x);

	run(&x, f.r, "GET", "/v1/pricing/model/gpt%20%34o?x");
	PARAM(&x.m, 0, "name", "gpt 4o");
	res_free(&x);

	/* %2F stays in its segment: one value holding '/'. */
	run(&x, f.r, "GET", "/v1/pricing/model/a%2Fb");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 1);
	PARAM(&x.m, 0, "name", "a/b");
	res_free(&x);

	run(&x, f.r, "GET", "/v1/pricing/a%2fb");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 0);
	PARAM(&x.m, 0, "path", "a/b");
	res_free(&x);

	/* "model" as a value when no deeper segment follows. */
	run(&x, f.r, "GET", "/v1/pricing/model");
	assert_int_equal(x.m.endpoint, 0);
	PARAM(&x.m, 0, "path", "model");
	res_free(&x);

	/* Only "a/b" becomes "/v1/pricing/a/b", which nothing matches. */
	expect_rc(f.r, "GET", "/v1/pricing/a/b", GW_ERR_NOT_FOUND);

	run(&x, f.r, "GET", "/v1/billing/accounts/acc_1/members/u%3A2");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 2);
	assert_int_equal(x.m.nparams, 2);
	PARAM(&x.m, 0, "id", "acc_1");
	PARAM(&x.m, 1, "mid", "u:2");
	res_free(&x);

	/* Non-ASCII bytes pass through decoded. */
	run(&x, f.r, "GET", "/v1/pricing/%C3%A9t%C3%A9");
	PARAM(&x.m, 0, "path", "\xc3\xa9t\xc3\xa9");
	res_free(&x);
	fixture_free(&f);
}

static void
placeholder_names_per_endpoint(void **state)
{
	static const struct spec specs[] = {
		{ "GET", "/a/{id}" },
		{ "POST", "/a/{name}" },
	};
	struct fixture f;
	struct res x;

	(void)state;
	FIXTURE(&f, specs);
	run(&x, f.r, "GET", "/a/v");
	assert_int_equal(x.m.endpoint, 0);
	PARAM(&x.m, 0, "id", "v");
	res_free(&x);
	run(&x, f.r, "POST", "/a/v");
	assert_int_equal(x.m.endpoint, 1);
	PARAM(&x.m, 0, "name", "v");
	res_free(&x);
	fixture_free(&f);
}

static void
method_not_allowed(void **state)
{
	static const struct spec specs[] = {
		{ "DELETE", "/v1/billing/subscriptions/{id}" },
		{ "PATCH", "/v1/billing/subscriptions/{id}" },
		{ "GET", "/v1/billing/subscriptions/{id}" },
		{ "POST", "/v1/billing/subscriptions" },
		{ "GET", "/v1/billing/subscriptions" },
		{ "POST", "/v1/chat/completions" },
		{ "GET", "/v1/chat/{path}" },
		{ "PURGE", "/cache/*" },
		{ "OPTIONS", "/cache/*" },
		{ "BREW", "/cache/pot" },
	};
	struct fixture f;
	struct res x;

	(void)state;
	FIXTURE(&f, specs);
	expect_allow(f.r, "DELETE", "/v1/billing/subscriptions",
	    "GET, POST");
	expect_allow(f.r, "PUT", "/v1/billing/subscriptions/sub_1",
	    "GET, PATCH, DELETE");
	/* A method no endpoint has, and case matters (RFC 9110 9.1). */
	expect_allow(f.r, "FOO", "/v1/billing/subscriptions", "GET, POST");
	expect_allow(f.r, "get", "/v1/billing/subscriptions", "GET, POST");
	/* Every endpoint whose pattern matches the path counts. */
	expect_allow(f.r, "DELETE", "/v1/chat/completions", "GET, POST");
	expect_allow(f.r, "POST", "/v1/chat/threads", "GET");
	/* Extension methods follow the known ones, by name. */
	expect_allow(f.r, "GET", "/cache/x", "OPTIONS, PURGE");
	expect_allow(f.r, "GET", "/cache/pot", "OPTIONS, BREW, PURGE");
	/* HEAD is not implied by GET. */
	expect_allow(f.r, "HEAD", "/v1/billing/subscriptions", "GET, POST");

	expect_rc(f.r, "GET", "/v1/billing", GW_ERR_NOT_FOUND);
	expect_rc(f.r, "GET", "/nothing/here", GW_ERR_NOT_FOUND);
	expect_rc(f.r, "GET", "/cache", GW_ERR_NOT_FOUND);

	run(&x, f.r, "DELETE", "/v1/billing/subscriptions");
	assert_int_equal(x.rc, GW_ERR_METHOD);
	assert_int_equal(x.m.nparams, 0);
	assert_null(x.m.rest);
	res_free(&x);
	fixture_free(&f);
}

/* --- hostile and malformed paths ------------------------------------- */

static void
hostile_paths(void **state)
{
	static const struct spec specs[] = {
		{ "GET", "/a/{x}" },
		{ "GET", "/b" },
		{ "GET", "/a/b/c" },
		{ "GET", "/" },
	};
	struct fixture f;
	struct res x;

	(void)state;
	FIXTURE(&f, specs);

	/* Encoded dot segments: a backend would resolve them after us. */
	expect_rc(f.r, "GET", "/a/%2e%2e/b", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/%2E%2E", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/%2e", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/.%2e", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/%2e.", GW_ERR_INVAL);
	/* ".." above the root. */
	expect_rc(f.r, "GET", "/a/../../b", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/..", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/../b", GW_ERR_INVAL);
	/* Literal dot segments are resolved. */
	expect_ep(f.r, "GET", "/a/../b", 1);
	expect_ep(f.r, "GET", "/./b", 1);
	expect_ep(f.r, "GET", "/a/b/./c", 2);
	expect_ep(f.r, "GET", "/a/x/../b/c", 2);
	expect_ep(f.r, "GET", "/a/..", 3);
	/* "..." and ".x" are ordinary segments. */
	run(&x, f.r, "GET", "/a/...");
	assert_int_equal(x.rc, 0);
	PARAM(&x.m, 0, "x", "...");
	res_free(&x);
	run(&x, f.r, "GET", "/a/.x");
	PARAM(&x.m, 0, "x", ".x");
	res_free(&x);
	/* Runs of '/' merge. */
	expect_ep(f.r, "GET", "//", 3);
	expect_ep(f.r, "GET", "///b", 1);
	expect_ep(f.r, "GET", "/a//b//c", 2);
	/* ...and a final run leaves a trailing '/', which is significant. */
	expect_rc(f.r, "GET", "/a/b/c//", GW_ERR_NOT_FOUND);
	/* NUL and malformed escapes. */
	expect_rc(f.r, "GET", "/a/%00", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/x%00y", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/%zz", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/%4", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/%", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/%4?x", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/%g1", GW_ERR_INVAL);
	run_len(&x, f.r, "GET", "/a/\0", 4);
	assert_int_equal(x.rc, GW_ERR_INVAL);
	res_free(&x);
	/* Bytes no request-target holds. */
	expect_rc(f.r, "GET", "/a/x y", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/x\ty", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/x\r\nHost: evil", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/x\x7f", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "/a/x#frag", GW_ERR_INVAL);
	/* ...but encoded they are values like any other. */
	run(&x, f.r, "GET", "/a/x%20y%23z%0D%0A");
	assert_int_equal(x.rc, 0);
	PARAM(&x.m, 0, "x", "x y#z\r\n");
	res_free(&x);
	/* An encoded '/' never splits: "/a/b%2Fc" is not "/a/b/c". */
	run(&x, f.r, "GET", "/a/b%2Fc");
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 0);
	PARAM(&x.m, 0, "x", "b/c");
	res_free(&x);
	run(&x, f.r, "GET", "/a/%2F");
	PARAM(&x.m, 0, "x", "/");
	res_free(&x);
	run(&x, f.r, "GET", "/a/%2F..%2F");
	PARAM(&x.m, 0, "x", "/../");
	res_free(&x);
	/* Only origin form reaches the router. */
	expect_rc(f.r, "GET", "", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "b", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "a/b/c", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "?x=1", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "*", GW_ERR_INVAL);
	expect_rc(f.r, "GET", "http://example.com/b", GW_ERR_INVAL);
	expect_rc(f.r, "OPTIONS", "*", GW_ERR_INVAL);
	fixture_free(&f);
}

static void
long_paths(void **state)
{
	static const struct spec specs[] = {
		{ "GET", "/*" },
		{ "GET", "/p/{x}" },
		{ "GET", "/s/a" },
	};
	struct fixture f;
	struct res x;
	size_t len = 65536, i;
	char *t;

	(void)state;
	FIXTURE(&f, specs);
	t = malloc(4 * len + 16);
	assert_non_null(t);

	/* One 64 KiB segment. */
	t[0] = '/';
	memset(t + 1, 'a', len - 1);
	run_len(&x, f.r, "GET", t, len);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 0);
	assert_int_equal(x.m.rest_len, len - 1);
	res_free(&x);

	/* A 64 KiB placeholder value, decoded from 192 KiB of escapes. */
	memcpy(t, "/p/", 3);
	for (i = 0; i < len; i++)
		memcpy(t + 3 + 3 * i, "%41", 3);
	run_len(&x, f.r, "GET", t, 3 + 3 * len);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 1);
	assert_int_equal(x.m.params[0].len, len);
	assert_int_equal(x.m.params[0].value[len - 1], 'A');
	res_free(&x);

	/* The same escapes as a remainder: '%' and '/' keep their escape,
	 * so the remainder is as long as what was received. */
	t[0] = '/';
	for (i = 0; i < len; i++)
		memcpy(t + 1 + 3 * i, i % 2 ? "%2F" : "%25", 3);
	run_len(&x, f.r, "GET", t, 1 + 3 * len);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.rest_len, 3 * len);
	assert_memory_equal(x.m.rest, t + 1, 3 * len);
	res_free(&x);

	/* GW_ROUTER_MAX_SEGMENTS segments match; one more is refused. */
	for (i = 0; i < GW_ROUTER_MAX_SEGMENTS; i++)
		memcpy(t + 2 * i, "/a", 2);
	run_len(&x, f.r, "GET", t, 2 * GW_ROUTER_MAX_SEGMENTS);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.rest_len, 2 * GW_ROUTER_MAX_SEGMENTS - 1);
	res_free(&x);
	t[2 * GW_ROUTER_MAX_SEGMENTS] = '/';
	run_len(&x, f.r, "GET", t, 2 * GW_ROUTER_MAX_SEGMENTS + 1);
	assert_int_equal(x.rc, GW_ERR_INVAL);
	res_free(&x);
	memcpy(t + 2 * GW_ROUTER_MAX_SEGMENTS, "/b", 2);
	run_len(&x, f.r, "GET", t, 2 * GW_ROUTER_MAX_SEGMENTS + 2);
	assert_int_equal(x.rc, GW_ERR_INVAL);
	res_free(&x);

	/* Many segments that resolve away cost nothing but the walk. */
	for (i = 0; i < len / 5; i++)
		memcpy(t + 5 * i, "/a/..", 5);
	memcpy(t + 5 * i, "/s/a", 4);
	run_len(&x, f.r, "GET", t, 5 * i + 4);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 2);
	res_free(&x);
	for (i = 0; i < len / 2; i++)
		memcpy(t + 2 * i, "/.", 2);
	run_len(&x, f.r, "GET", t, len);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.endpoint, 0);
	assert_rest(&x.m, "");
	res_free(&x);
	/* 64 KiB of '/' is "/". */
	memset(t, '/', len);
	run_len(&x, f.r, "GET", t, len);
	assert_int_equal(x.rc, 0);
	assert_rest(&x.m, "");
	res_free(&x);

	free(t);
	fixture_free(&f);
}

/* --- the shape of the real configuration ----------------------------- */

/* A subset of tests/compat/hanzo-gateway.json, in its order. */
static const struct spec hanzo[] = {
	{ "POST", "/v1/chat" },                                 /* 0 */
	{ "POST", "/v1/chat/completions" },                     /* 1 */
	{ "POST", "/v1/completions" },                          /* 2 */
	{ "GET", "/v1/models" },                                /* 3 */
	{ "POST", "/v1/messages" },                             /* 4 */
	{ "GET", "/v1/async-invoke/{request_id}/status" },      /* 5 */
	{ "GET", "/v1/async-invoke/{request_id}" },             /* 6 */
	{ "GET", "/cloud/{path}" },                             /* 7 */
	{ "GET", "/v1/cloud/{path}" },                          /* 8 */
	{ "POST", "/cloud/{path}" },                            /* 9 */
	{ "GET", "/v1/billing/subscriptions" },                 /* 10 */
	{ "POST", "/v1/billing/subscriptions" },                /* 11 */
	{ "GET", "/v1/billing/subscriptions/{id}" },            /* 12 */
	{ "PATCH", "/v1/billing/subscriptions/{id}" },          /* 13 */
	{ "DELETE", "/v1/billing/subscriptions/{id}" },         /* 14 */
	{ "POST", "/v1/billing/subscriptions/{id}/promotion" }, /* 15 */
	{ "GET", "/auth/{path}" },                              /* 16 */
	{ "PUT", "/auth/{path}" },                              /* 17 */
	{ "GET", "/v1/chat/{path}" },                           /* 18 */
	{ "POST", "/v1/chat/{path}" },                          /* 19 */
	{ "GET", "/bot/health" },                               /* 20 */
	{ "GET", "/v1/bot/{path}" },                            /* 21 */
	{ "GET", "/v1/bot/health" },                            /* 22 */
	{ "GET", "/team/_accounts/{path}" },                    /* 23 */
	{ "GET", "/v1/billing/accounts/{id}/members" },         /* 24 */
	{ "PATCH", "/v1/billing/accounts/{id}/members/{mid}" }, /* 25 */
	{ "GET", "/v1/pricing" },                               /* 26 */
	{ "GET", "/v1/pricing/{path}" },                        /* 27 */
	{ "GET", "/v1/pricing/model/{name}" },                  /* 28 */
	{ "POST", "/v1/pricing/{path}" },                       /* 29 */
	{ "GET", "/pricing/{path}" },                           /* 30 */
	{ "GET", "/pricing/model/{name}" },                     /* 31 */
	{ "GET", "/v1/pricing-policy" },                        /* 32 */
	{ "GET", "/health" },                                   /* 33 */
	{ "GET", "/" },                                         /* 34 */
	{ "GET", "/v1/world/{path}" },                          /* 35 */
	{ "DELETE", "/v1/world/{path}" },                       /* 36 */
	{ "POST", "/v1/mpc/{path}" },                           /* 37 */
};

static void
hanzo_config(void **state)
{
	struct fixture f;
	struct res x;

	(void)state;
	FIXTURE(&f, hanzo);

	expect_ep(f.r, "POST", "/v1/chat", 0);
	expect_ep(f.r, "POST", "/v1/chat/completions", 1);
	expect_ep(f.r, "POST", "/v1/chat/threads", 19);
	expect_ep(f.r, "GET", "/v1/chat/completions", 18);
	expect_allow(f.r, "PUT", "/v1/chat/completions", "GET, POST");
	expect_allow(f.r, "GET", "/v1/chat", "POST");
	expect_ep(f.r, "GET", "/v1/models", 3);
	expect_ep(f.r, "GET", "/v1/async-invoke/req-1", 6);
	run(&x, f.r, "GET", "/v1/async-invoke/req-1/status");
	assert_int_equal(x.m.endpoint, 5);
	PARAM(&x.m, 0, "request_id", "req-1");
	res_free(&x);
	/* "status" is a value too when nothing follows it. */
	run(&x, f.r, "GET", "/v1/async-invoke/status");
	assert_int_equal(x.m.endpoint, 6);
	PARAM(&x.m, 0, "request_id", "status");
	res_free(&x);

	expect_ep(f.r, "GET", "/cloud/instances", 7);
	expect_ep(f.r, "POST", "/cloud/instances", 9);
	expect_ep(f.r, "GET", "/v1/cloud/instances", 8);
	expect_allow(f.r, "POST", "/v1/cloud/instances", "GET");

	expect_ep(f.r, "GET", "/v1/billing/subscriptions", 10);
	expect_ep(f.r, "POST", "/v1/billing/subscriptions", 11);
	expect_ep(f.r, "PATCH", "/v1/billing/subscriptions/sub_1", 13);
	expect_ep(f.r, "POST", "/v1/billing/subscriptions/sub_1/promotion",
	    15);
	expect_allow(f.r, "POST", "/v1/billing/subscriptions/sub_1",
	    "GET, PATCH, DELETE");
	expect_allow(f.r, "GET", "/v1/billing/subscriptions/sub_1/promotion",
	    "POST");

	expect_ep(f.r, "PUT", "/auth/login", 17);
	expect_allow(f.r, "POST", "/auth/login", "GET, PUT");

	expect_ep(f.r, "GET", "/bot/health", 20);
	expect_ep(f.r, "GET", "/v1/bot/health", 22);
	expect_ep(f.r, "GET", "/v1/bot/ws", 21);
	expect_ep(f.r, "GET", "/team/_accounts/list", 23);
	expect_rc(f.r, "GET", "/team/_other/list", GW_ERR_NOT_FOUND);

	run(&x, f.r, "PATCH", "/v1/billing/accounts/a1/members/m2");
	assert_int_equal(x.m.endpoint, 25);
	PARAM(&x.m, 0, "id", "a1");
	PARAM(&x.m, 1, "mid", "m2");
	res_free(&x);
	expect_ep(f.r, "GET", "/v1/billing/accounts/a1/members", 24);

	/* /v1/pricing/{path} beside /v1/pricing/model/{name}. */
	expect_ep(f.r, "GET", "/v1/pricing", 26);
	expect_ep(f.r, "GET", "/v1/pricing/gpu", 27);
	expect_ep(f.r, "POST", "/v1/pricing/gpu", 29);
	expect_ep(f.r, "GET", "/v1/pricing/model", 27);
	run(&x, f.r, "GET", "/v1/pricing/model/zen-1");
	assert_int_equal(x.m.endpoint, 28);
	PARAM(&x.m, 0, "name", "zen-1");
	res_free(&x);
	expect_allow(f.r, "POST", "/v1/pricing/model/zen-1", "GET");
	expect_rc(f.r, "GET", "/v1/pricing/gpu/a100", GW_ERR_NOT_FOUND);
	expect_ep(f.r, "GET", "/pricing/model/zen-1", 31);
	expect_ep(f.r, "GET", "/v1/pricing-policy", 32);

	expect_ep(f.r, "GET", "/", 34);
	expect_ep(f.r, "GET", "/health", 33);
	expect_ep(f.r, "DELETE", "/v1/world/w1", 36);
	expect_allow(f.r, "GET", "/v1/mpc/keys", "POST");
	expect_rc(f.r, "GET", "/v2/models", GW_ERR_NOT_FOUND);
	fixture_free(&f);
}

/* --- building ---------------------------------------------------------- */

/* Expects gw_router_create() to refuse specs with a cause holding want. */
static void
expect_refused(const struct spec *specs, size_t n, const char *want)
{
	struct gw_config *cfg = make_config(specs, n);
	struct gw_router *r;
	char *cause = NULL;

	r = gw_router_create(cfg, &cause);
	if (r != NULL)
		fail_msg("%s %s: built, want \"%s\"", specs[n - 1].method,
		    specs[n - 1].pattern, want);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
	free_config(cfg);
}

#define REFUSED(specs, want) expect_refused((specs), GW_ARRAY_SIZE(specs), \
	(want))

static void
collisions(void **state)
{
	static const struct spec names[] = {
		{ "GET", "/a" },
		{ "GET", "/a/{x}" },
		{ "GET", "/a/{y}" },
	};
	static const struct spec statics[] = {
		{ "POST", "/v1/chat/completions" },
		{ "POST", "/v1/chat/completions" },
	};
	static const struct spec decoded[] = {
		{ "GET", "/a b" },
		{ "GET", "/a%20b" },
	};
	static const struct spec wild[] = {
		{ "GET", "/files/*" },
		{ "GET", "/files/*" },
	};
	static const struct spec fine[] = {
		{ "GET", "/a/{x}" },
		{ "POST", "/a/{y}" },
		{ "GET", "/a" },
		{ "GET", "/a/" },
		{ "GET", "/a/*" },
		{ "GET", "/a/b" },
		{ "GET", "/{x}" },
		{ "GET", "/*" },
	};
	struct gw_config *cfg;
	struct gw_router *r;
	char *cause = NULL;

	(void)state;
	REFUSED(names, "endpoints[2]: GET /a/{y} collides with endpoints[1]: "
	    "GET /a/{x}");
	REFUSED(statics, "endpoints[1]: POST /v1/chat/completions collides "
	    "with endpoints[0]");
	REFUSED(decoded, "collides");
	REFUSED(wild, "collides");

	cfg = make_config(fine, GW_ARRAY_SIZE(fine));
	r = gw_router_create(cfg, &cause);
	assert_non_null(r);
	assert_null(cause);
	gw_router_destroy(r);
	free_config(cfg);
}

static void
malformed_patterns(void **state)
{
	static const struct spec cases[][1] = {
		{ { "GET", "a/b" } },
		{ { "GET", "" } },
		{ { "GET", "/a//b" } },
		{ { "GET", "//" } },
		{ { "GET", "/a/*/b" } },
		{ { "GET", "/a/{}" } },
		{ { "GET", "/a/{x" } },
		{ { "GET", "/a/x}" } },
		{ { "GET", "/a/x{y}" } },
		{ { "GET", "/a/{x}.json" } },
		{ { "GET", "/a/{{x}}" } },
		{ { "GET", "/a/%zz" } },
		{ { "GET", "/a/%00" } },
		{ { "GET", "/a/./b" } },
		{ { "GET", "/a/../b" } },
		{ { "GET", "/a/%2e%2e" } },
	};
	static const char *const why[] = {
		"must start with '/'", "must start with '/'",
		"empty segment", "empty segment", "must be the last",
		"malformed placeholder", "whole segment", "whole segment",
		"whole segment", "whole segment", "malformed placeholder",
		"malformed %XX", "malformed %XX", "\".\" or \"..\"",
		"\".\" or \"..\"", "\".\" or \"..\"",
	};
	size_t i;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(cases); i++)
		expect_refused(cases[i], 1, why[i]);
}

static void
limits(void **state)
{
	static const char *const methods[] = {
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
		"CONNECT", "TRACE", "PURGE", "BREW",
	};
	struct spec specs[GW_ARRAY_SIZE(methods)];
	struct gw_config *cfg;
	struct gw_router *r;
	char pattern[8 * 32], target[8 * 32], *p, *q, *cause = NULL;
	struct res x;
	size_t i;

	(void)state;

	/* GW_ROUTER_MAX_PARAMS placeholders build and match... */
	p = pattern;
	q = target;
	for (i = 0; i < GW_ROUTER_MAX_PARAMS; i++) {
		p += sprintf(p, "/{p%zu}", i);
		q += sprintf(q, "/v%zu", i);
	}
	specs[0].method = "GET";
	specs[0].pattern = pattern;
	cfg = make_config(specs, 1);
	r = gw_router_create(cfg, &cause);
	assert_non_null(r);
	run(&x, r, "GET", target);
	assert_int_equal(x.rc, 0);
	assert_int_equal(x.m.nparams, GW_ROUTER_MAX_PARAMS);
	PARAM(&x.m, 15, "p15", "v15");
	res_free(&x);
	gw_router_destroy(r);
	free_config(cfg);

	/* ...one more does not. */
	sprintf(p, "/{p%d}", GW_ROUTER_MAX_PARAMS);
	expect_refused(specs, 1, "too many placeholders");

	/* Patterns deeper than any path that can match them. */
	p = malloc(2 * (GW_ROUTER_MAX_SEGMENTS + 1) + 1);
	assert_non_null(p);
	for (i = 0; i <= GW_ROUTER_MAX_SEGMENTS; i++)
		memcpy(p + 2 * i, "/a", 3);
	specs[0].pattern = p;
	expect_refused(specs, 1, "too many segments");
	free(p);

	/* GW_ROUTER_MAX_METHODS distinct methods, and one more. */
	for (i = 0; i < GW_ARRAY_SIZE(methods); i++) {
		specs[i].method = methods[i];
		specs[i].pattern = "/m";
	}
	cfg = make_config(specs, GW_ROUTER_MAX_METHODS);
	r = gw_router_create(cfg, &cause);
	assert_non_null(r);
	expect_allow(r, "BREW", "/m", "GET, HEAD, POST, PUT, PATCH, DELETE, "
	    "OPTIONS, CONNECT, TRACE, PURGE");
	gw_router_destroy(r);
	free_config(cfg);
	expect_refused(specs, GW_ARRAY_SIZE(methods), "distinct methods");
}

/* --- dump -------------------------------------------------------------- */

struct visit {
	size_t n;
	const struct gw_endpoint_config *seen[64];
};

static void
visit(void *arg, const struct gw_endpoint_config *ep)
{
	struct visit *v = arg;

	assert_true(v->n < GW_ARRAY_SIZE(v->seen));
	v->seen[v->n++] = ep;
}

static void
dump(void **state)
{
	static const struct spec specs[] = {
		{ "POST", "/b" },       /* 0 */
		{ "GET", "/a/*" },      /* 1 */
		{ "GET", "/b" },        /* 2 */
		{ "GET", "/a/{x}" },    /* 3 */
		{ "GET", "/a/z" },      /* 4 */
		{ "GET", "/" },         /* 5 */
	};
	/* Node by node: "/" (the empty segment sorts first), "/a/z",
	 * "/a/{x}", "/a/\*", then "/b" by method. */
	static const size_t want[] = { 5, 4, 3, 1, 2, 0 };
	struct fixture f;
	struct visit v = { 0 };
	size_t i, j;

	(void)state;
	FIXTURE(&f, specs);
	gw_router_dump(f.r, visit, &v);
	assert_int_equal(v.n, GW_ARRAY_SIZE(want));
	for (i = 0; i < v.n; i++)
		assert_ptr_equal(v.seen[i], &f.cfg->endpoints[want[i]]);
	fixture_free(&f);

	/* Every endpoint of the real shape, once. */
	FIXTURE(&f, hanzo);
	memset(&v, 0, sizeof v);
	gw_router_dump(f.r, visit, &v);
	assert_int_equal(v.n, GW_ARRAY_SIZE(hanzo));
	for (i = 0; i < v.n; i++)
		for (j = i + 1; j < v.n; j++)
			assert_ptr_not_equal(v.seen[i], v.seen[j]);
	fixture_free(&f);
}

static void
pattern_parse(void **state)
{
	struct gw_pattern p;
	const char *why;

	(void)state;
	assert_int_equal(gw_router_pattern("/a/{id}/b/{n}/*", &p, &why), 0);
	assert_int_equal(p.nparams, 2);
	assert_true(p.wild);
	assert_int_equal(p.params[0].len, 2);
	assert_memory_equal(p.params[0].name, "id", 2);
	assert_int_equal(p.params[1].len, 1);
	assert_memory_equal(p.params[1].name, "n", 1);
	assert_int_equal(gw_router_pattern("/", &p, &why), 0);
	assert_int_equal(p.nparams, 0);
	assert_false(p.wild);
	assert_int_equal(gw_router_pattern("/a/{x", &p, &why), -1);
	assert_non_null(why);
	assert_int_equal(gw_router_pattern(NULL, &p, &why), -1);
}

/*
 * Random targets from an alphabet rich in what the path code treats
 * specially, against a tree with every kind of child.  Under ASan this
 * checks that no input reads or writes past target or scratch; always,
 * that results stay inside scratch and the code is one of the four.
 */
static void
random_targets(void **state)
{
	static const struct spec specs[] = {
		{ "GET", "/" },
		{ "GET", "/a/{x}" },
		{ "POST", "/a/b" },
		{ "GET", "/a/b/*" },
		{ "GET", "/{x}/{y}/c" },
		{ "GET", "/c/*" },
		{ "PUT", "/b/" },
	};
	static const char alpha[] = "///..%2eEfF0a?b#c ";
	struct fixture f;
	struct res x;
	uint32_t seed = 12345;
	size_t seen[4] = { 0 };
	char t[48];
	size_t i, j, len;
	const char *lo, *hi;

	(void)state;
	FIXTURE(&f, specs);
	for (i = 0; i < 200000; i++) {
		seed = seed * 1103515245 + 12345;
		len = (seed >> 16) % sizeof t;
		for (j = 0; j < len; j++) {
			seed = seed * 1103515245 + 12345;
			t[j] = alpha[(seed >> 16) % (sizeof alpha - 1)];
		}
		if (len != 0 && i % 4 != 0)
			t[0] = '/';
		run_len(&x, f.r, i % 3 ? "GET" : "POST", t, len);
		assert_true(x.rc == 0 || x.rc == GW_ERR_NOT_FOUND ||
		    x.rc == GW_ERR_METHOD || x.rc == GW_ERR_INVAL);
		seen[-x.rc]++;
		lo = x.scratch;
		hi = x.scratch + len + 1;
		for (j = 0; x.rc == 0 && j < x.m.nparams; j++) {
			assert_true(x.m.params[j].value >= lo);
			assert_true(x.m.params[j].value +
			    x.m.params[j].len <= hi);
			assert_true(x.m.params[j].len != 0);
		}
		if (x.rc == 0 && x.m.rest != NULL) {
			assert_true(x.m.rest >= lo);
			assert_true(x.m.rest + x.m.rest_len <= hi);
		}
		res_free(&x);
	}
	/* The alphabet reaches every outcome, often. */
	for (j = 0; j < GW_ARRAY_SIZE(seen); j++)
		assert_true(seen[j] > 1000);
	fixture_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(static_routes),
		cmocka_unit_test(static_beats_placeholder),
		cmocka_unit_test(backtracking),
		cmocka_unit_test(wildcard_remainder),
		cmocka_unit_test(placeholder_values),
		cmocka_unit_test(placeholder_names_per_endpoint),
		cmocka_unit_test(method_not_allowed),
		cmocka_unit_test(hostile_paths),
		cmocka_unit_test(long_paths),
		cmocka_unit_test(hanzo_config),
		cmocka_unit_test(collisions),
		cmocka_unit_test(malformed_patterns),
		cmocka_unit_test(limits),
		cmocka_unit_test(dump),
		cmocka_unit_test(pattern_parse),
		cmocka_unit_test(random_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
