#!/bin/sh
# Builds hanzo-gateway in the source tree: ./configure once, then make.
# Extra arguments go to ./configure (e.g. --enable-asan).
set -eu
cd "$(dirname "$0")/.."
if [ ! -x configure ]; then
	./autogen.sh >/dev/null
fi
if [ ! -f Makefile ] || [ "$#" -gt 0 ]; then
	./configure --enable-werror "$@" >/dev/null
fi
make -j"$(nproc)" >/dev/null
