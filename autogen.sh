#!/bin/sh
# Generates ./configure from configure.ac (needs autoconf, automake).
set -e
cd "$(dirname "$0")"
autoreconf --install --force --warnings=all
