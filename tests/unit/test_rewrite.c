/*
 * test_rewrite.c: url_pattern templates, query and header filters.
 *
 * Matches come from the real router, so that what a backend receives is
 * tested from the request-target the client sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gw.h"
#include "rewrite.h"
#include "router.h"

/* One endpoint, its router and a backend template. */
struct one {
	struct gw_config cfg;
	struct gw_endpoint_config ep;
	struct gw_router *r;
	struct gw_urltmpl *t;
};

static void
one_init(struct one *o, const char *endpoint, const char *url_pattern)
{
	char *cause = NULL;

	memset(o, 0, sizeof *o);
	o->ep.endpoint = strdup(endpoint);
	o->ep.method = strdup("GET");
	o->cfg.endpoints = &o->ep;
	o->cfg.nendpoints = 1;
	if ((o->r = gw_router_create(&o->cfg, &cause)) == NULL)
		fail_msg("gw_router_create: %s", cause);
	if ((o->t = gw_urltmpl_compile(url_pattern, endpoint,
	    &cause)) == NULL)
		fail_msg("gw_urltmpl_compile(%s, %s): %s", url_pattern,
		    endpoint, cause);
	assert_null(cause);
}

static void
one_free(struct one *o)
{
	gw_urltmpl_destroy(o->t);
	gw_router_destroy(o->r);
	free(o->ep.endpoint);
	free(o->ep.method);
}

/*
 * Routes target through o and returns what the backend is sent (malloc'd),
 * with the query filtered by `allowed`.
 */
static char *
rewrite(const struct one *o, const char *target,
    const struct gw_strlist *allowed)
{
	struct gw_match m;
	struct evbuffer *out;
	size_t len = strlen(target), n;
	const char *q;
	char *scratch, *t, *s;
	int rc;

	/* Exact sizes, no NUL after the target: ASan sees any overrun. */
	t = malloc(len);
	scratch = malloc(len + 1);
	assert_non_null(t);
	assert_non_null(scratch);
	memcpy(t, target, len);
	rc = gw_router_match(o->r, "GET", 3, t, len, &m, scratch);
	if (rc != 0)
		fail_msg("%s: gw_router_match: %d", target, rc);
	q = memchr(t, '?', len);
	assert_non_null(out = evbuffer_new());
	gw_urltmpl_expand(o->t, &m, q != NULL ? q + 1 : NULL,
	    q != NULL ? len - (size_t)(q + 1 - t) : 0, allowed, out);
	n = evbuffer_get_length(out);
	s = malloc(n + 1);
	assert_non_null(s);
	evbuffer_remove(out, s, n);
	s[n] = '\0';
	evbuffer_free(out);
	free(scratch);
	free(t);
	return s;
}

static void
expect(const char *endpoint, const char *url_pattern, const char *target,
    const struct gw_strlist *allowed, const char *want)
{
	struct one o;
	char *got;

	one_init(&o, endpoint, url_pattern);
	got = rewrite(&o, target, allowed);
	if (strcmp(got, want) != 0)
		fail_msg("%s -> %s: %s: got \"%s\", want \"%s\"", endpoint,
		    url_pattern, target, got, want);
	free(got);
	one_free(&o);
}

static const struct gw_strlist none = { NULL, 0, false };

/* --- compile ----------------------------------------------------------- */

static void
expect_refused(const char *url_pattern, const char *endpoint,
    const char *want)
{
	struct gw_urltmpl *t;
	char *cause = NULL;

	t = gw_urltmpl_compile(url_pattern, endpoint, &cause);
	if (t != NULL)
		fail_msg("%s for %s compiled, want \"%s\"", url_pattern,
		    endpoint, want);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
}

static void
compile_errors(void **state)
{
	(void)state;
	expect_refused("/x/{id}", "/a/{b}",
	    "placeholder {id} is not defined by the endpoint /a/{b}");
	expect_refused("/x/{B}", "/a/{b}", "placeholder {B} is not defined");
	expect_refused("/x/{b", "/a/{b}", "unterminated placeholder");
	expect_refused("/x/{{b}", "/a/{b}", "unterminated placeholder");
	expect_refused("/x/b}", "/a/{b}", "'}' without '{'");
	expect_refused("/x/{*}", "/a/{b}", "has no wildcard");
	expect_refused("/x/*", "/a/{b}", "has no wildcard");
	expect_refused("/x?id={id}", "/a/{b}", "placeholder {id}");
	expect_refused("x/{b}", "/a/{b}", "must start with '/'");
	expect_refused("", "/a/{b}", "must start with '/'");
	expect_refused(NULL, "/a/{b}", "must start with '/'");
	expect_refused("/x", "/a/{b", "endpoint /a/{b");
	expect_refused("/x", NULL, "endpoint (null)");
}

/* --- path -------------------------------------------------------------- */

static void
placeholders(void **state)
{
	(void)state;
	expect("/a/{b}", "/x/{b}/y", "/a/v1", &none, "/x/v1/y");
	expect("/u/{id}/p/{pid}", "/p/{pid}/u/{id}/{id}", "/u/1/p/2", &none,
	    "/p/2/u/1/1");
	/* Within a segment, as KrakenD allows. */
	expect("/a/{b}", "/x/{b}.json", "/a/v", &none, "/x/v.json");
	/* Decoded once by the router, encoded once here. */
	expect("/a/{b}", "/x/{b}", "/a/%2541", &none, "/x/%2541");
	expect("/a/{b}", "/x/{b}", "/a/%41", &none, "/x/A");
	/* A '/' in a value never adds a segment. */
	expect("/a/{b}", "/x/{b}", "/a/a%2Fb", &none, "/x/a%2Fb");
	expect("/a/{b}", "/x/{b}", "/a/%2F..%2F", &none, "/x/%2F..%2F");
	/* pchar passes as is; the rest is escaped. */
	expect("/a/{b}", "/x/{b}", "/a/a:b@c!$&'()*+,;=-._~", &none,
	    "/x/a:b@c!$&'()*+,;=-._~");
	expect("/a/{b}", "/x/{b}", "/a/a%20b%3Fc%23d%25e", &none,
	    "/x/a%20b%3Fc%23d%25e");
	expect("/a/{b}", "/x/{b}", "/a/%0d%0aX:%20y", &none,
	    "/x/%0D%0AX:%20y");
	expect("/a/{b}", "/x/{b}", "/a/%C3%A9", &none, "/x/%C3%A9");
	expect("/a/{b}", "/x/{b}", "/a/%5C%22%3C%3E%5E%60%7B%7D%7C", &none,
	    "/x/%5C%22%3C%3E%5E%60%7B%7D%7C");
	/* The literal part is the config's, copied as written. */
	expect("/a/{b}", "/x%20y/{b}", "/a/v", &none, "/x%20y/v");
}

static void
dot_values(void **state)
{
	struct gw_match m;
	struct gw_urltmpl *t;
	struct evbuffer *out;
	char *cause = NULL;
	static const struct {
		const char *value;
		const char *want;
	} cases[] = {
		{ ".", "/x/%2E/y" },
		{ "..", "/x/%2E%2E/y" },
		{ "...", "/x/.../y" },
		{ ".a", "/x/.a/y" },
	};
	size_t i, n;
	char buf[64];

	(void)state;
	/* The router refuses "." and ".." values, so build the match by hand:
	 * the template must stay safe with any gw_match. */
	t = gw_urltmpl_compile("/x/{b}/y", "/a/{b}", &cause);
	assert_non_null(t);
	for (i = 0; i < GW_ARRAY_SIZE(cases); i++) {
		memset(&m, 0, sizeof m);
		m.nparams = 1;
		m.params[0].name = "b";
		m.params[0].value = cases[i].value;
		m.params[0].len = strlen(cases[i].value);
		out = evbuffer_new();
		gw_urltmpl_expand(t, &m, NULL, 0, NULL, out);
		n = evbuffer_remove(out, buf, sizeof buf - 1);
		buf[n] = '\0';
		assert_string_equal(buf, cases[i].want);
		evbuffer_free(out);
	}

	/* A match with fewer values than the template (not from this
	 * endpoint) leaves the placeholder empty rather than reading past. */
	memset(&m, 0, sizeof m);
	out = evbuffer_new();
	gw_urltmpl_expand(t, &m, NULL, 0, NULL, out);
	n = evbuffer_remove(out, buf, sizeof buf - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "/x//y");
	evbuffer_free(out);

	/* Dot segments in a remainder built by hand, too. */
	gw_urltmpl_destroy(t);
	t = gw_urltmpl_compile("/x/{*}", "/v1/*", &cause);
	assert_non_null(t);
	memset(&m, 0, sizeof m);
	m.rest = "a/../b/./c/..d";
	m.rest_len = strlen(m.rest);
	out = evbuffer_new();
	gw_urltmpl_expand(t, &m, NULL, 0, NULL, out);
	n = evbuffer_remove(out, buf, sizeof buf - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "/x/a/%2E%2E/b/%2E/c/..d");
	evbuffer_free(out);
	gw_urltmpl_destroy(t);
}

static void
wildcard(void **state)
{
	(void)state;
	/* The remainder is appended when the url_pattern does not place
	 * it, as KrakenD does. */
	expect("/v1/*", "/legacy", "/v1/a/b", &none, "/legacy/a/b");
	expect("/v1/*", "/legacy/", "/v1/a/b", &none, "/legacy/a/b");
	expect("/v1/*", "/", "/v1/a/b", &none, "/a/b");
	expect("/v1/*", "/legacy", "/v1/", &none, "/legacy/");
	expect("/v1/*", "/legacy", "/v1/a/b/", &none, "/legacy/a/b/");
	/* Placed by "{*}" or a final '*'. */
	expect("/v1/*", "/x/{*}/y", "/v1/a/b", &none, "/x/a/b/y");
	expect("/v1/*", "/x/*", "/v1/a/b", &none, "/x/a/b");
	expect("/u/{id}/*", "/users/{id}/files/{*}", "/u/7/a/b", &none,
	    "/users/7/files/a/b");
	/* Escapes survive: an encoded '/' stays one segment, '%' stays
	 * an escape, decoded bytes outside pchar are encoded again. */
	expect("/v1/*", "/x", "/v1/a%2Fb/c", &none, "/x/a%2Fb/c");
	expect("/v1/*", "/x", "/v1/%2541/%41", &none, "/x/%2541/A");
	expect("/v1/*", "/x", "/v1/a%20b/%3F/%23", &none, "/x/a%20b/%3F/%23");
	expect("/v1/*", "/x", "/v1/a//b/./c/../d", &none, "/x/a/b/d");
	expect("/v1/*", "/x", "/v1/%2e.x", &none, "/x/..x");
}

/* --- query ------------------------------------------------------------- */

static void
query_strings(void **state)
{
	char n0[] = "a", n1[] = "ids[]", n2[] = "x y", n3[] = "*";
	char *names[] = { n0, n1, n2 }, *star[] = { n3 };
	struct gw_strlist listed = { names, 3, false };
	struct gw_strlist all = { star, 1, true };

	(void)state;
	/* None: the default. */
	expect("/a", "/b", "/a?a=1&b=2", &none, "/b");
	expect("/a", "/b", "/a?a=1", NULL, "/b");
	/* All, as received. */
	expect("/a", "/b", "/a?b=2&a=%20+1&c", &all, "/b?b=2&a=%20+1&c");
	expect("/a", "/b", "/a?", &all, "/b");
	expect("/a", "/b", "/a", &all, "/b");
	expect("/a", "/b", "/a?&&a=1&", &all, "/b?a=1");
	/* Listed: exact decoded names, original order and encoding. */
	expect("/a", "/b", "/a?b=2&a=1&ids%5B%5D=3&A=4&a=5&ids[]=6&ids=7",
	    &listed, "/b?a=1&ids%5B%5D=3&a=5&ids[]=6");
	expect("/a", "/b", "/a?x+y=1&x%20y=2&xy=3", &listed,
	    "/b?x+y=1&x%20y=2");
	expect("/a", "/b", "/a?a", &listed, "/b?a");
	expect("/a", "/b", "/a?a=", &listed, "/b?a=");
	expect("/a", "/b", "/a?a=x=y", &listed, "/b?a=x=y");
	expect("/a", "/b", "/a?ab=1&b=a", &listed, "/b");
	expect("/a", "/b", "/a?=a", &listed, "/b");
	/* Malformed names never match; %00 matches nothing. */
	expect("/a", "/b", "/a?%zz=1&a%=2&a%0=3&a%00=4&a=5", &listed,
	    "/b?a=5");
	/* A value's malformed escape is the backend's business. */
	expect("/a", "/b", "/a?a=%zz", &listed, "/b?a=%zz");
	/* After a literal query part. */
	expect("/a", "/b?x=1", "/a?a=1", &listed, "/b?x=1&a=1");
	expect("/a", "/b?x=1", "/a?c=1", &listed, "/b?x=1");
	expect("/a", "/b?", "/a?a=1", &listed, "/b?a=1");
	expect("/a", "/b?x=1&", "/a?a=1", &listed, "/b?x=1&a=1");
	/* With placeholders in the path. */
	expect("/a/{id}", "/b/{id}", "/a/7?a=1", &listed, "/b/7?a=1");
	expect("/v1/*", "/b", "/v1/c/d?a=1&z=2", &all, "/b/c/d?a=1&z=2");
}

static void
query_placeholders(void **state)
{
	(void)state;
	/* In the query, values are encoded for a query: '&', '=', '+' and
	 * ';' would change the parameters; '/' and '?' need not be. */
	expect("/a/{id}", "/b?id={id}", "/a/x%26y%3Dz", &none,
	    "/b?id=x%26y%3Dz");
	expect("/a/{id}", "/b?id={id}", "/a/1+2;3", &none, "/b?id=1%2B2%3B3");
	expect("/a/{id}", "/b?id={id}", "/a/p%2Fq%3Fr", &none,
	    "/b?id=p/q?r");
	expect("/a/{id}", "/b?id={id}", "/a/%20%23", &none, "/b?id=%20%23");
}

static void
query_hostile_bytes(void **state)
{
	struct one o;
	struct gw_match m;
	struct evbuffer *out;
	char n0[] = "a", n1[] = "*";
	char *names[] = { n0 }, *star[] = { n1 };
	struct gw_strlist all = { star, 1, true };
	struct gw_strlist listed = { names, 1, false };
	static const char q[] = "a=1 2\r\nX: y&b=\x7f\x80#";
	char buf[128], scratch[8];
	size_t n;

	(void)state;
	/* A front end should never let these through, but if one does they
	 * must not reach the backend's request line raw. */
	one_init(&o, "/a", "/b");
	assert_int_equal(gw_router_match(o.r, "GET", 3, "/a", 2, &m,
	    scratch), 0);
	out = evbuffer_new();
	gw_urltmpl_expand(o.t, &m, q, sizeof q - 1, &all, out);
	n = evbuffer_remove(out, buf, sizeof buf - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "/b?a=1%202%0D%0AX:%20y&b=%7F%80%23");
	gw_urltmpl_expand(o.t, &m, q, sizeof q - 1, &listed, out);
	n = evbuffer_remove(out, buf, sizeof buf - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "/b?a=1%202%0D%0AX:%20y");
	evbuffer_free(out);
	one_free(&o);
}

static void
appends(void **state)
{
	struct one o;
	struct gw_match m;
	struct evbuffer *out;
	char scratch[8], buf[32];
	size_t n;

	(void)state;
	/* Expansion appends to what the buffer holds. */
	one_init(&o, "/a", "/b");
	assert_int_equal(gw_router_match(o.r, "GET", 3, "/a", 2, &m,
	    scratch), 0);
	out = evbuffer_new();
	evbuffer_add(out, "GET ", 4);
	gw_urltmpl_expand(o.t, &m, NULL, 0, NULL, out);
	evbuffer_add(out, " HTTP/1.1", 9);
	n = evbuffer_remove(out, buf, sizeof buf - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "GET /b HTTP/1.1");
	evbuffer_free(out);
	one_free(&o);
}

/* --- headers ----------------------------------------------------------- */

static void
headers_listed(void **state)
{
	char n0[] = "Authorization", n1[] = "Content-Type", n2[] = "X-Org-Id";
	char *names[] = { n0, n1, n2 };
	struct gw_endpoint_config ep = { 0 };
	static const char line[] = "X-Org-Id-Extra";

	(void)state;
	ep.input_headers_set = true;
	ep.input_headers.v = names;
	ep.input_headers.n = 3;
	assert_true(gw_header_allowed(&ep, "Authorization", 13));
	assert_true(gw_header_allowed(&ep, "authorization", 13));
	assert_true(gw_header_allowed(&ep, "AUTHORIZATION", 13));
	assert_true(gw_header_allowed(&ep, "content-type", 12));
	assert_true(gw_header_allowed(&ep, "x-org-id", 8));
	/* A name is its bytes, not a C string: a prefix of a longer one. */
	assert_true(gw_header_allowed(&ep, line, 8));
	assert_false(gw_header_allowed(&ep, line, sizeof line - 1));
	assert_false(gw_header_allowed(&ep, "Authorizatio", 12));
	assert_false(gw_header_allowed(&ep, "Authorizations", 14));
	assert_false(gw_header_allowed(&ep, "User-Agent", 10));
	assert_false(gw_header_allowed(&ep, "Cookie", 6));
	assert_false(gw_header_allowed(&ep, "", 0));
	/* Only ASCII letters fold. */
	assert_false(gw_header_allowed(&ep, "X-Org_Id", 8));
	assert_false(gw_header_allowed(&ep, "X\x80Org-Id", 8));
}

static void
headers_all(void **state)
{
	char n0[] = "*";
	char *star[] = { n0 };
	struct gw_endpoint_config ep = { 0 };

	(void)state;
	ep.input_headers_set = true;
	ep.input_headers.v = star;
	ep.input_headers.n = 1;
	ep.input_headers.all = true;
	assert_true(gw_header_allowed(&ep, "Cookie", 6));
	assert_true(gw_header_allowed(&ep, "x-anything", 10));
	assert_true(gw_header_allowed(&ep, "Content-Type", 12));
}

static void
headers_default(void **state)
{
	struct gw_endpoint_config ep = { 0 };

	(void)state;
	/* Not set: KrakenD passes only the client's Content-Type. */
	assert_true(gw_header_allowed(&ep, "Content-Type", 12));
	assert_true(gw_header_allowed(&ep, "content-type", 12));
	assert_false(gw_header_allowed(&ep, "Content-Typ", 11));
	assert_false(gw_header_allowed(&ep, "Content-Length", 14));
	assert_false(gw_header_allowed(&ep, "User-Agent", 10));
	assert_false(gw_header_allowed(&ep, "Accept-Encoding", 15));
	assert_false(gw_header_allowed(&ep, "Accept", 6));
	assert_false(gw_header_allowed(&ep, "Authorization", 13));
	assert_false(gw_header_allowed(&ep, "Cookie", 6));
	assert_false(gw_header_allowed(&ep, "X-Forwarded-For", 15));
	/* Set to [] is the same, as in lura (len(list) == 0). */
	ep.input_headers_set = true;
	assert_true(gw_header_allowed(&ep, "Content-Type", 12));
	assert_false(gw_header_allowed(&ep, "Authorization", 13));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(compile_errors),
		cmocka_unit_test(placeholders),
		cmocka_unit_test(dot_values),
		cmocka_unit_test(wildcard),
		cmocka_unit_test(query_strings),
		cmocka_unit_test(query_placeholders),
		cmocka_unit_test(query_hostile_bytes),
		cmocka_unit_test(appends),
		cmocka_unit_test(headers_listed),
		cmocka_unit_test(headers_all),
		cmocka_unit_test(headers_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
