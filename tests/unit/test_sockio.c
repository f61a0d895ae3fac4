/*
 * test_sockio.c: batched plaintext writes (sockio.c) over AF_UNIX
 * socketpairs on a private event_base, with bounded loops.
 *
 * Each side is one attached bufferevent (the end under test) and the raw
 * peer fd the test reads from.  The write callback does what real owners
 * do first: gw_sockio_written().
 *
 * pass() is one iteration of the loop (EVLOOP_ONCE | EVLOOP_NONBLOCK):
 * a bare EVLOOP_NONBLOCK keeps iterating while callbacks are active, so
 * it would let libevent's own EV_WRITE path finish what the flusher left
 * and hide a flusher that writes nothing.  The write callback also notes
 * whether EV_WRITE was on when it ran: the flusher runs it with EV_WRITE
 * off, libevent's write path with it on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "sockio.h"
#include "xmalloc.h"

#define BIG (1024 * 1024)
#define MAX_PASSES 100000

struct test;

struct side {
	struct test *t;
	struct bufferevent *bev;     /* NULL once freed */
	struct gw_sockio f;
	int peer;                    /* the raw end; -1 once closed */
	int writes;                  /* write callback runs */
	int lib_writes;              /* ...of which with EV_WRITE on */
	int nevents;                 /* event callback runs */
	short events;                /* what the event callback saw, or'ed */
	int event_errno;
	const char *more;            /* the write callback adds it, once */
	bool free_in_cb;             /* the write callback frees this side */
	struct side *victim;         /* ...or frees that one */
	int reads;                   /* read callback runs */
	size_t read_len;             /* input length at the last one */
	int reads_at_event;          /* reads when the event callback ran */
	bool free_in_read_cb;        /* the read callback frees this side */
	bool free_in_event_cb;       /* the event callback frees this side */
};

struct test {
	struct event_base *base;
	struct gw_flusher fl;
};

static uint8_t pattern[BIG];
static uint8_t got[2 * BIG];

static void side_free(struct side *);

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct side *s = arg;
	const char *more;

	assert_ptr_equal(bev, s->bev);
	if (bufferevent_get_enabled(bev) & EV_WRITE)
		s->lib_writes++;
	gw_sockio_written(&s->f);
	s->writes++;
	if (s->more != NULL) {
		more = s->more;
		s->more = NULL;
		evbuffer_add(bufferevent_get_output(bev), more, strlen(more));
	}
	if (s->victim != NULL) {
		side_free(s->victim);
		s->victim = NULL;
	}
	if (s->free_in_cb) {
		gw_sockio_detach(&s->f);
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct side *s = arg;

	s->event_errno = EVUTIL_SOCKET_ERROR();
	assert_ptr_equal(bev, s->bev);
	s->nevents++;
	s->events |= what;
	s->reads_at_event = s->reads;
	if (s->free_in_event_cb) {
		gw_sockio_detach(&s->f);
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
}

/* Counts and leaves the input alone (the tests look at it). */
static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct side *s = arg;

	assert_ptr_equal(bev, s->bev);
	s->reads++;
	s->read_len = evbuffer_get_length(bufferevent_get_input(bev));
	if (s->free_in_read_cb) {
		/* As gw_conn_park() does, from the owner's read callback. */
		gw_sockio_detach(&s->f);
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
}

/* A socketpair: fd[0] under a bufferevent attached to t's flusher (when
 * attach), fd[1] the peer.  sndbuf > 0 shrinks both socket buffers. */
static struct side *
side_new_opts(struct test *t, int sndbuf, int opts, bool attach)
{
	struct side *s = xcalloc(1, sizeof *s);
	int fd[2];

	s->t = t;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	assert_int_equal(evutil_make_socket_nonblocking(fd[0]), 0);
	assert_int_equal(evutil_make_socket_nonblocking(fd[1]), 0);
	if (sndbuf > 0) {
		assert_int_equal(setsockopt(fd[0], SOL_SOCKET, SO_SNDBUF,
		    &sndbuf, sizeof sndbuf), 0);
		assert_int_equal(setsockopt(fd[1], SOL_SOCKET, SO_RCVBUF,
		    &sndbuf, sizeof sndbuf), 0);
	}
	s->peer = fd[1];
	s->bev = bufferevent_socket_new(t->base, fd[0],
	    BEV_OPT_CLOSE_ON_FREE | opts);
	assert_non_null(s->bev);
	bufferevent_setcb(s->bev, NULL, write_cb, event_cb, s);
	/* As conn.c does: enabled, then attached. */
	bufferevent_enable(s->bev, EV_WRITE);
	if (attach) {
		gw_sockio_attach(&s->f, &t->fl, s->bev, false);
		assert_ptr_equal(s->f.bev, s->bev);
		assert_int_equal(bufferevent_get_enabled(s->bev) & EV_WRITE,
		    0);
	}
	return s;
}

static struct side *
side_new(struct test *t, int sndbuf)
{
	return side_new_opts(t, sndbuf, 0, true);
}

static void
side_free(struct side *s)
{
	if (s->bev != NULL) {
		gw_sockio_detach(&s->f);
		bufferevent_free(s->bev);
	}
	if (s->peer != -1)
		close(s->peer);
	free(s);
}

static struct evbuffer *
out(struct side *s)
{
	return bufferevent_get_output(s->bev);
}

static void
add(struct side *s, const void *data, size_t len)
{
	assert_int_equal(evbuffer_add(out(s), data, len), 0);
}

static void
add_str(struct side *s, const char *str)
{
	add(s, str, strlen(str));
}

static bool
write_enabled(struct side *s)
{
	return (bufferevent_get_enabled(s->bev) & EV_WRITE) != 0;
}

/* One iteration of the loop. */
static void
pass(struct test *t)
{
	assert_true(event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK)
	    >= 0);
}

/* Whatever the peer has now (up to EOF), into buf (at most cap). */
static size_t
peer_read(struct side *s, void *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap) {
		n = read(s->peer, (char *)buf + len, cap - len);
		if (n > 0) {
			len += n;
			continue;
		}
		if (n == 0)              /* the bufferevent was freed */
			break;
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		break;
	}
	return len;
}

static void
peer_expect(struct side *s, const char *want)
{
	char buf[256];
	size_t len;

	len = peer_read(s, buf, sizeof buf - 1);
	buf[len] = '\0';
	assert_string_equal(buf, want);
}

static int
setup(void **state)
{
	struct test *t = xcalloc(1, sizeof *t);

	t->base = event_base_new();
	assert_non_null(t->base);
	gw_flusher_init(&t->fl, t->base);
	assert_non_null(t->fl.ev);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct test *t = *state;

	assert_true(TAILQ_EMPTY(&t->fl.queue));
	gw_flusher_fini(&t->fl);
	assert_null(t->fl.ev);
	gw_flusher_fini(&t->fl);         /* twice is harmless */
	event_base_free(t->base);
	free(t);
	return 0;
}

/* --- tests ------------------------------------------------------------- */

/* 1: written at the end of the pass, not before; EV_WRITE stays off. */
static void
small_write_one_pass(void **state)
{
	struct test *t = *state;
	struct side *s = side_new(t, 0);
	char c;

	add_str(s, "hello");
	assert_true(s->f.queued);
	assert_ptr_equal(TAILQ_FIRST(&t->fl.queue), &s->f);
	/* Nothing reached the socket yet: the flusher runs in the loop. */
	assert_int_equal(read(s->peer, &c, 1), -1);
	assert_int_equal(s->writes, 0);

	pass(t);
	peer_expect(s, "hello");
	assert_false(write_enabled(s));
	assert_int_equal(s->writes, 1);
	assert_int_equal(s->lib_writes, 0);
	assert_int_equal(evbuffer_get_length(out(s)), 0);
	assert_false(s->f.queued);
	assert_true(TAILQ_EMPTY(&t->fl.queue));

	/* Nothing queued: another pass writes nothing, calls nothing. */
	pass(t);
	assert_int_equal(s->writes, 1);
	assert_int_equal(s->nevents, 0);

	/* And the next write goes the same way. */
	add_str(s, "again");
	pass(t);
	peer_expect(s, "again");
	assert_int_equal(s->writes, 2);
	assert_int_equal(s->lib_writes, 0);
	assert_false(write_enabled(s));

	/* A bare EVLOOP_NONBLOCK run does the same. */
	add_str(s, "nonblock");
	assert_true(event_base_loop(t->base, EVLOOP_NONBLOCK) >= 0);
	peer_expect(s, "nonblock");
	assert_int_equal(s->writes, 3);
	assert_int_equal(s->lib_writes, 0);
	assert_false(write_enabled(s));
	assert_int_equal(evbuffer_get_length(out(s)), 0);
	side_free(s);
}

/* 2: several adds in one pass: one entry, one flush, in order. */
static void
batched_adds(void **state)
{
	struct test *t = *state;
	struct side *s = side_new(t, 0);
	struct gw_sockio *f;
	int n = 0;

	add_str(s, "one,");
	add_str(s, "two,");
	evbuffer_add_printf(out(s), "%s", "three");
	TAILQ_FOREACH(f, &t->fl.queue, entry)
		n++;
	assert_int_equal(n, 1);

	pass(t);
	peer_expect(s, "one,two,three");
	assert_int_equal(s->writes, 1);
	assert_int_equal(s->lib_writes, 0);
	assert_false(write_enabled(s));
	assert_int_equal(evbuffer_get_length(out(s)), 0);
	side_free(s);
}

/* Reads the peer while the loop runs until want bytes came and s's
 * output drained; returns what came. */
static size_t
drain(struct test *t, struct side *s, size_t want)
{
	size_t len = 0;
	int i;

	for (i = 0; i < MAX_PASSES; i++) {
		len += peer_read(s, got + len, sizeof got - len);
		if (len >= want && evbuffer_get_length(out(s)) == 0 &&
		    !write_enabled(s))
			break;
		pass(t);
	}
	assert_true(i < MAX_PASSES);
	return len;
}

/* 3: a full socket hands the rest to libevent (EV_WRITE), which writes
 * it; the owner's write callback then turns EV_WRITE off again. */
static void
full_socket(void **state)
{
	struct test *t = *state;
	struct side *s = side_new(t, 4096);
	const char tail[] = "tail";
	size_t len;

	add(s, pattern, BIG);
	pass(t);
	assert_true(write_enabled(s));
	assert_true(evbuffer_get_length(out(s)) > 0);
	assert_true(evbuffer_get_length(out(s)) < BIG);  /* some went */
	assert_int_equal(s->writes, 0);
	assert_true(TAILQ_EMPTY(&t->fl.queue));

	/* While libevent writes, adds do not queue. */
	add(s, tail, sizeof tail - 1);
	assert_false(s->f.queued);
	assert_true(TAILQ_EMPTY(&t->fl.queue));

	len = drain(t, s, BIG + sizeof tail - 1);
	assert_int_equal(len, BIG + sizeof tail - 1);
	assert_memory_equal(got, pattern, BIG);
	assert_memory_equal(got + BIG, tail, sizeof tail - 1);
	assert_false(write_enabled(s));
	assert_int_equal(evbuffer_get_length(out(s)), 0);
	assert_int_equal(s->writes, 1);
	assert_int_equal(s->lib_writes, 1);
	assert_int_equal(s->nevents, 0);

	/* Back to batching. */
	add_str(s, "after");
	assert_true(s->f.queued);
	pass(t);
	peer_expect(s, "after");
	assert_false(write_enabled(s));
	assert_int_equal(s->writes, 2);
	assert_int_equal(s->lib_writes, 1);
	side_free(s);
}

/* 3b: as upstream.c sets it up: deferred callbacks, a write low
 * watermark; the owner refills in its write callback. */
static void
full_socket_deferred_low_watermark(void **state)
{
	struct test *t = *state;
	struct side *s = side_new_opts(t, 4096, BEV_OPT_DEFER_CALLBACKS,
	    true);
	size_t len;

	bufferevent_setwatermark(s->bev, EV_WRITE, 16384, 0);
	add(s, pattern, BIG);
	pass(t);
	assert_true(write_enabled(s));
	s->more = "refill";
	len = drain(t, s, BIG + 6);
	assert_int_equal(len, BIG + 6);
	assert_memory_equal(got, pattern, BIG);
	assert_memory_equal(got + BIG, "refill", 6);
	assert_null(s->more);
	assert_false(write_enabled(s));
	assert_int_equal(evbuffer_get_length(out(s)), 0);
	assert_true(s->writes >= 2);
	assert_int_equal(s->nevents, 0);
	side_free(s);
}

/* 3c: deferred callbacks, small write: the write callback still runs. */
static void
small_write_deferred(void **state)
{
	struct test *t = *state;
	struct side *s = side_new_opts(t, 0, BEV_OPT_DEFER_CALLBACKS, true);
	int i;

	add_str(s, "deferred");
	for (i = 0; i < 10 && s->writes == 0; i++)
		pass(t);
	assert_int_equal(s->writes, 1);
	assert_int_equal(s->lib_writes, 0);
	peer_expect(s, "deferred");
	assert_false(write_enabled(s));
	side_free(s);
}

/* 4: detached and freed while queued: off the queue, nothing runs. */
static void
detach_while_queued(void **state)
{
	struct test *t = *state;
	struct side *a = side_new(t, 0), *b = side_new(t, 0);
	char c;

	add_str(a, "lost");
	add_str(b, "kept");
	assert_true(a->f.queued);
	gw_sockio_detach(&a->f);
	assert_null(a->f.bev);
	assert_false(a->f.queued);
	assert_ptr_equal(TAILQ_FIRST(&t->fl.queue), &b->f);
	assert_null(TAILQ_NEXT(&b->f, entry));
	/* Detached: adding does not queue. */
	add_str(a, "more");
	assert_false(a->f.queued);
	bufferevent_free(a->bev);
	a->bev = NULL;
	gw_sockio_detach(&a->f);          /* twice is harmless */

	pass(t);
	pass(t);
	assert_true(TAILQ_EMPTY(&t->fl.queue));
	assert_int_equal(a->writes, 0);
	assert_int_equal(read(a->peer, &c, 1), 0);       /* EOF, no data */
	peer_expect(b, "kept");
	assert_int_equal(b->writes, 1);
	assert_int_equal(b->lib_writes, 0);
	side_free(a);
	side_free(b);

	/* Alone on the queue, detached: the flusher finds it empty. */
	a = side_new(t, 0);
	add_str(a, "x");
	gw_sockio_detach(&a->f);
	bufferevent_free(a->bev);
	a->bev = NULL;
	assert_true(TAILQ_EMPTY(&t->fl.queue));
	pass(t);
	assert_true(TAILQ_EMPTY(&t->fl.queue));
	side_free(a);
}

/* 5: a write callback frees its bufferevent; the next one queued in the
 * same pass is still written. */
static void
free_in_write_cb(void **state)
{
	struct test *t = *state;
	struct side *a = side_new(t, 0), *b = side_new(t, 0);

	a->free_in_cb = true;
	add_str(a, "first");
	add_str(b, "second");
	pass(t);
	assert_int_equal(a->writes, 1);
	assert_int_equal(a->lib_writes, 0);
	assert_null(a->bev);
	peer_expect(a, "first");
	peer_expect(b, "second");
	assert_int_equal(b->writes, 1);
	assert_int_equal(b->lib_writes, 0);
	assert_true(TAILQ_EMPTY(&t->fl.queue));
	side_free(a);
	side_free(b);
}

/* 5b: a write callback frees another side that is still queued: it is
 * never written, nothing touches it. */
static void
free_other_in_write_cb(void **state)
{
	struct test *t = *state;
	struct side *a = side_new(t, 0), *b = side_new(t, 0);
	struct side *c = side_new(t, 0);
	int peer = b->peer;
	char ch;

	b->peer = -1;                    /* kept open to look at */
	a->victim = b;
	add_str(a, "a");
	add_str(b, "b");
	add_str(c, "c");
	pass(t);
	assert_int_equal(a->writes, 1);
	assert_int_equal(a->lib_writes, 0);
	peer_expect(a, "a");
	assert_int_equal(read(peer, &ch, 1), 0);         /* EOF, no data */
	close(peer);
	peer_expect(c, "c");
	assert_int_equal(c->writes, 1);
	assert_int_equal(c->lib_writes, 0);
	assert_true(TAILQ_EMPTY(&t->fl.queue));
	side_free(a);
	side_free(c);
}

/* 6: the peer went away: libevent reports the write error. */
static void
peer_closed(void **state)
{
	struct test *t = *state;
	struct side *s = side_new(t, 0);
	int i;

	close(s->peer);
	s->peer = -1;
	add_str(s, "nobody");
	for (i = 0; i < 10 && s->nevents == 0; i++)
		pass(t);
	assert_int_equal(s->nevents, 1);
	assert_true(s->events & BEV_EVENT_ERROR);
	assert_true(s->events & BEV_EVENT_WRITING);
	assert_int_equal(s->event_errno, EPIPE);
	assert_int_equal(s->writes, 0);
	assert_true(TAILQ_EMPTY(&t->fl.queue));
	side_free(s);
}

/* 7: TLS, no flusher, a flusher never initialised: not attached, and
 * gw_sockio_enable() is bufferevent_enable(). */
static void
not_attached(void **state)
{
	struct test *t = *state;
	struct gw_flusher zero;
	struct side *s = side_new_opts(t, 0, 0, false);
	int i;

	memset(&zero, 0, sizeof zero);
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);

	memset(&s->f, 0xa5, sizeof s->f);
	gw_sockio_attach(&s->f, &t->fl, s->bev, true);
	assert_null(s->f.bev);
	memset(&s->f, 0xa5, sizeof s->f);
	gw_sockio_attach(&s->f, NULL, s->bev, false);
	assert_null(s->f.bev);
	memset(&s->f, 0xa5, sizeof s->f);
	gw_sockio_attach(&s->f, &zero, s->bev, false);
	assert_null(s->f.bev);
	assert_false(s->f.queued);
	gw_sockio_detach(&s->f);          /* harmless */

	/* Data does not queue; gw_sockio_enable() enables EV_WRITE too. */
	add_str(s, "plain");
	assert_true(TAILQ_EMPTY(&t->fl.queue));
	gw_sockio_enable(&s->f, s->bev, EV_READ | EV_WRITE);
	assert_int_equal(bufferevent_get_enabled(s->bev),
	    EV_READ | EV_WRITE);
	/* libevent writes it, as without sockio.c. */
	for (i = 0; i < 10 && s->writes == 0; i++)
		pass(t);
	assert_int_equal(s->writes, 1);
	peer_expect(s, "plain");
	/* gw_sockio_written() leaves an unattached bufferevent alone. */
	assert_true(write_enabled(s));
	side_free(s);

	/* Attached: EV_WRITE is left out, the rest enabled. */
	s = side_new(t, 0);
	gw_sockio_enable(&s->f, s->bev, EV_READ | EV_WRITE);
	assert_int_equal(bufferevent_get_enabled(s->bev), EV_READ);
	bufferevent_disable(s->bev, EV_READ);
	gw_sockio_enable(&s->f, s->bev, EV_WRITE);
	assert_int_equal(bufferevent_get_enabled(s->bev), 0);
	side_free(s);
}

/* 7b: attaching over pending output disables EV_WRITE and queues it. */
static void
attach_with_pending_output(void **state)
{
	struct test *t = *state;
	struct side *s = side_new_opts(t, 0, 0, false);

	bufferevent_disable(s->bev, EV_WRITE);   /* libevent keeps it */
	add_str(s, "early");
	bufferevent_enable(s->bev, EV_WRITE);
	gw_sockio_attach(&s->f, &t->fl, s->bev, false);
	assert_ptr_equal(s->f.bev, s->bev);
	assert_false(write_enabled(s));
	assert_true(s->f.queued);
	pass(t);
	peer_expect(s, "early");
	assert_int_equal(s->writes, 1);
	assert_int_equal(s->lib_writes, 0);
	assert_false(write_enabled(s));
	side_free(s);
}

/* 8: what a write callback adds (h2 does) is written in the same run. */
static void
write_cb_adds_more(void **state)
{
	struct test *t = *state;
	struct side *a = side_new(t, 0), *b = side_new(t, 0);

	a->more = " and more";
	add_str(a, "some");
	add_str(b, "other");
	pass(t);
	peer_expect(a, "some and more");
	peer_expect(b, "other");
	assert_int_equal(a->writes, 2);
	assert_int_equal(a->lib_writes, 0);
	assert_int_equal(b->writes, 1);
	assert_int_equal(b->lib_writes, 0);
	assert_false(write_enabled(a));
	assert_int_equal(evbuffer_get_length(out(a)), 0);
	assert_true(TAILQ_EMPTY(&t->fl.queue));
	side_free(a);
	side_free(b);
}

/* --- the read side ----------------------------------------------------- */

static struct evbuffer *
in(struct side *s)
{
	return bufferevent_get_input(s->bev);
}

static bool
read_enabled(struct side *s)
{
	return (bufferevent_get_enabled(s->bev) & EV_READ) != 0;
}

/* A side with a read callback and EV_READ | EV_WRITE enabled before it is
 * attached (as conn.c does), its bufferevent end's receive buffer and the
 * peer's send buffer set to rcvbuf when > 0. */
static struct side *
rside_new(struct test *t, int rcvbuf, bool attach)
{
	struct side *s = side_new_opts(t, 0, 0, false);

	if (rcvbuf > 0) {
		assert_int_equal(setsockopt(bufferevent_getfd(s->bev),
		    SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
		assert_int_equal(setsockopt(s->peer, SOL_SOCKET, SO_SNDBUF,
		    &rcvbuf, sizeof rcvbuf), 0);
	}
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (attach) {
		gw_sockio_attach(&s->f, &t->fl, s->bev, false);
		assert_ptr_equal(s->f.bev, s->bev);
		assert_true(read_enabled(s));
		assert_false(write_enabled(s));
		/* The read event is the hook now, not libevent's. */
		assert_ptr_equal(event_get_callback_arg(&s->bev->ev_read),
		    &s->f);
		assert_true(event_pending(&s->bev->ev_read, EV_READ, NULL));
	}
	return s;
}

static void
peer_write(struct side *s, const void *data, size_t len)
{
	assert_int_equal(write(s->peer, data, len), (ssize_t)len);
}

/* The input, as a string (it must be short). */
static void
in_expect(struct side *s, const char *want)
{
	char buf[256];
	size_t len = evbuffer_get_length(in(s));

	assert_true(len < sizeof buf);
	assert_int_equal(evbuffer_remove(in(s), buf, len), (int)len);
	buf[len] = '\0';
	assert_string_equal(buf, want);
}

/* R1: a small message: one read callback, exactly the bytes sent. */
static void
read_small(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 0, true);

	pass(t);
	assert_int_equal(s->reads, 0);          /* nothing there yet */
	peer_write(s, "hello", 5);
	pass(t);
	assert_int_equal(s->reads, 1);
	assert_int_equal(s->read_len, 5);
	assert_int_equal(s->nevents, 0);
	assert_true(read_enabled(s));
	in_expect(s, "hello");

	/* Nothing more: no callback.  The next message the same way. */
	pass(t);
	assert_int_equal(s->reads, 1);
	peer_write(s, "again", 5);
	pass(t);
	assert_int_equal(s->reads, 2);
	in_expect(s, "again");
	assert_int_equal(s->nevents, 0);
	side_free(s);
}

#define LARGE 200000

/* R2: more than 4 KiB waiting: one readiness reads the first 4 KiB
 * reservation and a second read of up to GW_SOCKIO_READ_MAX - 4 KiB;
 * libevent 2.1 alone would read at most 4096 bytes.
 *
 * The upper bound: on an empty input, the 4096-byte reservation is a
 * new chain whose allocation (header included) is the next power of two
 * at least 4096 + header, 8192, so the first readv takes less than
 * 8192; when that filled 4096, the second reservation of
 * READ_MAX - 4096 uses what is left of that chain plus a new chain of
 * at most 65536 bytes with its header: less than 2 * 4096 + READ_MAX in
 * all.  The lower bound: the first read fills its reservation (at least
 * 4096) with this much waiting, and the second then at least
 * READ_MAX - 4096. */
static void
read_large_one_readiness(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 1024 * 1024, true);
	size_t sent, len = 0, n;
	ssize_t w;
	int i;

	w = write(s->peer, pattern, LARGE);
	assert_true(w > 2 * GW_SOCKIO_FIRST_READ + GW_SOCKIO_READ_MAX);
	sent = (size_t)w;

	pass(t);
	assert_int_equal(s->reads, 1);
	n = evbuffer_get_length(in(s));
	assert_int_equal(s->read_len, n);
	assert_true(n >= GW_SOCKIO_FIRST_READ + 1);
	assert_true(n >= GW_SOCKIO_READ_MAX);
	assert_true(n < 2 * GW_SOCKIO_FIRST_READ + GW_SOCKIO_READ_MAX);
	assert_int_equal(s->nevents, 0);

	/* The rest, in order, intact. */
	for (i = 0; i < MAX_PASSES && len < LARGE; i++) {
		n = evbuffer_get_length(in(s));
		assert_true(n < 2 * GW_SOCKIO_FIRST_READ +
		    GW_SOCKIO_READ_MAX);
		assert_true(len + n <= LARGE);
		assert_int_equal(evbuffer_remove(in(s), got + len, n),
		    (int)n);
		len += n;
		if (sent < LARGE) {
			w = write(s->peer, pattern + sent, LARGE - sent);
			if (w > 0)
				sent += (size_t)w;
			else
				assert_true(errno == EAGAIN);
		}
		if (len < LARGE)
			pass(t);
	}
	assert_int_equal(len, LARGE);
	assert_memory_equal(got, pattern, LARGE);
	assert_int_equal(s->nevents, 0);
	assert_true(read_enabled(s));
	side_free(s);
}

/* R3: end of file: the data before it first, then the event callback
 * with EOF | READING, and EV_READ off. */
static void
read_eof(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 0, true);
	int i;

	peer_write(s, "bye", 3);
	assert_int_equal(shutdown(s->peer, SHUT_WR), 0);
	for (i = 0; i < 10 && s->nevents == 0; i++)
		pass(t);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events, BEV_EVENT_EOF | BEV_EVENT_READING);
	assert_int_equal(s->reads, 1);
	assert_int_equal(s->reads_at_event, 1);  /* data came first */
	assert_int_equal(s->read_len, 3);
	in_expect(s, "bye");
	assert_false(read_enabled(s));
	assert_false(event_pending(&s->bev->ev_read, EV_READ, NULL));
	/* Nothing more is called. */
	pass(t);
	pass(t);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->reads, 1);
	side_free(s);

	/* A close with nothing sent: EOF at once. */
	s = rside_new(t, 0, true);
	close(s->peer);
	s->peer = -1;
	for (i = 0; i < 10 && s->nevents == 0; i++)
		pass(t);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events, BEV_EVENT_EOF | BEV_EVENT_READING);
	assert_int_equal(s->reads, 0);
	assert_false(read_enabled(s));
	side_free(s);
}

/* R4: the read timeout: the event callback with TIMEOUT | READING, EV_READ
 * off; enabled again, data is read. */
static void
read_timeout(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 0, true);
	struct timeval tv = { 0, 50 * 1000 };
	int i;

	bufferevent_set_timeouts(s->bev, &tv, NULL);
	/* Each blocking iteration waits for the timeout at most (50 ms). */
	for (i = 0; i < 20 && s->nevents == 0; i++)
		assert_true(event_base_loop(t->base, EVLOOP_ONCE) >= 0);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);
	assert_int_equal(s->reads, 0);
	assert_false(read_enabled(s));
	assert_false(event_pending(&s->bev->ev_read, EV_READ | EV_TIMEOUT,
	    NULL));

	bufferevent_enable(s->bev, EV_READ);
	peer_write(s, "late", 4);
	for (i = 0; i < 10 && s->reads == 0; i++)
		pass(t);
	assert_int_equal(s->reads, 1);
	in_expect(s, "late");
	assert_int_equal(s->nevents, 1);
	assert_true(read_enabled(s));
	/* Still the hook, and the timeout still applies. */
	assert_ptr_equal(event_get_callback_arg(&s->bev->ev_read), &s->f);
	assert_true(event_pending(&s->bev->ev_read, EV_TIMEOUT, NULL));
	side_free(s);
}

/* R5: a read error: an AF_UNIX peer closed with data it never read makes
 * the next read fail with ECONNRESET: ERROR | READING, EV_READ off. */
static void
read_error(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 0, true);
	int i;

	/* Unread by the peer (straight to the socket, not the flusher). */
	assert_int_equal(write(bufferevent_getfd(s->bev), "unread", 6), 6);
	close(s->peer);
	s->peer = -1;
	for (i = 0; i < 10 && s->nevents == 0; i++)
		pass(t);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events, BEV_EVENT_ERROR | BEV_EVENT_READING);
	assert_int_equal(s->event_errno, ECONNRESET);
	assert_int_equal(s->reads, 0);
	assert_false(read_enabled(s));
	pass(t);
	assert_int_equal(s->nevents, 1);
	side_free(s);
}

/* A reset met by the read that follows a full one is still reported as
 * an error, not as the end of file the socket shows afterwards: for
 * every size around the first read's room, all the bytes, then
 * ERROR|READING. */
static void
read_error_after_data(void **state)
{
	struct test *t = *state;
	static char data[80000];
	size_t sizes[64], n = 0, k, nread;
	int i;

	for (k = 8144 - 96; k <= 8144 + 96; k += 16)
		sizes[n++] = k;
	sizes[n++] = 4096;
	sizes[n++] = 65536;
	sizes[n++] = 65536 + 8144;
	memset(data, 'd', sizeof data);
	for (k = 0; k < n; k++) {
		struct side *s = rside_new(t, 1 << 20, true);

		peer_write(s, data, sizes[k]);
		assert_int_equal(write(bufferevent_getfd(s->bev), "unread",
		    6), 6);
		close(s->peer);
		s->peer = -1;
		nread = 0;
		for (i = 0; i < 20 && s->nevents == 0; i++) {
			pass(t);
			nread += evbuffer_get_length(in(s));
			evbuffer_drain(in(s), evbuffer_get_length(in(s)));
		}
		if (nread != sizes[k] || s->nevents != 1 ||
		    s->events != (BEV_EVENT_ERROR | BEV_EVENT_READING))
			fail_msg("%zu bytes: nread %zu, %d events, last 0x%x",
			    sizes[k], nread, s->nevents, s->events);
		side_free(s);
	}
}

/* R6: disabled, nothing is read; enabled again, it is. */
static void
disable_enable(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 0, true);
	int i;

	bufferevent_disable(s->bev, EV_READ);
	assert_false(event_pending(&s->bev->ev_read, EV_READ, NULL));
	peer_write(s, "held", 4);
	for (i = 0; i < 5; i++)
		pass(t);
	assert_int_equal(s->reads, 0);
	assert_int_equal(evbuffer_get_length(in(s)), 0);

	bufferevent_enable(s->bev, EV_READ);
	assert_ptr_equal(event_get_callback_arg(&s->bev->ev_read), &s->f);
	pass(t);
	assert_int_equal(s->reads, 1);
	in_expect(s, "held");
	assert_int_equal(s->nevents, 0);

	/* gw_sockio_enable() enables EV_READ the same way. */
	bufferevent_disable(s->bev, EV_READ);
	peer_write(s, "again", 5);
	pass(t);
	assert_int_equal(s->reads, 1);
	gw_sockio_enable(&s->f, s->bev, EV_READ | EV_WRITE);
	assert_int_equal(bufferevent_get_enabled(s->bev), EV_READ);
	pass(t);
	assert_int_equal(s->reads, 2);
	in_expect(s, "again");
	side_free(s);
}

/* R7: detached, libevent's own read is back (its 4096-byte reads show
 * it), EV_READ kept as it was; freeing afterwards is clean (valgrind). */
static void
detach_restores_libevent(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 1024 * 1024, true);
	size_t len = 0, n;
	int i;

	gw_sockio_detach(&s->f);
	assert_null(s->f.bev);
	assert_true(read_enabled(s));
	assert_ptr_equal(event_get_callback_arg(&s->bev->ev_read), s->bev);
	assert_ptr_equal(event_get_callback(&s->bev->ev_read),
	    s->f.libevent_readcb);
	assert_true(event_pending(&s->bev->ev_read, EV_READ, NULL));

	assert_int_equal(write(s->peer, pattern, 3 * 4096),
	    3 * 4096);
	pass(t);
	assert_int_equal(s->reads, 1);
	/* libevent 2.1 reads at most 4096 bytes a readiness. */
	assert_int_equal(evbuffer_get_length(in(s)), 4096);
	for (i = 0; i < 100 && len < 3 * 4096; i++) {
		n = evbuffer_get_length(in(s));
		assert_int_equal(evbuffer_remove(in(s), got + len, n),
		    (int)n);
		len += n;
		if (len < 3 * 4096)
			pass(t);
	}
	assert_int_equal(len, 3 * 4096);
	assert_memory_equal(got, pattern, 3 * 4096);
	assert_int_equal(s->reads, 3);
	assert_int_equal(s->nevents, 0);

	/* And libevent reports end of file itself. */
	close(s->peer);
	s->peer = -1;
	for (i = 0; i < 10 && s->nevents == 0; i++)
		pass(t);
	assert_int_equal(s->events, BEV_EVENT_EOF | BEV_EVENT_READING);
	side_free(s);

	/* Detached with EV_READ off: it stays off, and frees cleanly. */
	s = rside_new(t, 0, true);
	bufferevent_disable(s->bev, EV_READ);
	gw_sockio_detach(&s->f);
	assert_false(read_enabled(s));
	assert_false(event_pending(&s->bev->ev_read, EV_READ, NULL));
	assert_ptr_equal(event_get_callback_arg(&s->bev->ev_read), s->bev);
	peer_write(s, "x", 1);
	pass(t);
	assert_int_equal(s->reads, 0);
	side_free(s);

	/* Attached again after a detach: the hook again. */
	s = rside_new(t, 0, true);
	gw_sockio_detach(&s->f);
	gw_sockio_attach(&s->f, &t->fl, s->bev, false);
	assert_ptr_equal(event_get_callback_arg(&s->bev->ev_read), &s->f);
	assert_true(read_enabled(s));
	assert_int_equal(write(s->peer, pattern, 3 * 4096), 3 * 4096);
	pass(t);
	assert_int_equal(s->reads, 1);
	assert_int_equal(evbuffer_get_length(in(s)), 3 * 4096);
	side_free(s);
}

/* R8: gw_sockio_read() takes what is there without calling back. */
static void
sockio_read_no_callback(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 1024 * 1024, true);
	size_t n;

	bufferevent_disable(s->bev, EV_READ);    /* even with it off */
	peer_write(s, "waiting", 7);
	gw_sockio_read(&s->f, GW_SOCKIO_READ_MAX);
	assert_int_equal(s->reads, 0);
	assert_int_equal(s->nevents, 0);
	in_expect(s, "waiting");
	/* Nothing there: nothing happens (no EOF, no error, no callback). */
	gw_sockio_read(&s->f, GW_SOCKIO_READ_MAX);
	assert_int_equal(evbuffer_get_length(in(s)), 0);
	assert_int_equal(s->reads, 0);
	assert_int_equal(s->nevents, 0);

	/* More than 4 KiB: the second read too, as in R2. */
	assert_int_equal(write(s->peer, pattern, LARGE), LARGE);
	gw_sockio_read(&s->f, GW_SOCKIO_READ_MAX);
	n = evbuffer_get_length(in(s));
	assert_true(n >= GW_SOCKIO_READ_MAX);
	assert_true(n < 2 * GW_SOCKIO_FIRST_READ + GW_SOCKIO_READ_MAX);
	assert_int_equal(evbuffer_remove(in(s), got, n), (int)n);
	assert_memory_equal(got, pattern, n);
	assert_int_equal(s->reads, 0);

	/* End of file is left to the next read. */
	close(s->peer);
	s->peer = -1;
	gw_sockio_read(&s->f, GW_SOCKIO_READ_MAX);
	assert_int_equal(s->nevents, 0);
	assert_int_equal(s->reads, 0);
	assert_true(evbuffer_get_length(in(s)) > 0);
	side_free(s);
}

/* R9: the owner frees (detach, then bufferevent_free) from its read or
 * event callback, which the hook called: nothing touches it after
 * (valgrind). */
static void
free_in_read_callbacks(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 0, true);
	int i;

	s->free_in_read_cb = true;
	peer_write(s, "last", 4);
	pass(t);
	assert_int_equal(s->reads, 1);
	assert_null(s->bev);
	for (i = 0; i < 3; i++)
		pass(t);
	assert_int_equal(s->reads, 1);
	side_free(s);

	s = rside_new(t, 0, true);
	s->free_in_event_cb = true;
	close(s->peer);
	s->peer = -1;
	for (i = 0; i < 10 && s->nevents == 0; i++)
		pass(t);
	assert_int_equal(s->nevents, 1);
	assert_null(s->bev);
	pass(t);
	assert_int_equal(s->nevents, 1);
	side_free(s);
}

static void
steal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct side *s = arg;

	(void)fd;
	(void)what;
	gw_sockio_read(&s->f, GW_SOCKIO_READ_MAX);
}

/* R10: readiness reported, but the data gone by the time the hook runs
 * (read by gw_sockio_read() from an event activated before it in the
 * same pass): EAGAIN, which calls nothing and keeps EV_READ on. */
static void
read_eagain_quiet(void **state)
{
	struct test *t = *state;
	struct side *s = rside_new(t, 0, true);
	struct event *steal;
	int i;

	/* Added after the bufferevent's read event: libevent activates the
	 * events of one fd newest first. */
	steal = event_new(t->base, bufferevent_getfd(s->bev),
	    EV_READ | EV_PERSIST, steal_cb, s);
	assert_non_null(steal);
	assert_int_equal(event_add(steal, NULL), 0);
	peer_write(s, "stolen", 6);
	pass(t);
	event_free(steal);
	assert_int_equal(s->reads, 0);
	assert_int_equal(s->nevents, 0);
	assert_true(read_enabled(s));
	assert_true(event_pending(&s->bev->ev_read, EV_READ, NULL));
	in_expect(s, "stolen");
	/* And reading goes on. */
	peer_write(s, "next", 4);
	for (i = 0; i < 10 && s->reads == 0; i++)
		pass(t);
	assert_int_equal(s->reads, 1);
	in_expect(s, "next");
	side_free(s);
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T_(small_write_one_pass),
		T_(batched_adds),
		T_(full_socket),
		T_(full_socket_deferred_low_watermark),
		T_(small_write_deferred),
		T_(detach_while_queued),
		T_(free_in_write_cb),
		T_(free_other_in_write_cb),
		T_(peer_closed),
		T_(not_attached),
		T_(attach_with_pending_output),
		T_(write_cb_adds_more),
		T_(read_small),
		T_(read_large_one_readiness),
		T_(read_eof),
		T_(read_timeout),
		T_(read_error),
		T_(read_error_after_data),
		T_(disable_enable),
		T_(detach_restores_libevent),
		T_(sockio_read_no_callback),
		T_(free_in_read_callbacks),
		T_(read_eagain_quiet),
	};
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < sizeof pattern; i++)
		pattern[i] = (uint8_t)(i * 7 + i / 251);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
