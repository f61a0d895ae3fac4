/* clock.c: the monotonic clock every timer and QoS decision reads. */
#include <time.h>

#include "gw.h"

int64_t
gw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * GW_NS_PER_S + ts.tv_nsec;
}
