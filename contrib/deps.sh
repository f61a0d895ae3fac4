#!/bin/sh
# Install what building, running and testing hanzo-gateway needs on Debian 12.
# Usage: contrib/deps.sh [build|test|bench]   (each level includes the ones before)
# Installs only what is missing; needs root (or sudo) when something is.
set -eu
level=${1:-build}

build_pkgs="build-essential autoconf automake libtool pkg-config
 libnghttp2-dev libevent-dev libssl-dev libjansson-dev libsystemd-dev
 libhiredis-dev python3"
test_pkgs="libcmocka-dev curl nghttp2-client nghttp2-server python3-h2 openssl procps"
bench_pkgs="nghttp2-proxy nghttp2-server nginx-light wrk util-linux"

case "$level" in
build) pkgs=$build_pkgs ;;
test) pkgs="$build_pkgs $test_pkgs" ;;
bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
