/* server.c: not written yet. */
#define GW_LOG_MODULE "server"
#include "server.h"
#include "log.h"

int
gw_server_run(struct gw_config *cfg, const char *path, int workers)
{
	(void)cfg;
	(void)workers;
	log_error("%s: serving is not implemented yet", path);
	return -1;
}
