/* h2_server.c: not written yet. */
#include "gw.h"
