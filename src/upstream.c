/* upstream.c: not written yet. */
#include "gw.h"
