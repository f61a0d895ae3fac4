/*
 * test_breaker.c: the circuit breaker's state machine with literal clocks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include "breaker.h"
#include "gw.h"

#define MS GW_NS_PER_MS
#define S GW_NS_PER_S

#define C GW_BREAKER_CLOSED
#define O GW_BREAKER_OPEN
#define H GW_BREAKER_HALF_OPEN

struct changes {
	int n;
	enum gw_breaker_state from[16];
	enum gw_breaker_state to[16];
	char name[32];
};

static void
on_change(void *arg, const char *name, enum gw_breaker_state from,
    enum gw_breaker_state to)
{
	struct changes *ch = arg;

	assert_true(ch->n < 16);
	ch->from[ch->n] = from;
	ch->to[ch->n] = to;
	ch->n++;
	strncpy(ch->name, name, sizeof(ch->name) - 1);
}

static struct gw_breaker *
make(uint32_t max_errors, int64_t interval, int64_t timeout,
    struct changes *ch)
{
	struct gw_breaker_config cfg;
	struct gw_breaker *b;

	memset(&cfg, 0, sizeof(cfg));
	cfg.max_errors = max_errors;
	cfg.interval_ns = interval;
	cfg.timeout_ns = timeout;
	b = gw_breaker_create(&cfg, "cb-test");
	if (ch != NULL) {
		memset(ch, 0, sizeof(*ch));
		gw_breaker_set_notify(b, on_change, ch);
	}
	return b;
}

/* Sends one request at now with its outcome; returns whether it went. */
static bool
req(struct gw_breaker *b, int64_t now, bool success)
{
	uint64_t gen;

	if (!gw_breaker_allow_gen(b, now, &gen))
		return false;
	gw_breaker_record_gen(b, gen, success, now);
	return true;
}

static void
opens_after_more_than_max_errors(void **state)
{
	struct changes ch;
	struct gw_breaker *b = make(3, 10 * S, 5 * S, &ch);

	(void)state;
	assert_int_equal(gw_breaker_state(b, 0), C);
	assert_true(req(b, 1 * S, false));
	assert_true(req(b, 2 * S, false));
	assert_true(req(b, 3 * S, false));
	/* Exactly max_errors: still closed. */
	assert_int_equal(gw_breaker_state(b, 3 * S), C);
	assert_int_equal(ch.n, 0);
	assert_true(req(b, 4 * S, false));
	assert_int_equal(gw_breaker_state(b, 4 * S), O);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.from[0], C);
	assert_int_equal(ch.to[0], O);
	assert_string_equal(ch.name, "cb-test");
	assert_false(gw_breaker_allow(b, 4 * S));
	assert_int_equal(gw_breaker_transitions(b, O), 1);
	assert_int_equal(gw_breaker_transitions(b, C), 0);
	gw_breaker_destroy(b);
}

static void
max_errors_zero_opens_on_first(void **state)
{
	struct gw_breaker *b = make(0, 10 * S, 5 * S, NULL);

	(void)state;
	assert_true(req(b, 0, true));
	assert_true(req(b, 0, false));
	assert_int_equal(gw_breaker_state(b, 0), O);
	gw_breaker_destroy(b);
}

static void
success_resets_the_count(void **state)
{
	struct gw_breaker *b = make(3, 10 * S, 5 * S, NULL);
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_true(req(b, 0, false));
	assert_true(req(b, 0, true));
	for (i = 0; i < 3; i++)
		assert_true(req(b, MS, false));
	assert_int_equal(gw_breaker_state(b, MS), C);
	assert_true(req(b, MS, false));
	assert_int_equal(gw_breaker_state(b, MS), O);
	gw_breaker_destroy(b);
}

/*
 * The window runs from a run's first error: an error `interval` or more
 * after it starts a new run.
 */
static void
interval_expiry_starts_a_new_run(void **state)
{
	struct gw_breaker *b = make(2, 10 * S, 5 * S, NULL);

	(void)state;
	assert_true(req(b, 0, false));                /* run from 0: 1 */
	assert_true(req(b, 1 * S, false));            /* 2 */
	assert_true(req(b, 10 * S, false));           /* 10s later: new, 1 */
	assert_int_equal(gw_breaker_state(b, 10 * S), C);
	assert_true(req(b, 11 * S, false));           /* 2 */
	assert_int_equal(gw_breaker_state(b, 11 * S), C);
	assert_true(req(b, 20 * S - 1, false));       /* 3 within 10s */
	assert_int_equal(gw_breaker_state(b, 20 * S - 1), O);
	gw_breaker_destroy(b);

	/* Three errors in less than the interval: open. */
	b = make(2, 10 * S, 5 * S, NULL);
	assert_true(req(b, 0, false));
	assert_true(req(b, 5 * S, false));
	assert_true(req(b, 10 * S - 1, false));
	assert_int_equal(gw_breaker_state(b, 10 * S), O);
	gw_breaker_destroy(b);

	/* No interval: errors never expire, only a success ends a run. */
	b = make(2, 0, 5 * S, NULL);
	assert_true(req(b, 0, false));
	assert_true(req(b, 1000 * S, false));
	assert_int_equal(gw_breaker_state(b, 1000 * S), C);
	assert_true(req(b, 100000 * S, false));
	assert_int_equal(gw_breaker_state(b, 100000 * S), O);
	gw_breaker_destroy(b);
}

static void
open_rejects_until_timeout(void **state)
{
	struct changes ch;
	struct gw_breaker *b = make(0, 10 * S, 5 * S, &ch);
	int i;

	(void)state;
	assert_true(req(b, 10 * S, false));
	for (i = 0; i < 100; i++)
		assert_false(gw_breaker_allow(b, 10 * S + i * 49 * MS));
	assert_false(gw_breaker_allow(b, 15 * S - 1));
	assert_int_equal(gw_breaker_state(b, 15 * S - 1), O);
	/* The timeout passed: the next allow() is the probe. */
	assert_true(gw_breaker_allow(b, 15 * S));
	assert_int_equal(gw_breaker_state(b, 15 * S), H);
	assert_int_equal(ch.n, 2);
	assert_int_equal(ch.from[1], O);
	assert_int_equal(ch.to[1], H);
	gw_breaker_destroy(b);
}

static void
half_open_lets_exactly_one_probe(void **state)
{
	struct gw_breaker *b = make(0, 10 * S, 5 * S, NULL);
	uint64_t gen;
	int i;

	(void)state;
	assert_true(req(b, 0, false));
	assert_true(gw_breaker_allow_gen(b, 5 * S, &gen));
	for (i = 0; i < 1000; i++)
		assert_false(gw_breaker_allow(b, 5 * S + i * MS));
	/* Until the probe's outcome: success closes. */
	gw_breaker_record_gen(b, gen, true, 6 * S);
	assert_int_equal(gw_breaker_state(b, 6 * S), C);
	for (i = 0; i < 10; i++)
		assert_true(gw_breaker_allow(b, 6 * S));
	gw_breaker_destroy(b);
}

static void
half_open_failure_reopens(void **state)
{
	struct changes ch;
	struct gw_breaker *b = make(0, 10 * S, 5 * S, &ch);
	uint64_t gen;

	(void)state;
	assert_true(req(b, 0, false));
	assert_true(gw_breaker_allow_gen(b, 5 * S, &gen));
	gw_breaker_record_gen(b, gen, false, 7 * S);
	assert_int_equal(gw_breaker_state(b, 7 * S), O);
	/* Another full timeout from the probe's failure. */
	assert_false(gw_breaker_allow(b, 12 * S - 1));
	assert_true(gw_breaker_allow_gen(b, 12 * S, &gen));
	assert_false(gw_breaker_allow(b, 12 * S));
	gw_breaker_record_gen(b, gen, true, 12 * S);
	assert_int_equal(gw_breaker_state(b, 12 * S), C);

	/* Every transition, in order, and the counters. */
	assert_int_equal(ch.n, 5);
	assert_int_equal(ch.from[0], C); assert_int_equal(ch.to[0], O);
	assert_int_equal(ch.from[1], O); assert_int_equal(ch.to[1], H);
	assert_int_equal(ch.from[2], H); assert_int_equal(ch.to[2], O);
	assert_int_equal(ch.from[3], O); assert_int_equal(ch.to[3], H);
	assert_int_equal(ch.from[4], H); assert_int_equal(ch.to[4], C);
	assert_int_equal(gw_breaker_transitions(b, O), 2);
	assert_int_equal(gw_breaker_transitions(b, H), 2);
	assert_int_equal(gw_breaker_transitions(b, C), 1);
	assert_int_equal(gw_breaker_transitions(b, (enum gw_breaker_state)7),
	    0);
	gw_breaker_destroy(b);
}

/*
 * Outcomes of requests let through under an older state are dropped: a
 * slow success from before the trip neither closes the open circuit nor
 * passes for the probe's, and a slow failure does not count against the
 * next closed period.
 */
static void
stale_records_are_ignored(void **state)
{
	struct changes ch;
	struct gw_breaker *b = make(1, 10 * S, 5 * S, &ch);
	uint64_t slow_ok, slow_err, probe;

	(void)state;
	assert_true(gw_breaker_allow_gen(b, 0, &slow_ok));
	assert_true(gw_breaker_allow_gen(b, 0, &slow_err));
	assert_true(req(b, 1 * S, false));
	assert_true(req(b, 1 * S, false));
	assert_int_equal(gw_breaker_state(b, 1 * S), O);

	/* Open: the slow success is from before; stays open. */
	gw_breaker_record_gen(b, slow_ok, true, 2 * S);
	assert_int_equal(gw_breaker_state(b, 2 * S), O);
	assert_false(gw_breaker_allow(b, 2 * S));

	/* Half-open: neither stale outcome settles the probe. */
	assert_true(gw_breaker_allow_gen(b, 6 * S, &probe));
	gw_breaker_record_gen(b, slow_ok, true, 6 * S);
	assert_int_equal(gw_breaker_state(b, 6 * S), H);
	gw_breaker_record_gen(b, slow_err, false, 6 * S);
	assert_int_equal(gw_breaker_state(b, 6 * S), H);
	assert_false(gw_breaker_allow(b, 6 * S));
	gw_breaker_record_gen(b, probe, true, 7 * S);
	assert_int_equal(gw_breaker_state(b, 7 * S), C);

	/* Closed again: old failures (and the probe's twin) count nothing;
	 * it takes two fresh errors to open. */
	gw_breaker_record_gen(b, slow_err, false, 8 * S);
	gw_breaker_record_gen(b, probe, false, 8 * S);
	assert_true(req(b, 8 * S, false));
	assert_int_equal(gw_breaker_state(b, 8 * S), C);
	assert_true(req(b, 8 * S, false));
	assert_int_equal(gw_breaker_state(b, 8 * S), O);
	assert_int_equal(ch.n, 4);
	gw_breaker_destroy(b);
}

/* Without a generation, outcomes arriving while open are dropped. */
static void
plain_record_ignored_while_open(void **state)
{
	struct gw_breaker *b = make(0, 10 * S, 5 * S, NULL);

	(void)state;
	assert_true(gw_breaker_allow(b, 0));
	assert_true(gw_breaker_allow(b, 0));
	gw_breaker_record(b, false, 0);
	assert_int_equal(gw_breaker_state(b, 0), O);
	gw_breaker_record(b, true, 1 * S);
	assert_int_equal(gw_breaker_state(b, 1 * S), O);
	/* The plain pair still drives the whole cycle. */
	assert_true(gw_breaker_allow(b, 5 * S));
	assert_false(gw_breaker_allow(b, 5 * S));
	gw_breaker_record(b, true, 5 * S);
	assert_int_equal(gw_breaker_state(b, 5 * S), C);
	gw_breaker_destroy(b);
}

/* A probe whose outcome never comes back does not wedge the breaker. */
static void
lost_probe_is_replaced_after_timeout(void **state)
{
	struct gw_breaker *b = make(0, 10 * S, 5 * S, NULL);
	uint64_t lost, second;

	(void)state;
	assert_true(req(b, 0, false));
	assert_true(gw_breaker_allow_gen(b, 5 * S, &lost));
	assert_false(gw_breaker_allow(b, 10 * S - 1));
	assert_true(gw_breaker_allow_gen(b, 10 * S, &second));
	assert_false(gw_breaker_allow(b, 10 * S));
	/* Both are probes of this half-open period: the first outcome
	 * settles it, the other is then stale. */
	assert_int_equal(lost, second);
	gw_breaker_record_gen(b, second, false, 11 * S);
	assert_int_equal(gw_breaker_state(b, 11 * S), O);
	gw_breaker_record_gen(b, lost, true, 12 * S);
	assert_int_equal(gw_breaker_state(b, 12 * S), O);
	gw_breaker_destroy(b);
}

static void
clock_backwards_counts_as_no_time(void **state)
{
	struct gw_breaker *b = make(1, 10 * S, 5 * S, NULL);

	(void)state;
	/* A run at 100s, an error "at" 50s joins it. */
	assert_true(req(b, 100 * S, false));
	assert_true(req(b, 50 * S, false));
	assert_int_equal(gw_breaker_state(b, 50 * S), O);
	/* Opened at 50s; a clock back at 0 or INT64_MIN stays open. */
	assert_false(gw_breaker_allow(b, 0));
	assert_false(gw_breaker_allow(b, INT64_MIN));
	assert_false(gw_breaker_allow(b, 55 * S - 1));
	assert_true(gw_breaker_allow(b, 55 * S));
	gw_breaker_destroy(b);

	/* Extreme clocks: no overflow in elapsed time. */
	b = make(0, INT64_MAX, INT64_MAX, NULL);
	assert_true(req(b, INT64_MIN, false));
	assert_false(gw_breaker_allow(b, -2));    /* INT64_MAX - 1 later */
	assert_true(gw_breaker_allow(b, -1));     /* INT64_MAX later */
	gw_breaker_destroy(b);
	b = make(0, INT64_MAX, INT64_MAX, NULL);
	assert_true(req(b, INT64_MIN, false));
	assert_true(gw_breaker_allow(b, INT64_MAX)); /* 2^64 - 1: held */
	gw_breaker_destroy(b);
}

static void
timeout_zero_means_sixty_seconds(void **state)
{
	struct gw_breaker *b = make(0, 0, 0, NULL);

	(void)state;
	assert_true(req(b, 0, false));
	assert_false(gw_breaker_allow(b, 60 * S - 1));
	assert_true(gw_breaker_allow(b, 60 * S));
	gw_breaker_destroy(b);
}

static void
names_and_defaults(void **state)
{
	struct gw_breaker_config cfg;
	struct changes ch;
	struct gw_breaker *b;
	char name[16] = "mutable";

	(void)state;
	assert_string_equal(gw_breaker_state_name(C), "closed");
	assert_string_equal(gw_breaker_state_name(O), "open");
	assert_string_equal(gw_breaker_state_name(H), "half-open");
	assert_string_equal(
	    gw_breaker_state_name((enum gw_breaker_state)9), "unknown");

	memset(&cfg, 0, sizeof(cfg));
	cfg.log_status_change = true;
	b = gw_breaker_create(&cfg, name);
	memset(&ch, 0, sizeof(ch));
	gw_breaker_set_notify(b, on_change, &ch);
	strcpy(name, "changed");
	assert_true(req(b, 0, false));
	assert_string_equal(ch.name, "mutable");
	gw_breaker_destroy(b);

	cfg.name = (char *)"from-config";
	b = gw_breaker_create(&cfg, NULL);
	memset(&ch, 0, sizeof(ch));
	gw_breaker_set_notify(b, on_change, &ch);
	assert_true(req(b, 0, false));
	assert_string_equal(ch.name, "from-config");
	/* No callback any more: transitions still counted. */
	gw_breaker_set_notify(b, NULL, NULL);
	assert_true(gw_breaker_allow(b, 60 * S));
	assert_int_equal(ch.n, 1);
	assert_int_equal(gw_breaker_transitions(b, H), 1);
	gw_breaker_destroy(b);
	gw_breaker_destroy(NULL);
}

/* The callback may call back into its breaker (it runs unlocked). */
static void
reentrant_notify(void *arg, const char *name, enum gw_breaker_state from,
    enum gw_breaker_state to)
{
	struct gw_breaker *b = arg;

	(void)name;
	(void)from;
	assert_int_equal(gw_breaker_transitions(b, to), 1);
}

static void
notify_may_reenter(void **state)
{
	struct gw_breaker *b = make(0, 10 * S, 5 * S, NULL);

	(void)state;
	gw_breaker_set_notify(b, reentrant_notify, b);
	assert_true(req(b, 0, false));
	gw_breaker_destroy(b);
}

struct racer {
	struct gw_breaker *b;
	pthread_barrier_t *start;
	int64_t now;
	bool fail;
	int allowed;
};

static void *
racer_run(void *arg)
{
	struct racer *r = arg;
	uint64_t gen;
	int i;

	pthread_barrier_wait(r->start);
	for (i = 0; i < 5000; i++) {
		if (!gw_breaker_allow_gen(r->b, r->now, &gen))
			continue;
		r->allowed++;
		if (r->fail)
			gw_breaker_record_gen(r->b, gen, false, r->now);
	}
	return NULL;
}

static int
race(struct gw_breaker *b, int64_t now, bool fail)
{
	pthread_barrier_t start;
	struct racer r[4];
	pthread_t t[4];
	int i, total = 0;

	pthread_barrier_init(&start, NULL, 4);
	for (i = 0; i < 4; i++) {
		r[i].b = b;
		r[i].start = &start;
		r[i].now = now;
		r[i].fail = fail;
		r[i].allowed = 0;
		assert_int_equal(pthread_create(&t[i], NULL, racer_run,
		    &r[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += r[i].allowed;
	}
	pthread_barrier_destroy(&start);
	return total;
}

static void
threads_one_trip_one_probe(void **state)
{
	struct gw_breaker *b = make(10, 10 * S, 5 * S, NULL);
	int n;

	(void)state;
	/* Four threads failing: 11 errors trip it once; up to three more
	 * requests may have been let through meanwhile (their outcomes are
	 * then stale). */
	n = race(b, 0, true);
	assert_true(n >= 11 && n <= 14);
	assert_int_equal(gw_breaker_transitions(b, O), 1);
	assert_int_equal(gw_breaker_state(b, 0), O);
	/* Four threads at the probe: exactly one gets through. */
	assert_int_equal(race(b, 5 * S, false), 1);
	assert_int_equal(gw_breaker_transitions(b, H), 1);
	gw_breaker_destroy(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(opens_after_more_than_max_errors),
		cmocka_unit_test(max_errors_zero_opens_on_first),
		cmocka_unit_test(success_resets_the_count),
		cmocka_unit_test(interval_expiry_starts_a_new_run),
		cmocka_unit_test(open_rejects_until_timeout),
		cmocka_unit_test(half_open_lets_exactly_one_probe),
		cmocka_unit_test(half_open_failure_reopens),
		cmocka_unit_test(stale_records_are_ignored),
		cmocka_unit_test(plain_record_ignored_while_open),
		cmocka_unit_test(lost_probe_is_replaced_after_timeout),
		cmocka_unit_test(clock_backwards_counts_as_no_time),
		cmocka_unit_test(timeout_zero_means_sixty_seconds),
		cmocka_unit_test(names_and_defaults),
		cmocka_unit_test(notify_may_reenter),
		cmocka_unit_test(threads_one_trip_one_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
