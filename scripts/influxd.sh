#!/usr/bin/env bash
# influxd.sh — build (once) a real InfluxDB 1.8.10 server for the telemetry tests
# and print the path of the influxd binary on stdout.
#
# The binary is cached in $EMSD_CACHE/bin (default: <repo>/.cache/influxd/bin).
# Build output goes to stderr so that `INFLUXD=$(scripts/influxd.sh)` works.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${EMSD_CACHE:-$repo/.cache/influxd}"
bin="$cache/bin/influxd"
version="v1.8.10"

# `influxd version` prints "vunknown" for a go-install build, so the module
# version recorded in the binary is checked instead.
if [[ -x "$bin" ]] && go version -m "$bin" 2>/dev/null |
	grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/influxdata/influxdb[[:space:]]+$version([[:space:]]|$)"; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache/bin"
echo "influxd.sh: building influxd $version into $cache/bin (about a minute)..." >&2
start=$(date +%s)
# influxd 1.8.10 is built outside this module (go install pkg@version), so this
# repo's go.mod is untouched. GOFLAGS is cleared so a -mod=... setting from the
# environment cannot break the out-of-module build.
(
	cd "$cache"
	GOFLAGS= GOBIN="$cache/bin" go install "github.com/influxdata/influxdb/cmd/influxd@$version"
) >&2
echo "influxd.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
