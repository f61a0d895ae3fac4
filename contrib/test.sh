#!/bin/sh
# Installs what is missing (build and test tools), builds with warnings
# as errors, and runs the whole test suite (unit, fuzz replay,
# integration).  Exit status: 0 when every test passed.
set -eu
cd "$(dirname "$0")/.."
contrib/deps.sh test
contrib/build.sh
if ! make -j"$(nproc)" check; then
	# Show the failing tests' logs: CI keeps only this output.
	for f in $(find tests -name '*.log' ! -name 'test-suite.log'); do
		if grep -q '^:test-result: FAIL\|^:test-result: ERROR' \
		    "${f%.log}.trs" 2>/dev/null; then
			echo "===== $f"
			tail -n 80 "$f"
		fi
	done
	exit 1
fi
