/*
 * sockio.h: the socket I/O of plaintext bufferevents, made cheaper.
 *
 * Writes.  A socket bufferevent with EV_WRITE enabled adds its write
 * event to epoll whenever data lands in an empty output and removes it
 * once the output drains: two epoll_ctl calls and a loop turn per
 * response, on both sides of the proxy.  Here EV_WRITE stays disabled
 * while the socket keeps up.  Data added to an attached output queues
 * it on the worker's flusher; at the end of the current pass of the
 * event loop the flusher writes each queued output straight to its
 * socket (one writev for everything the pass produced).  Only what the
 * kernel does not take enables EV_WRITE, and libevent writes the rest as
 * usual; the owner's write callback then calls gw_sockio_written(),
 * which disables EV_WRITE again once the output is empty.
 *
 * The owner's write callback keeps its meaning (the output drained to
 * its low watermark): after a flush that wrote everything the flusher
 * runs it through bufferevent_trigger().  Errors are left to libevent:
 * a failed write enables EV_WRITE, whose callback reports the error to
 * the owner's event callback as before.
 *
 * Reads.  libevent asks the kernel how much there is (FIONREAD) before
 * every read, and 2.1 then reads at most 4096 bytes (EVBUFFER_MAX_READ):
 * a 64 KiB body costs 16 trips through epoll and 32 system calls.  An
 * attached bufferevent's read event calls sockio_read_cb instead, which
 * reads 4 KiB, and when that fills, up to GW_SOCKIO_READ_MAX more, then
 * runs the owner's read callback (or its event callback at end of file,
 * on an error or a timeout) just as libevent's read would.  Enabling,
 * disabling and timeouts still go through the bufferevent.
 *
 * TLS bufferevents are not attached (their buffers are not the
 * socket's), nor is anything while the worker has no flusher (some unit
 * tests): gw_sockio_enable() then enables EV_WRITE as a plain
 * bufferevent wants, and the other calls do nothing.
 */
#ifndef GW_SOCKIO_H
#define GW_SOCKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

struct bufferevent;
struct event;
struct event_base;
struct evbuffer_cb_entry;

/* One per worker thread. */
struct gw_flusher {
	struct event *ev;        /* NULL: not initialised, nothing batches */
	TAILQ_HEAD(, gw_sockio) queue;
};

/* One per bufferevent, embedded in the bufferevent's owner. */
struct gw_sockio {
	struct bufferevent *bev;         /* NULL: not attached */
	struct gw_flusher *fl;
	struct evbuffer_cb_entry *cb;
	void (*libevent_readcb)(int, short, void *); /* restored on detach */
	TAILQ_ENTRY(gw_sockio) entry;
	int read_errno;          /* an error met after a read, not told yet */
	bool queued;
};

/* The first read of a readiness; a full one is followed by a second. */
#define GW_SOCKIO_FIRST_READ 4096
/* About the most one readiness reads (libevent rounds reservations up):
 * four h2 DATA frames of the default size, or a 64 KiB body in one go. */
#define GW_SOCKIO_READ_MAX (64 * 1024)

void gw_flusher_init(struct gw_flusher *fl, struct event_base *base);
void gw_flusher_fini(struct gw_flusher *fl);

/* Takes over bev's socket I/O when bev is a plaintext socket and fl is
 * initialised; else leaves bev alone.  Disables EV_WRITE when it
 * attaches.  Once per bufferevent; detach before freeing bev or giving it
 * another socket. */
void gw_sockio_attach(struct gw_sockio *s, struct gw_flusher *fl,
    struct bufferevent *bev, bool tls);
void gw_sockio_detach(struct gw_sockio *s);
/* bufferevent_enable(bev, what), minus EV_WRITE when s is attached. */
void gw_sockio_enable(struct gw_sockio *s, struct bufferevent *bev,
    short what);
/* First thing in the owner's write callback. */
void gw_sockio_written(struct gw_sockio *s);
/* Reads what the socket holds now, up to `max` bytes, without calling
 * back (end of file and errors are found by the next read). */
void gw_sockio_read(struct gw_sockio *s, size_t max);

#endif
