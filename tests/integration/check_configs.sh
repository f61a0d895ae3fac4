#!/bin/sh
# check_configs.sh: "hanzo-gateway check" on every config we ship, on the
# real-world configs in tests/compat, and on a set of broken configs, each
# of which must be rejected (exit 1) with the JSON path of its fault in the
# message; then the exit codes of the command line.  Starts no server and
# opens no socket.
#
# Environment: GW_BIN, the built binary; GW_SRCDIR, the source tree (both
# set by "make check"; defaults: the tree this script is in).
# Prints one "ok - ..." or "not ok - ..." line per assertion, then
# "check_configs: N passed, M failed".  Exits 0 if none failed, 1 if any
# did, 99 (automake's hard error) if it cannot run at all.

set -u

name=check_configs
# shellcheck source=tests/integration/check_lib.sh
. "$(dirname "$0")/check_lib.sh"

# cfg NAME: writes standard input to $tmp/NAME.json.
cfg() {
	cat >"$tmp/$1.json"
}

# expect_valid FILE: "check -c FILE" exits 0 and prints "Syntax OK".
expect_valid() {
	gw check -c "$1"
	if [ "$rc" -eq 0 ] && grep -qx 'Syntax OK' "$tmp/out"; then
		ok "check accepts ${1#"$srcdir"/}"
	else
		not_ok "check accepts ${1#"$srcdir"/}"
	fi
}

# routes_listed FILE N: "check -d -c FILE" exits 0 and lists N routes
# (dump lines are "METHOD  /pattern -> host/url [encoding]").
routes_listed() {
	gw check -d -c "$1"
	n=$(grep -cE '^[A-Z]+ +/' "$tmp/out")
	if [ "$rc" -eq 0 ] && [ "$n" -eq "$2" ] &&
	    grep -qx 'Syntax OK' "$tmp/out"; then
		ok "check -d lists $2 routes for ${1#"$srcdir"/}"
	else
		not_ok "check -d lists $2 routes for ${1#"$srcdir"/} (found $n)"
	fi
}

# ere STRING: STRING with the ERE special characters escaped.
ere() {
	printf '%s\n' "$1" | sed 's/[]\[\\.*^$+?(){}|]/\\&/g'
}

# expect_invalid NAME PATH [WORD] DESCRIPTION: "check -c $tmp/NAME.json"
# exits 1 without "Syntax OK", and one line of its messages names the
# file and JSON path PATH (as a whole path component: "endpoints[1]"
# matches "endpoints[1]:" and "endpoints[1].endpoint:", not
# "endpoints[10]") and, when WORD is not empty, contains WORD.
expect_invalid() {
	file=$tmp/$1.json
	pat="(^|[ :])$(ere "$2")([].:[ ]|\$)"
	gw check -c "$file"
	if [ "$rc" -eq 1 ] && ! grep -q 'Syntax OK' "$tmp/out" &&
	    cat "$tmp/out" "$tmp/err" | grep -F "$file" | grep -E "$pat" |
	    grep -qiF -e "$3"; then
		ok "$4: exit 1 naming $2"
	else
		not_ok "$4: exit 1 naming $2"
	fi
}

# expect_exit CODE DESCRIPTION ARGS...: the binary exits CODE.
expect_exit() {
	code=$1
	desc=$2
	shift 2
	gw "$@"
	if [ "$rc" -eq "$code" ]; then
		ok "$desc: exit $code"
	else
		not_ok "$desc: exit $code"
	fi
}

# --- configs that must load --------------------------------------------

n=0
for f in "$srcdir"/configs/*/gateway.json "$srcdir"/tests/compat/*.json; do
	[ -f "$f" ] || continue
	n=$((n + 1))
	expect_valid "$f"
done
if [ "$n" -ge 2 ]; then
	ok "found $n configs to check"
else
	not_ok "found configs in configs/ and tests/compat/ (found $n)"
fi

routes_listed "$srcdir/tests/compat/hanzo-gateway.json" 193
# Every endpoint of a shipped config becomes a route.
for f in "$srcdir"/configs/*/gateway.json; do
	[ -f "$f" ] || continue
	routes_listed "$f" "$(grep -c '"endpoint":' "$f")"
done

# --- broken configs ----------------------------------------------------

# The base they are made from must itself be valid, so that each failure
# below comes from its one change.
cfg base <<'EOF'
{
  "version": 3,
  "endpoints": [
    {
      "endpoint": "/a/{id}",
      "method": "GET",
      "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/b/{id}"}]
    },
    {
      "endpoint": "/a/{id}",
      "method": "POST",
      "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/b/{id}"}]
    },
    {
      "endpoint": "/w/*",
      "method": "GET",
      "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/v1/*"}]
    }
  ]
}
EOF
expect_valid "$tmp/base.json"

cfg version <<'EOF'
{
  "version": 2,
  "endpoints": [
    {"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid version 'version' '' 'version 2'

cfg noslash <<'EOF'
{
  "version": 3,
  "endpoints": [
    {"endpoint": "a", "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid noslash 'endpoints[0].endpoint' '' "endpoint without a leading '/'"

cfg badhost <<'EOF'
{
  "version": 3,
  "endpoints": [
    {"endpoint": "/a", "backend": [{"host": ["ftp://example.com"]}]}
  ]
}
EOF
expect_invalid badhost 'endpoints[0].backend[0].host[0]' '' 'ftp:// backend host'

cfg dup <<'EOF'
{
  "version": 3,
  "endpoints": [
    {"endpoint": "/a", "method": "GET",
     "backend": [{"host": ["http://127.0.0.1:9"]}]},
    {"endpoint": "/a", "method": "GET",
     "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid dup 'endpoints[1]' '' 'duplicate GET /a'

# Placeholder names do not make two patterns different.
cfg dupparam <<'EOF'
{
  "version": 3,
  "endpoints": [
    {"endpoint": "/a/{x}", "method": "GET",
     "backend": [{"host": ["http://127.0.0.1:9"]}]},
    {"endpoint": "/a/{y}", "method": "GET",
     "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid dupparam 'endpoints[1]' '' 'duplicate GET /a/{x} and /a/{y}'

cfg nobackend <<'EOF'
{
  "version": 3,
  "endpoints": [
    {"endpoint": "/a", "method": "GET"}
  ]
}
EOF
expect_invalid nobackend 'endpoints[0]' 'backend' 'endpoint without backend'

cfg noop2 <<'EOF'
{
  "version": 3,
  "endpoints": [
    {
      "endpoint": "/a",
      "output_encoding": "no-op",
      "backend": [
        {"host": ["http://127.0.0.1:9"], "url_pattern": "/x"},
        {"host": ["http://127.0.0.1:9"], "url_pattern": "/y"}
      ]
    }
  ]
}
EOF
expect_invalid noop2 'endpoints[0]' '' 'no-op with two backends'

cfg placeholder <<'EOF'
{
  "version": 3,
  "endpoints": [
    {
      "endpoint": "/a/{id}",
      "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/b/{name}"}]
    }
  ]
}
EOF
expect_invalid placeholder 'endpoints[0].backend[0].url_pattern' '' \
    'url_pattern placeholder the endpoint does not define'

cfg duration <<'EOF'
{
  "version": 3,
  "timeout": "10x",
  "endpoints": [
    {"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid duration 'timeout' '' 'duration "10x"'

cfg porttype <<'EOF'
{
  "version": 3,
  "port": "80",
  "endpoints": [
    {"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid porttype 'port' '' 'port given as a string'

cfg unknown <<'EOF'
{
  "version": 3,
  "portt": 1,
  "endpoints": [
    {"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid unknown 'portt' '' 'unknown top-level key'

cfg maxrate <<'EOF'
{
  "version": 3,
  "extra_config": {
    "qos/ratelimit/router": {"max_rate": 0}
  },
  "endpoints": [
    {"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid maxrate 'extra_config' 'max_rate' 'max_rate 0'

cfg midstar <<'EOF'
{
  "version": 3,
  "endpoints": [
    {"endpoint": "/a/*/b", "backend": [{"host": ["http://127.0.0.1:9"]}]}
  ]
}
EOF
expect_invalid midstar 'endpoints[0].endpoint' '' "'*' inside a path"

printf '{"version": 3, "endpoints": [' >"$tmp/truncated.json"
gw check -c "$tmp/truncated.json"
if [ "$rc" -eq 1 ] && grep -qF "$tmp/truncated.json" "$tmp/err"; then
	ok "truncated JSON: exit 1 naming the file"
else
	not_ok "truncated JSON: exit 1 naming the file"
fi

# --- command line ------------------------------------------------------

gw version
if [ "$rc" -eq 0 ] && grep -q '^hanzo-gateway ' "$tmp/out"; then
	ok "version: exit 0"
else
	not_ok "version: exit 0"
fi
gw --help
if [ "$rc" -eq 0 ] && grep -q 'usage:' "$tmp/out"; then
	ok "--help: exit 0 with usage on stdout"
else
	not_ok "--help: exit 0 with usage on stdout"
fi
expect_exit 2 "no command"
expect_exit 2 "unknown command" frobnicate
expect_exit 2 "unknown flag" check -c "$tmp/base.json" --frobnicate
expect_exit 2 "check without -c" check
expect_exit 2 "-c without its argument" check -c
expect_exit 2 "missing config file" check -c "$tmp/does-not-exist.json"
expect_exit 2 "stray argument" check -c "$tmp/base.json" extra
# Without a config, run never gets as far as listening.
expect_exit 2 "run without -c" run

echo "check_configs: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
