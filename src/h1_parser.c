/* h1_parser.c: not written yet. */
#include "gw.h"
