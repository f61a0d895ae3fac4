/*
 * server.h: the running gateway: listeners, workers, signals, reload.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include "config.h"

/*
 * Serves cfg until SIGTERM/SIGINT (graceful) and returns 0, or returns -1
 * if it could not start (port in use, bad TLS files: logged).  `path` is
 * re-read on SIGHUP.  workers: 0 means one per core.  Takes its own
 * reference on cfg.
 */
int gw_server_run(struct gw_config *cfg, const char *path, int workers);

#endif
