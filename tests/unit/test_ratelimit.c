/*
 * test_ratelimit.c: GCRA buckets and the local limiter, with literal
 * clocks.  The module is included so that its statics (the hash, the
 * shards' counters, the refund) can be checked directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>

#include "ratelimit.c"

#define MS GW_NS_PER_MS
#define S GW_NS_PER_S
#define MIN (60 * S)
#define HOUR (3600 * S)

static struct gw_rate
rate(int64_t interval, uint64_t capacity)
{
	struct gw_rate r = { .interval_ns = interval, .capacity = capacity };

	return r;
}

/* Takes until refused (at most `max`); returns how many were granted. */
static uint64_t
drain(struct gw_bucket *b, const struct gw_rate *r, int64_t now,
    uint64_t max)
{
	uint64_t n = 0;

	while (n < max && gw_bucket_take(b, r, now, NULL))
		n++;
	return n;
}

/* --- gw_rate_make ------------------------------------------------------- */

static void
rate_make_table(void **state)
{
	struct {
		double rate;
		int64_t every;
		uint64_t burst;
		int64_t interval;
		uint64_t capacity;
	} t[] = {
		{ 100, S, 0, 10 * MS, 100 },
		{ 5000, MIN, 0, 12 * MS, 5000 },       /* 5000 per minute */
		{ 100, MIN, 0, 600 * MS, 100 },
		{ 100, 0, 0, 10 * MS, 100 },           /* every 0: 1s */
		{ 100, -5, 0, 10 * MS, 100 },
		{ 2.5, S, 0, 400 * MS, 3 },            /* ceil(2.5) */
		{ 0.5, S, 0, 2 * S, 1 },               /* at least 1 */
		{ 3, S, 0, 333333333, 3 },             /* nearest ns */
		{ 10, S, 25, 100 * MS, 25 },           /* explicit burst */
		{ 1, HOUR, 0, HOUR, 1 },               /* tiny: 1/hour */
		{ 1e9, S, 0, 1, 1000000000 },
		{ 1e12, S, 0, 1, 1000000000000ULL },   /* faster than 1/ns */
		{ 1e30, S, 0, 1, UINT64_MAX },
		{ INFINITY, S, 0, 1, UINT64_MAX },
		{ 1e-12, S, 0, INT64_MAX, 1 },         /* 1e21 ns: clamped */
		{ 1e-300, INT64_MAX, 0, INT64_MAX, 1 },
		{ 0, S, 0, INT64_MAX, 1 },             /* not a rate */
		{ -3, S, 0, INT64_MAX, 1 },
		{ NAN, S, 7, INT64_MAX, 7 },
	};
	struct gw_rate r;
	size_t i;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(t); i++) {
		r = gw_rate_make(t[i].rate, t[i].every, t[i].burst);
		if (r.interval_ns != t[i].interval ||
		    r.capacity != t[i].capacity)
			fail_msg("row %zu: got %lld/%llu", i,
			    (long long)r.interval_ns,
			    (unsigned long long)r.capacity);
	}
}

/* --- buckets ------------------------------------------------------------ */

static void
bucket_burst_then_reject(void **state)
{
	struct gw_rate r = gw_rate_make(10, S, 0);
	struct gw_bucket b;
	int64_t retry = -1;
	int i;

	(void)state;
	gw_bucket_init(&b);
	for (i = 0; i < 10; i++)
		assert_true(gw_bucket_take(&b, &r, 0, &retry));
	assert_int_equal(retry, -1);          /* untouched when allowed */
	assert_false(gw_bucket_take(&b, &r, 0, &retry));
	assert_int_equal(retry, 100 * MS);
	assert_false(gw_bucket_take(&b, &r, 0, NULL));
}

/* A fresh bucket holds exactly `capacity` tokens whatever the clock. */
static void
bucket_fresh_full_at_any_now(void **state)
{
	const int64_t nows[] = {
		INT64_MIN, INT64_MIN + 1, -S, -1, 0, 1, 12345, S,
		INT64_C(1) << 62, INT64_MAX - HOUR, INT64_MAX - S,
		INT64_MAX - 1, INT64_MAX,
	};
	struct gw_rate r = rate(100 * MS, 10);
	struct gw_bucket b;
	int64_t retry;
	size_t i;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(nows); i++) {
		gw_bucket_init(&b);
		assert_true(gw_bucket_full(&b, &r, nows[i]));
		if (drain(&b, &r, nows[i], 1000) != 10)
			fail_msg("now %lld: not exactly 10",
			    (long long)nows[i]);
		assert_false(gw_bucket_full(&b, &r, nows[i]));
		assert_false(gw_bucket_take(&b, &r, nows[i], &retry));
		assert_int_equal(retry, 100 * MS);
	}
}

static void
bucket_refill(void **state)
{
	struct gw_rate r = rate(100 * MS, 10);
	struct gw_bucket b;
	int64_t retry;

	(void)state;
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, 0, 100), 10);
	assert_false(gw_bucket_take(&b, &r, 100 * MS - 1, &retry));
	assert_int_equal(retry, 1);
	assert_true(gw_bucket_take(&b, &r, 100 * MS, NULL));
	assert_false(gw_bucket_take(&b, &r, 100 * MS, &retry));
	assert_int_equal(retry, 100 * MS);
	/* 450ms later: 4 whole tokens, the fifth 50ms away. */
	assert_int_equal(drain(&b, &r, 550 * MS, 100), 4);
	assert_false(gw_bucket_take(&b, &r, 550 * MS, &retry));
	assert_int_equal(retry, 50 * MS);
	/* Refilled exactly at 1.5s (the last token taken ends at 1.5s). */
	assert_false(gw_bucket_full(&b, &r, 1500 * MS - 1));
	assert_true(gw_bucket_full(&b, &r, 1500 * MS));
}

static void
bucket_long_idle_caps_at_capacity(void **state)
{
	struct gw_rate r = rate(100 * MS, 10);
	struct gw_bucket b;

	(void)state;
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, 0, 100), 10);
	/* An hour earns 36000 tokens, but the bucket holds 10. */
	assert_int_equal(drain(&b, &r, HOUR, 100000), 10);
	assert_int_equal(drain(&b, &r, 100 * HOUR, 100000), 10);
	/* From the earliest time to the latest representable. */
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, INT64_MIN, 100), 10);
	assert_int_equal(drain(&b, &r, INT64_MAX - S, 100), 10);
}

static void
bucket_clock_backwards(void **state)
{
	struct gw_rate r = rate(100 * MS, 10);
	struct gw_bucket b;
	int64_t retry;

	(void)state;
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, 10 * S, 5), 5);
	/* A second back: TAT is 10.5s, so 0.6s past the tolerance. */
	assert_false(gw_bucket_take(&b, &r, 9 * S, &retry));
	assert_int_equal(retry, 600 * MS);
	/* Back to 10s: the other 5, no more. */
	assert_int_equal(drain(&b, &r, 10 * S, 100), 5);
	/* Far back (and back to 0): nothing. */
	assert_false(gw_bucket_take(&b, &r, 0, &retry));
	assert_int_equal(retry, 10 * S + 100 * MS);
	assert_false(gw_bucket_take(&b, &r, INT64_MIN, NULL));
	/* Forward again: the normal schedule resumes. */
	assert_false(gw_bucket_take(&b, &r, 10 * S + 99 * MS, NULL));
	assert_true(gw_bucket_take(&b, &r, 10 * S + 100 * MS, NULL));
}

/*
 * Wherever the clock wanders inside [lo, hi], a bucket grants at most
 * capacity + (hi - lo) / T: jitter backwards creates nothing.
 */
static void
bucket_clock_jitter_never_overgrants(void **state)
{
	struct gw_rate r = rate(10 * MS, 10);
	struct gw_bucket b;
	uint64_t x = 42, granted = 0;
	int64_t now = 0, hi = 0;
	int i;

	(void)state;
	gw_bucket_init(&b);
	for (i = 0; i < 200000; i++) {
		/* Forward by up to 100us, one step in 64 back by up to
		 * 2ms. */
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		if ((x >> 58) == 0)
			now -= (int64_t)((x >> 20) % (2 * MS));
		else
			now += (int64_t)((x >> 20) % 100000);
		if (now < 0)
			now = 0;
		if (now > hi)
			hi = now;
		if (gw_bucket_take(&b, &r, now, NULL))
			granted++;
	}
	assert_true(granted <= 10 + (uint64_t)(hi / (10 * MS)));
	/* And it does not starve either (it is not stuck). */
	assert_true(granted >= (uint64_t)(hi / (10 * MS)) / 2);
}

static void
bucket_retry_after_values(void **state)
{
	struct gw_rate r = gw_rate_make(1, S, 3);
	struct gw_bucket b;
	int64_t retry;

	(void)state;
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, 0, 10), 3);
	assert_false(gw_bucket_take(&b, &r, 0, &retry));
	assert_int_equal(retry, S);
	assert_false(gw_bucket_take(&b, &r, 250 * MS, &retry));
	assert_int_equal(retry, 750 * MS);
	assert_false(gw_bucket_take(&b, &r, S - 1, &retry));
	assert_int_equal(retry, 1);
	assert_true(gw_bucket_take(&b, &r, S, NULL));
	assert_false(gw_bucket_take(&b, &r, S, &retry));
	assert_int_equal(retry, S);
	/* Rejections do not push the schedule back. */
	assert_false(gw_bucket_take(&b, &r, S + 500 * MS, &retry));
	assert_int_equal(retry, 500 * MS);
	assert_true(gw_bucket_take(&b, &r, 2 * S, NULL));
}

static void
bucket_tiny_rate(void **state)
{
	struct gw_rate r = gw_rate_make(1, HOUR, 0);
	struct gw_bucket b;
	int64_t retry;

	(void)state;
	gw_bucket_init(&b);
	assert_true(gw_bucket_take(&b, &r, 0, NULL));
	assert_false(gw_bucket_take(&b, &r, 0, &retry));
	assert_int_equal(retry, HOUR);
	assert_false(gw_bucket_take(&b, &r, HOUR - MS, &retry));
	assert_int_equal(retry, MS);
	assert_true(gw_bucket_take(&b, &r, HOUR, NULL));

	/* 1e-12 per second: one request, then effectively never. */
	r = gw_rate_make(1e-12, S, 0);
	gw_bucket_init(&b);
	assert_true(gw_bucket_take(&b, &r, 0, NULL));
	assert_false(gw_bucket_take(&b, &r, 0, &retry));
	assert_int_equal(retry, INT64_MAX);
	assert_false(gw_bucket_take(&b, &r, 100 * HOUR, NULL));
	assert_false(gw_bucket_take(&b, &r, INT64_MAX, NULL));
}

static void
bucket_huge_rate(void **state)
{
	struct gw_rate r = gw_rate_make(1e12, S, 0);
	struct gw_bucket b;
	uint64_t n;

	(void)state;
	gw_bucket_init(&b);
	/* 1e6 at once out of a 1e12 burst: all granted. */
	assert_int_equal(drain(&b, &r, 0, 1000000), 1000000);
	/* One per ns afterwards (the clamp), counted exactly. */
	r = gw_rate_make(1e12, S, 1);
	gw_bucket_init(&b);
	for (n = 0; n < 1000; n++) {
		assert_true(gw_bucket_take(&b, &r, (int64_t)n, NULL));
		assert_false(gw_bucket_take(&b, &r, (int64_t)n, NULL));
	}
}

/*
 * interval * capacity past INT64_MAX (or UINT64_MAX): the burst is held
 * to 2^62 ns, so counts stay exact and nothing wraps.
 */
static void
bucket_overflow_products(void **state)
{
	struct gw_rate r;
	struct gw_bucket b;
	int64_t retry;
	uint64_t n;

	(void)state;
	/* The slowest rate with a burst of 2: 2^63 ns > 2^62, so 1 token. */
	r = rate(INT64_MAX, 2);
	gw_bucket_init(&b);
	assert_true(gw_bucket_take(&b, &r, 0, NULL));
	assert_false(gw_bucket_take(&b, &r, 0, &retry));
	assert_int_equal(retry, INT64_MAX);
	assert_false(gw_bucket_take(&b, &r, INT64_MAX, NULL));
	assert_false(gw_bucket_take(&b, &r, INT64_MIN, NULL));

	/* Same at the far ends of the clock. */
	gw_bucket_init(&b);
	assert_true(gw_bucket_take(&b, &r, INT64_MAX, NULL));
	assert_false(gw_bucket_take(&b, &r, INT64_MAX, NULL));
	gw_bucket_init(&b);
	assert_true(gw_bucket_take(&b, &r, INT64_MIN, NULL));
	assert_false(gw_bucket_take(&b, &r, INT64_MIN, NULL));

	/* capacity UINT64_MAX: (C - 1) * T wraps in 64 bits; held. */
	r = rate(HOUR, UINT64_MAX);
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, 0, 5000), 5000);
	/* 2^62 / 3600e9 = 1281023 tokens, exactly. */
	r = rate(HOUR, UINT64_MAX);
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, 0, 2000000),
	    RL_BURST_SPAN / (uint64_t)HOUR);
	assert_false(gw_bucket_take(&b, &r, 0, &retry));
	assert_int_equal(retry, HOUR);

	/* capacity UINT64_MAX at 1ns: 2^62 tokens; check the first ones
	 * and that TAT is exact (no saturation). */
	r = rate(1, UINT64_MAX);
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, INT64_MAX, 1000), 1000);

	/* Near the end of time, a bucket grants what it holds and the clock
	 * stands still: never more than capacity. */
	r = rate(100 * MS, 10);
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, INT64_MAX - 500 * MS, 100), 10);
	assert_false(gw_bucket_take(&b, &r, INT64_MAX, &retry));
	assert_int_equal(retry, 100 * MS);
	for (n = 0; n < 100; n++)
		assert_false(gw_bucket_take(&b, &r, INT64_MAX, NULL));
	/* ...while just before the horizon time still runs exactly. */
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, INT64_MAX - 3 * S, 100), 10);
	assert_int_equal(drain(&b, &r, INT64_MAX - 3 * S + 300 * MS, 100), 3);
}

static void
bucket_full(void **state)
{
	struct gw_rate r = rate(100 * MS, 10);
	struct gw_bucket b;

	(void)state;
	gw_bucket_init(&b);
	assert_true(gw_bucket_full(&b, &r, 0));
	assert_true(gw_bucket_take(&b, &r, 0, NULL));
	assert_false(gw_bucket_full(&b, &r, 0));
	assert_false(gw_bucket_full(&b, &r, 100 * MS - 1));
	assert_true(gw_bucket_full(&b, &r, 100 * MS));
	assert_true(gw_bucket_full(&b, &r, INT64_MAX));
	assert_false(gw_bucket_full(&b, &r, INT64_MIN));
}

static void
bucket_refund(void **state)
{
	struct gw_rate r = rate(100 * MS, 2);
	struct gw_bucket b;

	(void)state;
	gw_bucket_init(&b);
	assert_int_equal(drain(&b, &r, 0, 10), 2);
	rl_bucket_refund(&b, &r);
	assert_int_equal(drain(&b, &r, 0, 10), 1);
	/* A refund on a full bucket adds nothing beyond capacity. */
	gw_bucket_init(&b);
	rl_bucket_refund(&b, &r);
	rl_bucket_refund(&b, &r);
	assert_int_equal(drain(&b, &r, 5 * S, 10), 2);
}

/* --- the keyed hash ----------------------------------------------------- */

/* The reference vectors: key 00..0f, message 00..(n-1). */
static void
siphash_reference_vectors(void **state)
{
	const struct {
		size_t len;
		uint64_t out;
	} v[] = {
		{ 0, UINT64_C(0x726fdb47dd0e0e31) },
		{ 1, UINT64_C(0x74f839c593dc67fd) },
		{ 8, UINT64_C(0x93f5f5799a932462) },
		{ 15, UINT64_C(0xa129ca6149be45e5) },
	};
	uint64_t k[2] = {
		UINT64_C(0x0706050403020100), UINT64_C(0x0f0e0d0c0b0a0908),
	};
	unsigned char msg[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	for (i = 0; i < GW_ARRAY_SIZE(v); i++)
		if (rl_siphash(k, msg, v[i].len) != v[i].out)
			fail_msg("len %zu: %016llx", v[i].len,
			    (unsigned long long)rl_siphash(k, msg, v[i].len));
}

/* --- the limiter -------------------------------------------------------- */

static struct gw_ratelimit_config
rl_config(double max_rate, double client_max_rate, int64_t every)
{
	struct gw_ratelimit_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_rate = max_rate;
	cfg.client_max_rate = client_max_rate;
	cfg.every_ns = every;
	cfg.strategy = GW_RL_STRATEGY_IP;
	return cfg;
}

static enum gw_rl_verdict
check(struct gw_limiter *l, const char *client, int64_t now, int64_t *retry)
{
	return gw_limiter_check(l, client, strlen(client), now, retry);
}

static void
limiter_client_exact_then_429(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(0, 5, S);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 1000);
	int64_t retry = -1;
	int i;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_int_equal(check(l, "10.0.0.1", 0, &retry), GW_RL_PASS);
		assert_int_equal(retry, 0);
	}
	assert_int_equal(check(l, "10.0.0.1", 0, &retry),
	    GW_RL_CLIENT_LIMITED);
	assert_int_equal(retry, 200 * MS);
	assert_int_equal(check(l, "10.0.0.1", 200 * MS, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "10.0.0.1", 200 * MS, NULL),
	    GW_RL_CLIENT_LIMITED);
	assert_int_equal(gw_limiter_local_clients(l), 1);
	gw_limiter_destroy(l);
}

static void
limiter_clients_independent(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(0, 3, S);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 1000);
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_int_equal(check(l, "a", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "a", 0, NULL), GW_RL_CLIENT_LIMITED);
	for (i = 0; i < 3; i++)
		assert_int_equal(check(l, "b", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "b", 0, NULL), GW_RL_CLIENT_LIMITED);
	/* Keys are bytes: a prefix, a case change, an embedded NUL and
	 * the empty key are all other clients. */
	assert_int_equal(check(l, "ab", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "A", 0, NULL), GW_RL_PASS);
	assert_int_equal(gw_limiter_check(l, "a\0x", 3, 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "", 0, NULL), GW_RL_PASS);
	assert_int_equal(gw_limiter_check(l, NULL, 0, 0, NULL), GW_RL_PASS);
	assert_int_equal(gw_limiter_local_clients(l), 6);
	gw_limiter_destroy(l);
}

static void
limiter_every_minute(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(5000, 100, MIN);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 1000);
	int64_t retry;
	int i;

	(void)state;
	for (i = 0; i < 100; i++)
		assert_int_equal(check(l, "c", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "c", 0, &retry), GW_RL_CLIENT_LIMITED);
	assert_int_equal(retry, 600 * MS);
	gw_limiter_destroy(l);
}

static void
limiter_client_capacity(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(0, 10, S);
	struct gw_limiter *l;
	int64_t retry;

	(void)state;
	cfg.client_capacity = 2;
	l = gw_limiter_local_create(&cfg, 1000);
	assert_int_equal(check(l, "c", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "c", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "c", 0, &retry), GW_RL_CLIENT_LIMITED);
	assert_int_equal(retry, 100 * MS);
	gw_limiter_destroy(l);
}

static void
limiter_endpoint_503(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(3, 100, S);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 1000);
	int64_t retry;

	(void)state;
	assert_int_equal(check(l, "a", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "b", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "c", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "d", 0, &retry), GW_RL_ENDPOINT_LIMITED);
	assert_int_equal(retry, 333333333);
	/* The endpoint's rejection did not charge d. */
	assert_int_equal(gw_limiter_local_clients(l), 3);
	gw_limiter_destroy(l);
}

/* Both budgets spent: the endpoint's verdict (503) wins. */
static void
limiter_endpoint_checked_first(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(2, 1, S);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 1000);
	int64_t retry;

	(void)state;
	assert_int_equal(check(l, "a", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "b", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "a", 0, &retry), GW_RL_ENDPOINT_LIMITED);
	assert_int_equal(retry, 500 * MS);
	/* At 500ms the endpoint has a token, a has none: 429, 500ms. */
	assert_int_equal(check(l, "a", 500 * MS, &retry),
	    GW_RL_CLIENT_LIMITED);
	assert_int_equal(retry, 500 * MS);
	gw_limiter_destroy(l);
}

/* A client over its own limit does not spend the endpoint's budget. */
static void
limiter_client_reject_refunds_endpoint(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(10, 1, S);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 1000);
	char key[16];
	int i;

	(void)state;
	assert_int_equal(check(l, "hog", 0, NULL), GW_RL_PASS);
	for (i = 0; i < 100; i++)
		assert_int_equal(check(l, "hog", 0, NULL),
		    GW_RL_CLIENT_LIMITED);
	for (i = 0; i < 9; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		assert_int_equal(check(l, key, 0, NULL), GW_RL_PASS);
	}
	assert_int_equal(check(l, "late", 0, NULL), GW_RL_ENDPOINT_LIMITED);
	gw_limiter_destroy(l);
}

static void
limiter_no_limits(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(0, 0, 0);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 0);
	int i;

	(void)state;
	for (i = 0; i < 10000; i++)
		assert_int_equal(check(l, "x", 0, NULL), GW_RL_PASS);
	assert_int_equal(gw_limiter_local_clients(l), 0);
	gw_limiter_destroy(l);

	/* Only the endpoint limit: no table at all. */
	cfg = rl_config(5, 0, S);
	l = gw_limiter_local_create(&cfg, 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(check(l, "x", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "y", 0, NULL), GW_RL_ENDPOINT_LIMITED);
	assert_int_equal(gw_limiter_local_clients(l), 0);
	gw_limiter_destroy(l);
	gw_limiter_destroy(NULL);
}

/*
 * One shard of one entry makes eviction and the overflow bucket
 * deterministic.
 */
static void
limiter_evicts_only_idle(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(0, 1, S);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 1);
	struct rl_local *ll = (struct rl_local *)l;

	(void)state;
	assert_int_equal(ll->nshards, 1);
	assert_int_equal(ll->shards[0].cap, 1);
	assert_int_equal(check(l, "A", 0, NULL), GW_RL_PASS);
	/* A is active: B and C go to the overflow bucket (1 token). */
	assert_int_equal(check(l, "B", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "C", 0, NULL), GW_RL_CLIENT_LIMITED);
	assert_int_equal(ll->shards[0].evictions, 0);
	assert_int_equal(ll->shards[0].overflowed, 2);
	/* A still holds its own (spent) budget. */
	assert_int_equal(check(l, "A", 500 * MS, NULL), GW_RL_CLIENT_LIMITED);
	/* At 1s A is full again, hence idle: D takes its place. */
	assert_int_equal(check(l, "D", S, NULL), GW_RL_PASS);
	assert_int_equal(ll->shards[0].evictions, 1);
	assert_int_equal(gw_limiter_local_clients(l), 1);
	/* A comes back while D is active: overflow (refilled at 1s). */
	assert_int_equal(check(l, "A", S, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "E", S, NULL), GW_RL_CLIENT_LIMITED);
	assert_int_equal(check(l, "D", S, NULL), GW_RL_CLIENT_LIMITED);
	assert_int_equal(gw_limiter_local_clients(l), 1);
	gw_limiter_destroy(l);
}

/* Fewer clients than shards: fewer shards, never more than the cap. */
static void
limiter_small_caps(void **state)
{
	const size_t caps[] = { 1, 2, 3, 5, 63, 64, 65, 100, 1000 };
	struct gw_ratelimit_config cfg = rl_config(0, 1, S);
	struct gw_limiter *l;
	char key[32];
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(caps); i++) {
		l = gw_limiter_local_create(&cfg, caps[i]);
		for (k = 0; k < 5000; k++) {
			snprintf(key, sizeof(key), "k%d", k);
			check(l, key, 0, NULL);
		}
		assert_true(gw_limiter_local_clients(l) <= caps[i]);
		assert_true(gw_limiter_local_clients(l) > caps[i] / 2);
		gw_limiter_destroy(l);
	}
}

/*
 * A table full of active clients at one instant: 64 shards of one entry,
 * so 64 clients get their own budget and each shard's overflow bucket
 * one more request; everything else is refused.
 */
static void
limiter_overflow_bucket_at_fixed_now(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(0, 1, S);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 64);
	char key[32];
	int k, pass = 0;

	(void)state;
	for (k = 0; k < 10000; k++) {
		snprintf(key, sizeof(key), "k%d", k);
		if (check(l, key, 0, NULL) == GW_RL_PASS)
			pass++;
	}
	assert_int_equal(pass, 64 + 64);
	assert_int_equal(gw_limiter_local_clients(l), 64);
	gw_limiter_destroy(l);
}

/*
 * A flood of 1e6 distinct keys, one per ms, against 10/hour per client:
 * the table stays under its cap, idle entries get reused, and a client
 * that spent its budget before the flood is still held to exactly what
 * it has earned since (2 tokens in 1000s), not given a fresh 10.
 */
static void
limiter_flood_bounded_and_fair(void **state)
{
	struct gw_ratelimit_config cfg = rl_config(0, 10, HOUR);
	struct gw_limiter *l = gw_limiter_local_create(&cfg, 10000);
	struct rl_local *ll = (struct rl_local *)l;
	uint64_t evictions = 0, overflowed = 0;
	char key[32];
	int64_t retry, now = 0;
	uint32_t i;
	int k;

	(void)state;
	for (k = 0; k < 10; k++)
		assert_int_equal(check(l, "victim", 0, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "victim", 0, &retry), GW_RL_CLIENT_LIMITED);
	assert_int_equal(retry, 360 * S);

	for (k = 0; k < 1000000; k++) {
		now += MS;
		snprintf(key, sizeof(key), "flood-%d", k);
		check(l, key, now, NULL);
		if (k % 100000 == 0)
			assert_true(gw_limiter_local_clients(l) <= 10000);
	}
	assert_true(gw_limiter_local_clients(l) <= 10000);
	assert_true(gw_limiter_local_clients(l) > 9000);
	for (i = 0; i < ll->nshards; i++) {
		evictions += ll->shards[i].evictions;
		overflowed += ll->shards[i].overflowed;
	}
	assert_true(evictions > 0);
	assert_true(overflowed > 0);

	/* TAT was 3600s; at 1000s, tau 3240s: two tokens, then 80s. */
	assert_int_equal(now, 1000 * S);
	assert_int_equal(check(l, "victim", now, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "victim", now, NULL), GW_RL_PASS);
	assert_int_equal(check(l, "victim", now, &retry),
	    GW_RL_CLIENT_LIMITED);
	assert_int_equal(retry, 80 * S);
	gw_limiter_destroy(l);
}

struct hammer {
	struct gw_limiter *l;
	const char *key;
	int rounds;
	int pass;
	pthread_barrier_t *start;
};

static void *
hammer_run(void *arg)
{
	struct hammer *h = arg;
	int i;

	pthread_barrier_wait(h->start);
	for (i = 0; i < h->rounds; i++)
		if (check(h->l, h->key, 5 * S, NULL) == GW_RL_PASS)
			h->pass++;
	return NULL;
}

/* Runs 4 threads against l at one instant; returns the total passes. */
static int
hammer(struct gw_limiter *l, const char *keys[4], int rounds)
{
	struct hammer h[4];
	pthread_t t[4];
	pthread_barrier_t start;
	int i, total = 0;

	pthread_barrier_init(&start, NULL, 4);
	for (i = 0; i < 4; i++) {
		h[i].l = l;
		h[i].key = keys[i];
		h[i].rounds = rounds;
		h[i].pass = 0;
		h[i].start = &start;
		assert_int_equal(pthread_create(&t[i], NULL, hammer_run,
		    &h[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += h[i].pass;
	}
	pthread_barrier_destroy(&start);
	return total;
}

static void
limiter_threads_exact(void **state)
{
	const char *same[4] = { "10.1.1.1", "10.1.1.1", "10.1.1.1",
	    "10.1.1.1" };
	const char *own[4] = { "a", "b", "c", "d" };
	struct gw_ratelimit_config cfg;
	struct gw_limiter *l;

	(void)state;
	/* One client key: exactly its capacity in total. */
	cfg = rl_config(0, 1000, S);
	l = gw_limiter_local_create(&cfg, 1000);
	assert_int_equal(hammer(l, same, 20000), 1000);
	gw_limiter_destroy(l);

	/* The endpoint bucket alone (lock-free). */
	cfg = rl_config(1000, 0, S);
	l = gw_limiter_local_create(&cfg, 1000);
	assert_int_equal(hammer(l, own, 20000), 1000);
	gw_limiter_destroy(l);

	/* Both, one key: the smaller budget. */
	cfg = rl_config(5000, 700, S);
	l = gw_limiter_local_create(&cfg, 1000);
	assert_int_equal(hammer(l, same, 20000), 700);
	gw_limiter_destroy(l);

	/* Own keys: each its own 300. */
	cfg = rl_config(0, 300, S);
	l = gw_limiter_local_create(&cfg, 1000);
	assert_int_equal(hammer(l, own, 20000), 4 * 300);
	gw_limiter_destroy(l);
}

/* The ops table is the seam for another implementation. */
struct fake_limiter {
	struct gw_limiter base;
	int checks;
	int destroyed;
};

static enum gw_rl_verdict
fake_check(struct gw_limiter *l, const char *client, size_t len,
    int64_t now, int64_t *retry)
{
	struct fake_limiter *f = (struct fake_limiter *)l;

	(void)client;
	(void)len;
	(void)now;
	f->checks++;
	*retry = 7;
	return GW_RL_CLIENT_LIMITED;
}

static void
fake_destroy(struct gw_limiter *l)
{
	((struct fake_limiter *)l)->destroyed++;
}

static void
limiter_ops_dispatch(void **state)
{
	static const struct gw_limiter_ops ops = { fake_check, fake_destroy };
	struct fake_limiter *f;
	int64_t retry = 0;

	(void)state;
	/* On the heap: inlined, gw_limiter_local_clients() would otherwise
	 * trip -Warray-bounds on the cast it makes after the ops test. */
	f = xcalloc(1, sizeof(*f));
	f->base.ops = &ops;
	assert_int_equal(gw_limiter_check(&f->base, "x", 1, 0, &retry),
	    GW_RL_CLIENT_LIMITED);
	assert_int_equal(retry, 7);
	assert_int_equal(f->checks, 1);
	assert_int_equal(gw_limiter_local_clients(&f->base), 0);
	gw_limiter_destroy(&f->base);
	assert_int_equal(f->destroyed, 1);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rate_make_table),
		cmocka_unit_test(bucket_burst_then_reject),
		cmocka_unit_test(bucket_fresh_full_at_any_now),
		cmocka_unit_test(bucket_refill),
		cmocka_unit_test(bucket_long_idle_caps_at_capacity),
		cmocka_unit_test(bucket_clock_backwards),
		cmocka_unit_test(bucket_clock_jitter_never_overgrants),
		cmocka_unit_test(bucket_retry_after_values),
		cmocka_unit_test(bucket_tiny_rate),
		cmocka_unit_test(bucket_huge_rate),
		cmocka_unit_test(bucket_overflow_products),
		cmocka_unit_test(bucket_full),
		cmocka_unit_test(bucket_refund),
		cmocka_unit_test(siphash_reference_vectors),
		cmocka_unit_test(limiter_client_exact_then_429),
		cmocka_unit_test(limiter_clients_independent),
		cmocka_unit_test(limiter_every_minute),
		cmocka_unit_test(limiter_client_capacity),
		cmocka_unit_test(limiter_endpoint_503),
		cmocka_unit_test(limiter_endpoint_checked_first),
		cmocka_unit_test(limiter_client_reject_refunds_endpoint),
		cmocka_unit_test(limiter_no_limits),
		cmocka_unit_test(limiter_evicts_only_idle),
		cmocka_unit_test(limiter_small_caps),
		cmocka_unit_test(limiter_overflow_bucket_at_fixed_now),
		cmocka_unit_test(limiter_flood_bounded_and_fair),
		cmocka_unit_test(limiter_threads_exact),
		cmocka_unit_test(limiter_ops_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
