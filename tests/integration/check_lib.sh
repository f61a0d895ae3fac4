# check_lib.sh: what the "hanzo-gateway check" tests share, sourced by
# them after they set `name`: the binary and a temp dir, ok/not_ok
# counters, and gw, which runs the binary under a time limit.
# shellcheck shell=sh

srcdir=${GW_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${GW_BIN:-$srcdir/hanzo-gateway}

if [ ! -x "$bin" ]; then
	echo "$name: GW_BIN '$bin' is not an executable" >&2
	exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A binary that hangs must fail this test, not hang "make check".
if command -v timeout >/dev/null 2>&1; then
	limit="timeout 30"
else
	limit=
fi

passed=0
failed=0
rc=0

ok() {
	passed=$((passed + 1))
	echo "ok - $1"
}

# not_ok DESCRIPTION: records a failure and shows what the binary printed.
not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1"
	echo "#   exit status $rc; it printed:"
	cat "$tmp/out" "$tmp/err" | sed -n '1,8s/^/#     /p'
}

# gw ARGS...: runs the binary; sets rc; output in $tmp/out and $tmp/err.
gw() {
	# $limit is empty or "timeout 30": unquoted on purpose.
	$limit "$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
}

