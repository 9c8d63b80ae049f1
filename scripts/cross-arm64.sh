#!/bin/bash
# Cross-builds shouwangd and shouwangctl for the gateway (Raspberry Pi OS /
# Debian 12 arm64) on a Debian 12 amd64 machine, as root:
#
#   scripts/cross-arm64.sh            # -> build/arm64/shouwangd, build/arm64/shouwangctl
#
# It adds the arm64 architecture to dpkg, installs the cross compiler and the
# :arm64 development packages the build links (the same list as
# scripts/deps.sh, only what is missing), builds the two binaries with the
# project's Makefile into their own build directory, and checks with `file`
# that both are 64-bit ARM (aarch64) executables. When qemu-user-static is
# installed (QEMU=1 installs it), `shouwangctl --help` is run under
# qemu-aarch64-static as a smoke test; no kernel binfmt support is needed.
#
# Safe to run again: nothing is installed twice, `make` rebuilds only what
# changed. Settings (environment):
#   BUILD=build/arm64   the build directory (under build/: ignored by git, removed by make clean)
#   QEMU=auto|1|0       auto: smoke test if qemu-aarch64-static is there;
#                       1: install qemu-user-static if missing and run it;
#                       0: no smoke test
#
# Multiarch: every :arm64 -dev package the build needs (and everything they
# pull in) is "Multi-Arch: same" in bookworm, so it installs next to its amd64
# twin -- but a pair must have exactly the same version. On a machine whose
# amd64 packages are older than the archive's, apt upgrades the amd64 twins in
# the same run (on the first machine this ran on: 34 packages, libgnutls30,
# libkrb5-3, liblzma5, linux-libc-dev...); the script names the installed -dev
# twins on the command line so that this is explicit. The one case apt cannot
# solve is an amd64 package NEWER than the arm64 one (from backports, a local
# build, or a binNMU not yet built for arm64): "libfoo:arm64 ... but X is to
# be installed". Then install the archive's version of the amd64 one first
# (apt-get install libfoo:amd64=VERSION, see apt-cache policy libfoo), or wait
# for the arm64 build.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build/arm64}
QEMU=${QEMU:-auto}
TRIPLET=aarch64-linux-gnu
start=$(date +%s)

say() { printf 'cross-arm64: %s\n' "$*"; }
die() { printf 'cross-arm64: error: %s\n' "$*" >&2; exit 1; }

# The libraries shouwang links (scripts/deps.sh without the runtime tools and
# cmocka, which only the tests need). libc6-dev:arm64 comes with them.
ARM64_DEV="libsystemd-dev libsqlite3-dev libcjson-dev libcurl4-openssl-dev libmicrohttpd-dev
libinih-dev libgpiod-dev libpaho-mqtt-dev libssl-dev"
HOST_PKGS="make file pkg-config gcc-$TRIPLET"

installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

[ "$(dpkg --print-architecture)" = amd64 ] || die "this script is for a Debian amd64 build machine (this one is $(dpkg --print-architecture))"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || die "needs root (or sudo) to install packages"
	SUDO=sudo
fi

# --- packages ---------------------------------------------------------------------------------------------
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	say "adding the arm64 architecture to dpkg"
	$SUDO dpkg --add-architecture arm64
fi

missing=""
for p in $HOST_PKGS; do installed "$p" || missing="$missing $p"; done
for p in $ARM64_DEV; do installed "$p:arm64" || missing="$missing $p:arm64"; done
if [ "$QEMU" = 1 ] && ! command -v qemu-aarch64-static >/dev/null 2>&1; then
	missing="$missing qemu-user-static"
fi

if [ -n "$missing" ]; then
	# Multi-Arch: same pairs must have one version: upgrade the amd64 twins that are installed in the
	# same run (apt then picks matching versions for both, or says clearly why it cannot).
	twins=""
	for p in $ARM64_DEV; do
		if installed "$p:amd64"; then twins="$twins $p:amd64"; fi
	done
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	$SUDO apt-get install -y -q --no-install-recommends $missing $twins
else
	say "all packages are installed"
fi

# --- build ------------------------------------------------------------------------------------------------
# pkg-config reads only the arm64 .pc files (/usr/lib/aarch64-linux-gnu/pkgconfig); the cross gcc searches
# /usr/include/aarch64-linux-gnu and /usr/lib/aarch64-linux-gnu by itself (Debian's multiarch layout).
export PKG_CONFIG_LIBDIR=/usr/lib/$TRIPLET/pkgconfig:/usr/share/pkgconfig
export PKG_CONFIG_PATH=
for pc in libsystemd sqlite3 libcjson libcurl libmicrohttpd inih libgpiod libcrypto; do
	pkg-config --exists "$pc" || die "pkg-config cannot find $pc for arm64 (PKG_CONFIG_LIBDIR=$PKG_CONFIG_LIBDIR)"
done
[ -e /usr/lib/$TRIPLET/libpaho-mqtt3cs.so ] || die "/usr/lib/$TRIPLET/libpaho-mqtt3cs.so is missing (libpaho-mqtt-dev:arm64)"

# The Makefile archives with a plain `ar` (not $(AR)): the host's GNU ar indexes aarch64 objects too (its
# generic elf64-little target), so the cross ar is not needed.
say "building $BUILD/shouwangd and $BUILD/shouwangctl"
make -j"$(nproc)" BUILD="$BUILD" CC="$TRIPLET-gcc" PKG_CONFIG=pkg-config \
	"$BUILD/shouwangd" "$BUILD/shouwangctl"

# --- checks -----------------------------------------------------------------------------------------------
for b in shouwangd shouwangctl; do
	what=$(file -b "$BUILD/$b")
	case "$what" in
	"ELF 64-bit LSB "*", ARM aarch64,"*) say "$BUILD/$b: $what" ;;
	*) die "$BUILD/$b is not an arm64 executable: $what" ;;
	esac
done

if [ "$QEMU" != 0 ] && command -v qemu-aarch64-static >/dev/null 2>&1; then
	# The arm64 libraries are in /usr/lib/aarch64-linux-gnu and the loader in /lib (libc6:arm64): no -L.
	if out=$(qemu-aarch64-static "$BUILD/shouwangctl" --help 2>&1) && grep -q '^Usage: shouwangctl' <<<"$out"; then
		say "qemu-aarch64-static $BUILD/shouwangctl --help: ok"
	else
		printf '%s\n' "$out" | head -n 20 >&2
		die "$BUILD/shouwangctl --help failed under qemu-aarch64-static"
	fi
	qemu-aarch64-static "$BUILD/shouwangd" --version >/dev/null 2>&1 ||
		die "$BUILD/shouwangd --version failed under qemu-aarch64-static"
	say "qemu-aarch64-static $BUILD/shouwangd --version: $(qemu-aarch64-static "$BUILD/shouwangd" --version 2>&1 | head -n1)"
elif [ "$QEMU" != 0 ]; then
	say "no qemu-aarch64-static: smoke test skipped (QEMU=1 installs qemu-user-static)"
fi

say "done in $(( $(date +%s) - start ))s"
