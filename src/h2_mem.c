/*
 * h2_mem.c: a per-worker allocator for nghttp2 (see h2_mem.h).
 */
#include "h2_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The header before each block: its class, 0 for a malloc'd large one.
 * 16 bytes keep the block aligned as malloc's are. */
#define HDR 16

static unsigned
class_of(size_t size)
{
	return size > GW_H2_MEM_MAX ? 0 :
	    (unsigned)((size + GW_H2_MEM_CLASS - 1) / GW_H2_MEM_CLASS) + 0u;
}

static void *
mem_alloc(struct gw_h2_mem *m, size_t size)
{
	unsigned cls = size == 0 ? 1 : class_of(size);
	unsigned char *h;

	if (cls != 0 && (h = m->free[cls]) != NULL) {
		memcpy(&m->free[cls], h + HDR, sizeof(void *));
		m->n[cls]--;
		return h + HDR;
	}
	h = malloc(HDR + (cls != 0 ? (size_t)cls * GW_H2_MEM_CLASS : size));
	if (h == NULL)
		return NULL;
	memcpy(h, &cls, sizeof(cls));
	return h + HDR;
}

static void
mem_free(struct gw_h2_mem *m, void *p)
{
	unsigned char *h;
	unsigned cls;

	if (p == NULL)
		return;
	h = (unsigned char *)p - HDR;
	memcpy(&cls, h, sizeof(cls));
	if (cls == 0 || m->n[cls] >= GW_H2_MEM_KEEP) {
		free(h);
		return;
	}
	memcpy(h + HDR, &m->free[cls], sizeof(void *));
	m->free[cls] = h;
	m->n[cls]++;
}

static void *
nv_malloc(size_t size, void *ud)
{
	return mem_alloc(ud, size);
}

static void
nv_free(void *p, void *ud)
{
	mem_free(ud, p);
}

static void *
nv_calloc(size_t n, size_t size, void *ud)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if ((p = mem_alloc(ud, n * size)) != NULL)
		memset(p, 0, n * size);
	return p;
}

static void *
nv_realloc(void *p, size_t size, void *ud)
{
	struct gw_h2_mem *m = ud;
	unsigned char *h;
	unsigned cls;
	void *q;

	if (p == NULL)
		return mem_alloc(m, size);
	h = (unsigned char *)p - HDR;
	memcpy(&cls, h, sizeof(cls));
	if (cls == 0) {
		/* A large block stays one (its header says so). */
		if (size <= GW_H2_MEM_MAX)
			size = GW_H2_MEM_MAX + 1;
		if ((h = realloc(h, HDR + size)) == NULL)
			return NULL;
		return h + HDR;
	}
	if (size <= (size_t)cls * GW_H2_MEM_CLASS)
		return p;
	if ((q = mem_alloc(m, size)) == NULL)
		return NULL;
	memcpy(q, p, (size_t)cls * GW_H2_MEM_CLASS);
	mem_free(m, p);
	return q;
}

void
gw_h2_mem_init(struct gw_h2_mem *m)
{
	memset(m, 0, sizeof(*m));
	m->mem.mem_user_data = m;
	m->mem.malloc = nv_malloc;
	m->mem.free = nv_free;
	m->mem.calloc = nv_calloc;
	m->mem.realloc = nv_realloc;
}

void
gw_h2_mem_fini(struct gw_h2_mem *m)
{
	unsigned char *h;
	unsigned cls;

	for (cls = 1; cls <= GW_H2_MEM_NCLASS; cls++)
		while ((h = m->free[cls]) != NULL) {
			memcpy(&m->free[cls], h + HDR, sizeof(void *));
			free(h);
		}
	memset(m->n, 0, sizeof(m->n));
}
