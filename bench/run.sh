#!/bin/sh
# Measures hanzo-gateway and nghttpx side by side on this machine and
# prints one markdown table; a copy goes to bench/results/.  Installs
# what is missing and builds the gateway if there is no binary yet.
#
#   bench/run.sh                   3 repetitions of 10 s runs (~6 minutes)
#   QUICK=1 bench/run.sh           1 repetition of 2 s runs (~1 minute)
#   WORKERS=2 bench/run.sh         adds 2-worker HTTP/1.1 rows (+1.5 min)
#   SELFTEST=1 bench/run.sh        a second nghttpx stands in for the gateway
#
# More settings (REPS, DURATION, ROWS, GW_BIN, IDLE_CONNS): bench/bench.py.
set -eu
srcdir=$(cd "$(dirname "$0")/.." && pwd)

"$srcdir/contrib/deps.sh" bench
if [ "${SELFTEST:-0}" = 0 ]; then
	if [ -z "${GW_BIN:-}" ]; then
		GW_BIN=$srcdir/hanzo-gateway
		[ -x "$GW_BIN" ] || "$srcdir/contrib/build.sh"
	fi
	export GW_BIN
fi

exec /usr/bin/python3 -B "$srcdir/bench/bench.py"
