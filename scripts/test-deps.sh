#!/usr/bin/env bash
# test-deps.sh — the set-up of `make test`: make sure the real servers and
# peers the tests run against are present, installing what is missing when it
# can. A no-op (well under a second, no apt-get update) when all is present.
#
#   Debian packages   mosquitto (MQTT broker), mbpoll (docs/simulator.md Modbus examples),
#                     etcd-server (hot standby), python3-pymodbus and
#                     python3-serial, python3-serial-asyncio (an independent
#                     Modbus peer: pymodbus's server imports serial_asyncio)
#   influxd 1.8.10    built once into $EMSD_CACHE/bin (default
#                     .cache/influxd/bin) by scripts/influxd.sh, unless
#                     $EMSD_INFLUXD names one
#
# Missing packages are installed with apt-get when running as root; otherwise
# the script prints the exact commands to run. Without CI it then carries on
# (the tests that need what is missing skip loudly); under CI=true it fails,
# as those tests would.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkgs=(mosquitto mbpoll etcd-server python3-pymodbus python3-serial python3-serial-asyncio)

ci=false
case "${CI:-}" in 1 | t | T | true | TRUE | True) ci=true ;; esac

# present PKG: whether a package is usable, as the tests look for it: its
# program on PATH (or in sbin) or its Python module, or else dpkg has it
# installed (Debian's python3 modules are invisible to a pyenv python3).
present() {
	case "$1" in
	mosquitto) command -v mosquitto >/dev/null || [[ -x /usr/sbin/mosquitto || -x /usr/local/sbin/mosquitto ]] && return 0 ;;
	mbpoll) command -v mbpoll >/dev/null && return 0 ;;
	etcd-server) command -v etcd >/dev/null && return 0 ;;
	esac
	[[ -n "${dpkg_ok[$1]:-}" ]] && return 0
	case "$1" in
	python3-pymodbus) python3 -c 'import pymodbus' 2>/dev/null ;;
	python3-serial) python3 -c 'import serial' 2>/dev/null ;;
	python3-serial-asyncio) python3 -c 'import serial_asyncio' 2>/dev/null ;;
	*) return 1 ;;
	esac
}

declare -A dpkg_ok=()
if command -v dpkg-query >/dev/null; then
	while read -r name status; do
		[[ "$status" == ii* ]] && dpkg_ok[$name]=1
	done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null || true)
fi

missing=()
for p in "${pkgs[@]}"; do
	present "$p" || missing+=("$p")
done

failed=false
if [[ ${#missing[@]} -gt 0 ]]; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		echo "test-deps: installing ${missing[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
			echo "test-deps: apt-get could not install ${missing[*]}" >&2
			failed=true
		fi
	else
		echo "test-deps: missing ${missing[*]}; the tests that need them skip (and fail under CI=true). Install them with:" >&2
		if command -v apt-get >/dev/null; then
			echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
		else
			echo "    (no apt-get here) install the equivalents of the Debian packages: ${missing[*]}" >&2
		fi
		failed=true
	fi
fi

if [[ -n "${EMSD_INFLUXD:-}" ]]; then
	if [[ ! -x "$EMSD_INFLUXD" ]]; then
		echo "test-deps: EMSD_INFLUXD=$EMSD_INFLUXD is not an executable" >&2
		failed=true
	fi
elif ! "$repo/scripts/influxd.sh" >/dev/null; then
	echo "test-deps: building influxd failed; the real-InfluxDB tests skip (and fail under CI=true). Retry with:" >&2
	echo "    $repo/scripts/influxd.sh" >&2
	failed=true
fi

if $failed && $ci; then
	echo "test-deps: CI=true: the suite cannot run whole" >&2
	exit 1
fi
