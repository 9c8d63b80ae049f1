#!/bin/sh
# Installs the Debian 12 (bookworm) packages shouwang needs to build, test and
# run its demo — only those that are missing. Safe to run again.
# chromium, a Chinese font and node are for the test that opens the "I'm going"
# page in a real browser (tests/browser/cdp.js needs no npm package).
set -eu

PACKAGES="
gcc make pkg-config
libsystemd-dev libsqlite3-dev libcjson-dev libcurl4-openssl-dev libmicrohttpd-dev
libinih-dev libgpiod-dev libpaho-mqtt-dev libcmocka-dev libssl-dev
gpiod mosquitto mosquitto-clients openssl sqlite3 ca-certificates procps
scdoc man-db groff-base
chromium fonts-wqy-microhei nodejs
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "deps: all $(echo $PACKAGES | wc -w) Debian packages shouwang needs are installed."
	exit 0
fi

echo "deps: installing missing Debian packages:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "deps: need root to install packages; run as root or install sudo." >&2
		exit 1
	fi
fi
# The tests and the demo start their own private brokers on free ports, so a
# system-wide Mosquitto (on a gateway, the real one) is left as it is.
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
echo "deps: done."
