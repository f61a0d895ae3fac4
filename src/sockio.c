/*
 * sockio.c: batched, optimistic writes and whole reads for plaintext
 * bufferevents (sockio.h says why and how).
 */
#define GW_LOG_MODULE "sockio"
#include "sockio.h"

#include <errno.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"

static void
flush_queue(struct gw_sockio *f)
{
	struct gw_flusher *fl = f->fl;

	if (f->queued)
		return;
	/* Writing is libevent's until the output drains: a write now
	 * would only meet a full socket buffer. */
	if (bufferevent_get_enabled(f->bev) & EV_WRITE)
		return;
	f->queued = true;
	if (TAILQ_EMPTY(&fl->queue))
		event_active(fl->ev, EV_WRITE, 0);
	TAILQ_INSERT_TAIL(&fl->queue, f, entry);
}

static void
flush_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	(void)buf;
	if (info->n_added > 0)
		flush_queue(arg);
}

/* Writes one queued output.  The owner's callbacks may run from here and
 * free it (and others): f is off the queue by then. */
static void
flush_one(struct gw_sockio *f)
{
	struct bufferevent *bev = f->bev;
	struct evbuffer *out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) == 0)
		return;
	/* A socket bufferevent keeps the start of its output frozen so that
	 * only its own write drains it; this is such a write. */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0) {
		/* A full socket waits for writability; an error is found
		 * again by libevent's write, which tells the owner. */
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	bufferevent_trigger(bev, EV_WRITE, 0);
}

/*
 * Runs once per loop pass that queued something, after the callbacks
 * before it.  An output queued again while this runs (its write callback
 * produced more) goes to the tail and is written in this same run; the
 * socket buffer filling up ends that.
 */
static void
flusher_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_flusher *fl = arg;
	struct gw_sockio *f;

	(void)fd;
	(void)what;
	while ((f = TAILQ_FIRST(&fl->queue)) != NULL) {
		TAILQ_REMOVE(&fl->queue, f, entry);
		f->queued = false;
		flush_one(f);
	}
}

void
gw_flusher_init(struct gw_flusher *fl, struct event_base *base)
{
	TAILQ_INIT(&fl->queue);
	fl->ev = event_new(base, -1, 0, flusher_cb, fl);
}

void
gw_flusher_fini(struct gw_flusher *fl)
{
	if (fl->ev != NULL)
		event_free(fl->ev);
	fl->ev = NULL;
}

void
gw_sockio_attach(struct gw_sockio *f, struct gw_flusher *fl,
    struct bufferevent *bev, bool tls)
{
	f->bev = NULL;
	f->queued = false;
	if (tls || fl == NULL || fl->ev == NULL)
		return;
	f->cb = evbuffer_add_cb(bufferevent_get_output(bev), flush_out_cb, f);
	if (f->cb == NULL)
		return;
	f->bev = bev;
	f->fl = fl;
	bufferevent_disable(bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		flush_queue(f);
}

void
gw_sockio_detach(struct gw_sockio *f)
{
	if (f->bev == NULL)
		return;
	if (f->queued)
		TAILQ_REMOVE(&f->fl->queue, f, entry);
	evbuffer_remove_cb_entry(bufferevent_get_output(f->bev), f->cb);
	f->queued = false;
	f->bev = NULL;
}

void
gw_sockio_enable(struct gw_sockio *f, struct bufferevent *bev, short what)
{
	if (f->bev != NULL)
		what &= ~EV_WRITE;
	if (what != 0)
		bufferevent_enable(bev, what);
}

void
gw_sockio_written(struct gw_sockio *f)
{
	if (f->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_output(f->bev)) == 0)
		bufferevent_disable(f->bev, EV_WRITE);
}

void
gw_sockio_read_more(struct gw_sockio *f, size_t limit)
{
	/* Less than libevent's cap came in: the socket had no more. */
	if (f->bev != NULL && evbuffer_get_length(bufferevent_get_input(
	    f->bev)) >= GW_SOCKIO_LIBEVENT_READ)
		gw_sockio_read(f, limit);
}

void
gw_sockio_read(struct gw_sockio *f, size_t limit)
{
	struct evbuffer_iovec v[2];
	struct evbuffer *in;
	size_t len;
	ssize_t r;
	int i, n;

	if (f->bev == NULL)
		return;
	in = bufferevent_get_input(f->bev);
	len = evbuffer_get_length(in);
	if (len >= limit)
		return;
	/* The input's end is frozen for everyone but the bufferevent's
	 * own read; this is such a read. */
	evbuffer_unfreeze(in, 0);
	n = evbuffer_reserve_space(in, (ev_ssize_t)(limit - len), v, 2);
	if (n > 0) {
		r = readv(bufferevent_getfd(f->bev), (struct iovec *)v, n);
		if (r < 0)
			r = 0;
		for (i = 0; i < n; i++) {
			size_t take = (size_t)r < v[i].iov_len ? (size_t)r :
			    v[i].iov_len;

			v[i].iov_len = take;
			r -= (ssize_t)take;
		}
		evbuffer_commit_space(in, v, n);
	}
	evbuffer_freeze(in, 0);
}
