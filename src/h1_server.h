/*
 * h1_server.h: the client-facing HTTP/1.1 front.
 */
#ifndef GW_H1_SERVER_H
#define GW_H1_SERVER_H

struct gw_conn;

/* Makes c an HTTP/1.1 connection and processes buffered input.
 * Returns 0, or -1 after freeing c. */
int gw_h1_server_start(struct gw_conn *c);
void gw_h1_server_free(struct gw_conn *c);
void gw_h1_server_shutdown(struct gw_conn *c);

#endif
