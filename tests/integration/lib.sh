# lib.sh: harness for the shell integration tests of hanzo-gateway.
# Sourced, POSIX sh:
#
#   . "$(dirname "$0")/lib.sh"
#   gw_init h2c_to_h1_upgrade 60    # name, overall limit in s
#   need curl nghttp                # else "SKIP: <tool> missing", exit 77
#   start_backend                   # BACKEND_PORT BACKEND_URL BACKEND_PID
#   cat > "$T/gw.json" <<EOF        # @GW_PORT@ is filled in by start_gateway
#   { "version": 3, "port": @GW_PORT@, "listen_ip": "127.0.0.1", ... }
#   EOF
#   start_gateway "$T/gw.json"      # GW_PORT GW_URL GW_PID; waits /__health
#   curl_req r1 --http2-prior-knowledge "$GW_URL/x"
#   check_eq "GET /x answers 200" "$CURL_STATUS" 200
#   finish
#
# gw_init re-runs the test under timeout(1), makes the temp dir $T and
# sets traps: on exit every process the test started is stopped by its PID
# (SIGTERM, SIGKILL after a grace period) and $T is removed (kept with
# GW_TEST_KEEP=1).  Results print as "ok - ..." / "not ok - ..." and the
# last line is "NAME: N passed, M failed".  Exit: 0 passed, 1 failed, 77
# skipped, 99 the harness could not run.
#
# Run one test: make check TESTS=tests/integration/h2_to_h1_tls.sh, or
# GW_BIN=./hanzo-gateway tests/integration/h2_to_h1_tls.sh
#
# Environment: GW_BIN (the daemon; make check sets it), GW_TEST_KEEP,
# GW_TEST_WORKERS (default 2), GW_TEST_DAEMON=host:port (do not start the
# daemon; print its config and wait for one started by hand, e.g. under
# gdb).

PY=/usr/bin/python3
GW_LIB_DIR=$(cd "$(dirname "$0")" && pwd)

gw_passed=0
gw_failed=0
gw_pids=""
gw_state=init          # init, running, done

# gw_init NAME LIMIT: call first, from the test's top level.
gw_init() {
	GW_TEST_NAME=$1
	gw_limit=${2:-120}
	# A daemon started by hand gets the time it takes to start it.
	[ -n "${GW_TEST_DAEMON:-}" ] &&
		gw_limit=$((gw_limit + ${GW_TEST_DAEMON_WAIT:-120}))
	if [ -z "${GW_TEST_UNDER_TIMEOUT:-}" ] && command -v timeout >/dev/null
	then
		GW_TEST_UNDER_TIMEOUT=1
		export GW_TEST_UNDER_TIMEOUT
		# --foreground: only the test gets the signal; it stops its
		# own children by PID.
		exec timeout --foreground -k 30 "$gw_limit" /bin/sh "$0"
	fi
	: "${GW_BIN:=$GW_LIB_DIR/../../hanzo-gateway}"
	T=$(mktemp -d "${TMPDIR:-/tmp}/gwtest-$GW_TEST_NAME.XXXXXX") || {
		echo "ERROR: mktemp failed"; exit 99; }
	gw_state=running
	trap gw_on_exit EXIT
	trap 'gw_on_signal TERM' TERM
	trap 'gw_on_signal INT' INT
	trap 'gw_on_signal HUP' HUP
	[ -x "$PY" ] || skip "$PY missing"
}

gw_on_signal() {
	trap - TERM INT HUP
	not_ok "$GW_TEST_NAME ran to its end" \
	    "SIG$1: its $gw_limit s limit passed, or it was interrupted"
	exit 1
}

gw_on_exit() {
	rc=$?
	trap - EXIT TERM INT HUP
	stop_all
	if [ "$gw_state" = running ] && [ "$rc" -ne 77 ]; then
		[ "$gw_failed" -gt 0 ] && dump_logs
		echo "$GW_TEST_NAME: $gw_passed passed, $gw_failed failed"
		[ "$rc" -eq 0 ] && [ "$gw_failed" -gt 0 ] && rc=1
	fi
	if [ -n "${GW_TEST_KEEP:-}" ]; then
		echo "# files kept in $T"
	elif [ -n "${T:-}" ]; then
		rm -rf "$T"
	fi
	exit "$rc"
}

# --- results --------------------------------------------------------------

ok() {
	gw_passed=$((gw_passed + 1))
	echo "ok - $1"
}

# not_ok DESC [DETAIL...]
not_ok() {
	gw_failed=$((gw_failed + 1))
	echo "not ok - $1"
	shift
	for d in "$@"; do
		printf '%s\n' "$d" | sed 's/^/#   /'
	done
}

# check DESC COMMAND...: ok when the command succeeds.
check() {
	d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d" "failed: $*"; fi
}

# check_eq DESC GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"
	else not_ok "$1" "got '$2', want '$3'"; fi
}

# check_match DESC STRING GREP-PATTERN (extended regexp)
check_match() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"
	else not_ok "$1" "'$2' does not match /$3/"; fi
}

skip() {
	echo "SKIP: $1"
	exit 77
}

# need TOOL...: skips the test when one is missing.
need() {
	for tool in "$@"; do
		command -v "$tool" >/dev/null 2>&1 || skip "$tool missing"
	done
}

# need_py_module MODULE: skips when /usr/bin/python3 lacks it.
need_py_module() {
	"$PY" -c "import $1" 2>/dev/null || skip "$1 missing (python module for $PY)"
}

finish() {
	exit 0          # gw_on_exit prints the summary and sets the status
}

dump_logs() {
	for f in "$T"/gw*.err "$T"/gw*.out "$T"/backend*.log; do
		[ -s "$f" ] || continue
		echo "# --- $(basename "$f"), last lines:"
		tail -n 25 "$f" | sed 's/^/#   /'
	done
}

# --- processes ---------------------------------------------------------

free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# alive PID: running and not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# stop_pid PID [GRACE]: SIGTERM, SIGKILL after GRACE s (default 5).
# Returns 0 if TERM sufficed.  Sets STOP_STATUS to the exit status.
stop_pid() {
	pid=$1
	grace=${2:-5}
	STOP_STATUS=
	kill -TERM "$pid" 2>/dev/null
	i=0
	while alive "$pid" && [ "$i" -lt $((grace * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	termed=0
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		termed=1
	fi
	wait "$pid" 2>/dev/null
	STOP_STATUS=$?
	gw_pids=$(echo " $gw_pids " | sed "s/ $pid / /; s/^ *//; s/ *$//")
	return $termed
}

stop_all() {
	for pid in $gw_pids; do
		stop_pid "$pid" 5
	done
}

# start_backend [NAME]: starts backend.py on a free port (it reports the
# port in a file).  Sets BACKEND_PORT, BACKEND_URL, BACKEND_PID,
# BACKEND_LOG.
start_backend() {
	bname=${1:-backend}
	"$PY" "$GW_LIB_DIR/backend.py" --port-file "$T/$bname.port" \
	    --log "$T/$bname.log" --name "$bname" \
	    </dev/null >"$T/$bname.out" 2>"$T/$bname.err" &
	BACKEND_PID=$!
	gw_pids="$gw_pids $BACKEND_PID"
	i=0
	while [ ! -s "$T/$bname.port" ]; do
		if ! alive "$BACKEND_PID"; then
			echo "ERROR: backend $bname exited at start:"
			cat "$T/$bname.err"
			exit 99
		fi
		i=$((i + 1))
		if [ "$i" -gt 200 ]; then
			echo "ERROR: backend $bname wrote no port file in 10 s"
			exit 99
		fi
		sleep 0.05
	done
	BACKEND_PORT=$(cat "$T/$bname.port")
	BACKEND_URL="http://127.0.0.1:$BACKEND_PORT"
	BACKEND_LOG="$T/$bname.log"
}

# health_ok PORT [SCHEME]: GET /__health answers 200.
health_ok() {
	code=$(curl -s -k -o /dev/null -w '%{http_code}' --max-time 1 \
	    "${2:-http}://127.0.0.1:$1/__health" 2>/dev/null)
	[ "$code" = 200 ]
}

# start_gateway TEMPLATE [SCHEME]: fills @GW_PORT@ in the config template
# with a free port, starts the daemon and waits (at most 10 s) until GET
# /__health answers 200.  Sets GW_PORT, GW_URL, GW_PID, GW_CONFIG.  If it
# does not come up, reports that with its stderr and ends the test.
start_gateway() {
	tmpl=$1
	scheme=${2:-http}
	need curl
	if [ -n "${GW_TEST_DAEMON:-}" ]; then
		start_external_gateway "$tmpl" "$scheme"
		return
	fi
	if [ ! -x "$GW_BIN" ]; then
		echo "ERROR: no gateway binary at $GW_BIN (set GW_BIN)"
		exit 99
	fi
	attempt=1
	while :; do
		GW_PORT=$(free_port)
		GW_CONFIG="$T/gw.json"
		sed "s/@GW_PORT@/$GW_PORT/g" "$tmpl" >"$GW_CONFIG"
		"$GW_BIN" run -c "$GW_CONFIG" --workers "${GW_TEST_WORKERS:-2}" \
		    </dev/null >"$T/gw.out" 2>"$T/gw.err" &
		GW_PID=$!
		gw_pids="$gw_pids $GW_PID"
		GW_URL="$scheme://127.0.0.1:$GW_PORT"
		i=0
		while alive "$GW_PID" && [ "$i" -lt 100 ]; do
			if health_ok "$GW_PORT" "$scheme"; then
				ok "gateway starts and answers GET /__health (port $GW_PORT)"
				return 0
			fi
			sleep 0.1
			i=$((i + 1))
		done
		if alive "$GW_PID"; then
			why="no 200 from GET /__health within 10 s"
			stop_pid "$GW_PID"
		else
			wait "$GW_PID" 2>/dev/null
			why="exited with status $?"
			gw_pids=$(echo " $gw_pids " | sed "s/ $GW_PID / /")
			if grep -qi "in use" "$T/gw.err" "$T/gw.out" &&
			    [ "$attempt" -lt 3 ]; then
				echo "# port $GW_PORT was taken meanwhile; retrying"
				attempt=$((attempt + 1))
				continue
			fi
		fi
		not_ok "gateway starts and answers GET /__health" "$why" \
		    "command: $GW_BIN run -c $GW_CONFIG" \
		    "stderr:" "$(tail -n 40 "$T/gw.err")" \
		    "stdout:" "$(tail -n 20 "$T/gw.out")"
		exit 1
	done
}

start_external_gateway() {
	host=${GW_TEST_DAEMON%:*}
	GW_PORT=${GW_TEST_DAEMON##*:}
	GW_CONFIG="$T/gw.json"
	sed "s/@GW_PORT@/$GW_PORT/g; s/\"listen_ip\": *\"127.0.0.1\"/\"listen_ip\": \"$host\"/" \
	    "$1" >"$GW_CONFIG"
	GW_URL="$2://127.0.0.1:$GW_PORT"
	GW_PID=
	echo "# GW_TEST_DAEMON: start the daemon yourself, e.g."
	echo "#   gdb --args $GW_BIN run -c $GW_CONFIG --workers 1"
	echo "# waiting up to ${GW_TEST_DAEMON_WAIT:-120} s for $GW_URL/__health"
	i=0
	while [ "$i" -lt $((${GW_TEST_DAEMON_WAIT:-120} * 5)) ]; do
		if health_ok "$GW_PORT" "$2"; then
			ok "external gateway answers GET /__health"
			return 0
		fi
		sleep 0.2
		i=$((i + 1))
	done
	not_ok "external gateway answers GET /__health"
	exit 1
}

# stop_gateway: stops it by PID and checks that SIGTERM made it exit 0
# (the grace exceeds the daemon's own 10 s shutdown grace).
stop_gateway() {
	[ -n "${GW_PID:-}" ] || return 0
	if stop_pid "$GW_PID" 12 && [ "$STOP_STATUS" = 0 ]; then
		ok "gateway exits 0 on SIGTERM"
	else
		not_ok "gateway exits 0 on SIGTERM" "exit status $STOP_STATUS" \
		    "$(tail -n 20 "$T/gw.err")"
	fi
	GW_PID=
}

# --- clients -----------------------------------------------------------

# curl_req NAME CURL-ARGS...: one curl run.  Sets CURL_RC, CURL_STATUS,
# CURL_VERSION (%{http_version}: 1.1, 2); the body is in $T/NAME.body,
# the heads in $T/NAME.hdr, curl's stderr in $T/NAME.err.
curl_req() {
	cname=$1
	shift
	out=$(curl -sS --max-time 20 -D "$T/$cname.hdr" -o "$T/$cname.body" \
	    -w '%{http_code} %{http_version}' "$@" 2>"$T/$cname.err")
	CURL_RC=$?
	CURL_STATUS=${out% *}
	CURL_VERSION=${out#* }
	[ "$CURL_RC" -eq 0 ] || echo "# curl $cname: exit $CURL_RC: $(head -c 300 "$T/$cname.err")"
}

# body NAME: the body of curl_req NAME.
body() {
	cat "$T/$1.body"
}

# hdr NAME FIELD: the field's value in the last response head of NAME.
hdr() {
	tr -d '\r' <"$T/$1.hdr" | awk -v f="$2" '
		/^HTTP\// { delete v; next }
		{ i = index($0, ":"); if (i == 0) next
		  k = tolower(substr($0, 1, i - 1)); sub(/^[ \t]+/, "", k)
		  if (k == tolower(f) && !(k in v)) {
			s = substr($0, i + 1); sub(/^[ \t]+/, "", s); v[k] = s } }
		END { if (tolower(f) in v) print v[tolower(f)] }'
}

# json_get FILE KEY: a top-level key of a JSON document ("" if absent or
# not JSON).
json_get() {
	"$PY" -c 'import json, sys
try:
    v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except Exception:
    v = ""
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# echo_header FILE NAME: a header as the echo backend received it.
echo_header() {
	"$PY" -c 'import json, sys
try:
    hs = json.load(open(sys.argv[1]))["headers"]
except Exception:
    hs = []
print(",".join(v for k, v in hs if k.lower() == sys.argv[2].lower()))' "$1" "$2"
}

# is_json_with FILE KEY: FILE is a JSON object that has KEY.
is_json_with() {
	"$PY" -c 'import json, sys
sys.exit(0 if sys.argv[2] in json.load(open(sys.argv[1])) else 1)' "$1" "$2" 2>/dev/null
}
