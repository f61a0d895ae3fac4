/* test_h2_mem.c: the per-worker allocator given to nghttp2 sessions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <nghttp2/nghttp2.h>

#include "h2_mem.h"

#define MALLOC(m, n) ((m)->mem.malloc((n), (m)->mem.mem_user_data))
#define FREE(m, p) ((m)->mem.free((p), (m)->mem.mem_user_data))
#define CALLOC(m, k, n) ((m)->mem.calloc((k), (n), (m)->mem.mem_user_data))
#define REALLOC(m, p, n) ((m)->mem.realloc((p), (n), (m)->mem.mem_user_data))

/* A freed small block comes back for the next request of its class, and
 * for no other; blocks are 16-byte aligned and hold what they were given
 * room for. */
static void
reuse_by_class(void **state)
{
	struct gw_h2_mem m;
	void *a, *b, *c, *d;

	(void)state;
	gw_h2_mem_init(&m);
	a = MALLOC(&m, 100);
	assert_non_null(a);
	assert_int_equal((uintptr_t)a % 16, 0);
	memset(a, 0xab, 100);
	FREE(&m, a);
	assert_int_equal(m.n[6], 1);             /* 100 bytes: 104, class 6 */
	b = MALLOC(&m, 104);                     /* same class */
	assert_ptr_equal(b, a);
	assert_int_equal(m.n[6], 0);
	c = MALLOC(&m, 105);                     /* the next class */
	assert_ptr_not_equal(c, a);
	memset(c, 0, 113);
	d = MALLOC(&m, 0);
	assert_non_null(d);
	FREE(&m, b);
	FREE(&m, c);
	FREE(&m, d);
	FREE(&m, NULL);
	gw_h2_mem_fini(&m);
	assert_null(m.free[6]);
}

/* At most GW_H2_MEM_KEEP blocks a class are kept; the rest are freed
 * (valgrind and ASan see to the leak check). */
static void
keep_bound(void **state)
{
	struct gw_h2_mem m;
	void *p[GW_H2_MEM_KEEP + 40];
	size_t i;

	(void)state;
	gw_h2_mem_init(&m);
	for (i = 0; i < GW_H2_MEM_KEEP + 40; i++)
		p[i] = MALLOC(&m, 48);
	for (i = 0; i < GW_H2_MEM_KEEP + 40; i++)
		FREE(&m, p[i]);
	assert_int_equal(m.n[3], GW_H2_MEM_KEEP);  /* 48 bytes: 56, class 3 */
	gw_h2_mem_fini(&m);
	assert_int_equal(m.n[3], 0);
}

/* Large blocks go to malloc and back; calloc zeroes reused memory and
 * refuses an overflowing product. */
static void
large_and_calloc(void **state)
{
	struct gw_h2_mem m;
	unsigned char *p;
	size_t i;

	(void)state;
	gw_h2_mem_init(&m);
	p = MALLOC(&m, 70000);
	assert_non_null(p);
	memset(p, 1, 70000);
	FREE(&m, p);
	p = MALLOC(&m, 64);
	memset(p, 0xff, 64);
	FREE(&m, p);
	p = CALLOC(&m, 8, 8);
	for (i = 0; i < 64; i++)
		assert_int_equal(p[i], 0);
	FREE(&m, p);
	assert_null(CALLOC(&m, SIZE_MAX / 2, 4));
	gw_h2_mem_fini(&m);
}

/* realloc keeps the bytes across classes, into and out of the large
 * path, and shrinking in place. */
static void
realloc_keeps_bytes(void **state)
{
	struct gw_h2_mem m;
	unsigned char *p, *q;
	size_t i;

	(void)state;
	gw_h2_mem_init(&m);
	p = REALLOC(&m, NULL, 10);
	for (i = 0; i < 10; i++)
		p[i] = (unsigned char)i;
	q = REALLOC(&m, p, 14);                  /* same class: in place */
	assert_ptr_equal(q, p);
	p = REALLOC(&m, q, 500);
	for (i = 0; i < 10; i++)
		assert_int_equal(p[i], i);
	for (i = 0; i < 500; i++)
		p[i] = (unsigned char)(i * 7);
	p = REALLOC(&m, p, 5000);                /* to a large block */
	for (i = 0; i < 500; i++)
		assert_int_equal(p[i], (unsigned char)(i * 7));
	memset(p + 500, 3, 4500);
	p = REALLOC(&m, p, 100);                 /* stays large */
	for (i = 0; i < 100; i++)
		assert_int_equal(p[i], (unsigned char)(i * 7));
	p = REALLOC(&m, p, 9000);
	assert_int_equal(p[99], (unsigned char)(99 * 7));
	FREE(&m, p);
	gw_h2_mem_fini(&m);
}

/* Real sessions on it: a client and a server exchange a request and a
 * response; everything they allocated comes back to the cache or to
 * malloc when they are deleted. */
static ssize_t
to_peer(nghttp2_session *s, const uint8_t *d, size_t n, int fl, void *u)
{
	nghttp2_session **peer = u;

	(void)s;
	(void)fl;
	if (nghttp2_session_mem_recv(*peer, d, n) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)n;
}

static int recv_headers;

static int
on_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
	(void)s;
	(void)u;
	if (f->hd.type == NGHTTP2_HEADERS)
		recv_headers++;
	return 0;
}

static void
sessions(void **state)
{
	struct gw_h2_mem m;
	nghttp2_session_callbacks *cb;
	nghttp2_session *cli, *srv;
	nghttp2_session *to_srv, *to_cli;
	const nghttp2_nv req[] = {
		{ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 },
		{ (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 },
		{ (uint8_t *)":authority", (uint8_t *)"x", 10, 1, 0 },
		{ (uint8_t *)":path", (uint8_t *)"/a", 5, 2, 0 },
		{ (uint8_t *)"x-request-id", (uint8_t *)"abc", 12, 3,
		    NGHTTP2_NV_FLAG_NO_INDEX },
	};
	int i;

	(void)state;
	gw_h2_mem_init(&m);
	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_send_callback(cb, to_peer);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	assert_int_equal(nghttp2_session_client_new3(&cli, cb, &to_srv, NULL,
	    &m.mem), 0);
	assert_int_equal(nghttp2_session_server_new3(&srv, cb, &to_cli, NULL,
	    &m.mem), 0);
	to_srv = srv;
	to_cli = cli;
	nghttp2_submit_settings(cli, 0, NULL, 0);
	nghttp2_submit_settings(srv, 0, NULL, 0);
	recv_headers = 0;
	for (i = 0; i < 50; i++)
		assert_true(nghttp2_submit_request(cli, NULL, req, 5, NULL,
		    NULL) > 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(nghttp2_session_send(cli), 0);
		assert_int_equal(nghttp2_session_send(srv), 0);
	}
	assert_int_equal(recv_headers, 50);
	nghttp2_session_del(cli);
	nghttp2_session_del(srv);
	nghttp2_session_callbacks_del(cb);
	for (i = 1; i <= GW_H2_MEM_NCLASS; i++)
		if (m.n[i] > 0)
			break;
	assert_true(i <= GW_H2_MEM_NCLASS);      /* blocks came back */
	gw_h2_mem_fini(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reuse_by_class),
		cmocka_unit_test(keep_bound),
		cmocka_unit_test(large_and_calloc),
		cmocka_unit_test(realloc_keeps_bytes),
		cmocka_unit_test(sessions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
