/*
 * breaker.c: circuit breakers (qos/circuit-breaker).
 *
 * The state machine is documented in breaker.h.  Everything mutable sits
 * under one mutex per breaker: a decision is a few comparisons, so the
 * lock is held for nanoseconds, and only requests to the same backend
 * share it.  The notify callback and the log line run after the lock is
 * released, so neither can stall other workers or deadlock by calling
 * back in.
 */
#define GW_LOG_MODULE "breaker"

#include <pthread.h>
#include <stdlib.h>

#include "breaker.h"
#include "gw.h"
#include "log.h"
#include "xmalloc.h"

/* gobreaker's default, which KrakenD inherits for a timeout of 0. */
#define BREAKER_DEFAULT_TIMEOUT (60 * GW_NS_PER_S)

struct gw_breaker {
	pthread_mutex_t lock;
	char *name;              /* for logs and the callback; owned */
	int64_t interval_ns;     /* error window; <= 0: errors never expire */
	int64_t timeout_ns;      /* how long open lasts; > 0 */
	uint32_t max_errors;     /* opens at max_errors + 1 in a run */
	bool log_changes;        /* log every transition at INFO */

	/* Guarded by lock. */
	enum gw_breaker_state state;
	uint64_t gen;            /* bumped on every transition */
	uint32_t errors;         /* closed: errors in the current run */
	int64_t run_start;       /* closed: time of the run's first error */
	int64_t opened_at;       /* open: when it opened */
	bool probe_out;          /* half-open: the probe is in flight */
	int64_t probe_at;        /* half-open: when the probe left */
	uint64_t transitions[3]; /* by target state */
	gw_breaker_notify_cb notify;
	void *notify_arg;
};

/* A transition to report once the lock is released. */
struct breaker_change {
	bool happened;
	enum gw_breaker_state from;
	enum gw_breaker_state to;
	gw_breaker_notify_cb notify;
	void *notify_arg;
};

/* Time from `since` to `now`; 0 if the clock went backwards. */
static int64_t
breaker_elapsed(int64_t now, int64_t since)
{
	int64_t d;

	if (now <= since)
		return 0;
	if (__builtin_sub_overflow(now, since, &d))
		return INT64_MAX;
	return d;
}

/* Moves to `to` (lock held) and fills *c for breaker_report(). */
static void
breaker_set_state(struct gw_breaker *b, enum gw_breaker_state to,
    int64_t now, struct breaker_change *c)
{
	c->happened = true;
	c->from = b->state;
	c->to = to;
	c->notify = b->notify;
	c->notify_arg = b->notify_arg;

	b->state = to;
	b->gen++;
	b->transitions[to]++;
	b->errors = 0;
	b->probe_out = false;
	if (to == GW_BREAKER_OPEN)
		b->opened_at = now;
}

/* Logs and notifies a transition; called without the lock. */
static void
breaker_report(struct gw_breaker *b, const struct breaker_change *c)
{
	if (!c->happened)
		return;
	if (b->log_changes)
		log_info("circuit breaker %s: %s -> %s", b->name,
		    gw_breaker_state_name(c->from),
		    gw_breaker_state_name(c->to));
	if (c->notify != NULL)
		c->notify(c->notify_arg, b->name, c->from, c->to);
}

/* Applies the timed open -> half-open transition (lock held). */
static void
breaker_tick(struct gw_breaker *b, int64_t now, struct breaker_change *c)
{
	if (b->state == GW_BREAKER_OPEN &&
	    breaker_elapsed(now, b->opened_at) >= b->timeout_ns)
		breaker_set_state(b, GW_BREAKER_HALF_OPEN, now, c);
}

struct gw_breaker *
gw_breaker_create(const struct gw_breaker_config *cfg, const char *name)
{
	struct gw_breaker *b = xcalloc(1, sizeof(*b));

	pthread_mutex_init(&b->lock, NULL);
	if (name == NULL)
		name = cfg->name != NULL ? cfg->name : "backend";
	b->name = xstrdup(name);
	b->interval_ns = cfg->interval_ns;
	b->timeout_ns = cfg->timeout_ns > 0 ? cfg->timeout_ns :
	    BREAKER_DEFAULT_TIMEOUT;
	b->max_errors = cfg->max_errors;
	b->log_changes = cfg->log_status_change;
	b->state = GW_BREAKER_CLOSED;
	return b;
}

void
gw_breaker_destroy(struct gw_breaker *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b->name);
	free(b);
}

void
gw_breaker_set_notify(struct gw_breaker *b, gw_breaker_notify_cb cb,
    void *arg)
{
	pthread_mutex_lock(&b->lock);
	b->notify = cb;
	b->notify_arg = arg;
	pthread_mutex_unlock(&b->lock);
}

bool
gw_breaker_allow_gen(struct gw_breaker *b, int64_t now, uint64_t *gen)
{
	struct breaker_change c = { .happened = false };
	bool ok = false;

	pthread_mutex_lock(&b->lock);
	breaker_tick(b, now, &c);
	switch (b->state) {
	case GW_BREAKER_CLOSED:
		ok = true;
		break;
	case GW_BREAKER_OPEN:
		break;
	case GW_BREAKER_HALF_OPEN:
		/* One probe; another only if that one looks lost. */
		if (!b->probe_out ||
		    breaker_elapsed(now, b->probe_at) >= b->timeout_ns) {
			b->probe_out = true;
			b->probe_at = now;
			ok = true;
		}
		break;
	}
	if (ok && gen != NULL)
		*gen = b->gen;
	pthread_mutex_unlock(&b->lock);
	breaker_report(b, &c);
	return ok;
}

bool
gw_breaker_allow(struct gw_breaker *b, int64_t now)
{
	return gw_breaker_allow_gen(b, now, NULL);
}

/* Applies one outcome to the current state (lock held). */
static void
breaker_outcome(struct gw_breaker *b, bool success, int64_t now,
    struct breaker_change *c)
{
	switch (b->state) {
	case GW_BREAKER_CLOSED:
		if (success) {
			b->errors = 0;
			break;
		}
		if (b->errors == 0 || (b->interval_ns > 0 &&
		    breaker_elapsed(now, b->run_start) >= b->interval_ns)) {
			b->errors = 1;
			b->run_start = now;
		} else if (b->errors < UINT32_MAX)
			b->errors++;
		if (b->errors > b->max_errors)
			breaker_set_state(b, GW_BREAKER_OPEN, now, c);
		break;
	case GW_BREAKER_OPEN:
		/* Nothing was let through while open. */
		break;
	case GW_BREAKER_HALF_OPEN:
		breaker_set_state(b, success ? GW_BREAKER_CLOSED :
		    GW_BREAKER_OPEN, now, c);
		break;
	}
}

void
gw_breaker_record_gen(struct gw_breaker *b, uint64_t gen, bool success,
    int64_t now)
{
	struct breaker_change c = { .happened = false };

	pthread_mutex_lock(&b->lock);
	if (gen == b->gen)
		breaker_outcome(b, success, now, &c);
	pthread_mutex_unlock(&b->lock);
	breaker_report(b, &c);
}

void
gw_breaker_record(struct gw_breaker *b, bool success, int64_t now)
{
	struct breaker_change c = { .happened = false };

	pthread_mutex_lock(&b->lock);
	breaker_outcome(b, success, now, &c);
	pthread_mutex_unlock(&b->lock);
	breaker_report(b, &c);
}

enum gw_breaker_state
gw_breaker_state(struct gw_breaker *b, int64_t now)
{
	struct breaker_change c = { .happened = false };
	enum gw_breaker_state s;

	pthread_mutex_lock(&b->lock);
	breaker_tick(b, now, &c);
	s = b->state;
	pthread_mutex_unlock(&b->lock);
	breaker_report(b, &c);
	return s;
}

const char *
gw_breaker_state_name(enum gw_breaker_state s)
{
	switch (s) {
	case GW_BREAKER_CLOSED:
		return "closed";
	case GW_BREAKER_OPEN:
		return "open";
	case GW_BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "unknown";
}

uint64_t
gw_breaker_transitions(struct gw_breaker *b, enum gw_breaker_state to)
{
	uint64_t n;

	if ((unsigned)to >= GW_ARRAY_SIZE(b->transitions))
		return 0;
	pthread_mutex_lock(&b->lock);
	n = b->transitions[to];
	pthread_mutex_unlock(&b->lock);
	return n;
}
