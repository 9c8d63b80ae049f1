#!/bin/bash
# Builds the Debian package from a copy of this tree, checks it with lintian,
# installs it, checks what the install made, removes it, purges it, and checks
# that nothing is left behind. Fails loudly at the first problem.
#
#   scripts/check-deb.sh                    build (without the test suite), lintian, install, purge
#   CHECK_DEB_TESTS=1 scripts/check-deb.sh  the same, with "make check" inside the package build
#   KEEP=1 scripts/check-deb.sh             keep the work directory (build log, .deb)
#
# The test suite: debian/rules runs it in every package build (dh_auto_test),
# as anyone's dpkg-buildpackage does. Here it is off by default: CI runs the
# same "make check" on the same commit (.ci/run, twice), and a third
# run (about 2 minutes) would push this check past its 5 minute budget.
# CHECK_DEB_TESTS=1 turns it on, e.g. after changing debian/rules or the
# Build-Depends the tests need.
#
# For CI on a fresh Debian 12 machine, as root: it installs what it needs with
# apt-get (debhelper, lintian, the build dependencies). It refuses to run where
# shouwang is already installed or has data: a purge deletes the roster.
# Works with or without systemd as PID 1 (in a container the service is only
# enabled, and the daemon is started by hand as the service user instead).
set -Eeuo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)

say() { printf 'check-deb [%3ss]: %s\n' "$(($(date +%s) - start))" "$*"; }
fail() {
	printf '\ncheck-deb: FAIL: %s\n' "$*" >&2
	[ -n "${work:-}" ] && printf 'check-deb: the work directory is kept: %s\n' "$work" >&2
	KEEP=1
	exit 1
}
# A command that fails without a fail() of its own still says which and where.
trap 'printf "\ncheck-deb: FAIL: line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2
      [ -n "${work:-}" ] && printf "check-deb: the work directory is kept: %s\n" "$work" >&2; KEEP=1' ERR
trap 'if [ -n "${work:-}" ] && [ "${KEEP:-}" != 1 ]; then rm -rf "$work"; fi' EXIT

# "install ok installed", "deinstall ok config-files"…; empty when dpkg never heard of it.
pkg_status() { dpkg-query -W -f='${Status}' shouwang 2>/dev/null || true; }

[ "$(id -u)" -eq 0 ] || fail "run as root: it installs and purges the package"
# shellcheck source=/dev/null
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || say "warning: made for Debian 12 (bookworm), this is ${PRETTY_NAME:-unknown}"

# ---- never on a real gateway ----------------------------------------------------------------------------
case "$(pkg_status)" in
"" | *not-installed) ;;
*) fail "the shouwang package is on this machine ($(pkg_status)); this check would purge it and the roster. Run it on a throwaway machine." ;;
esac
for p in /var/lib/shouwang /etc/shouwang; do
	[ ! -e "$p" ] || fail "$p exists: this check would delete it on purge. Run it on a throwaway machine."
done

# ---- tools and build dependencies ----------------------------------------------------------------------
work=$(mktemp -d /tmp/shouwang-deb.XXXXXX)
src="$work/shouwang"
mkdir -p "$src"
say "copying the tree to $src (without build/ and .git)"
tar -C "$top" --exclude=./build --exclude='./build-*' --exclude=./.git --exclude=./bench/node_modules \
	--exclude='./debian/shouwang' --exclude='./debian/.debhelper' --exclude='./debian/tmp' -cf - . |
	tar -C "$src" -xf -

export DEBIAN_FRONTEND=noninteractive
say "installing the tools and the build dependencies (apt-get)"
apt-get update -q >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log"; fail "apt-get update"; }
apt-get install -y -q --no-install-recommends dpkg-dev debhelper lintian fakeroot >>"$work/apt.log" 2>&1 ||
	{ tail -n 20 "$work/apt.log"; fail "apt-get install dpkg-dev debhelper lintian fakeroot"; }
apt-get build-dep -y -q --no-install-recommends "$src" >>"$work/apt.log" 2>&1 ||
	{ tail -n 20 "$work/apt.log"; fail "apt-get build-dep (debian/control's Build-Depends)"; }

# ---- the package's version is the program's -----------------------------------------------------------
mk_version=$(sed -n 's/^VERSION *:= *//p' "$src/Makefile")
deb_version=$(cd "$src" && dpkg-parsechangelog -S Version)
[ "$mk_version" = "$deb_version" ] ||
	fail "debian/changelog says $deb_version, the Makefile's VERSION is $mk_version: add a changelog entry"

# ---- every lintian override says why ---------------------------------------------------------------------
for f in "$src"/debian/*lintian-overrides; do
	[ -e "$f" ] || continue
	awk -v f="${f#"$src"/}" '
		/^[ \t]*$/ { commented = 0; next }
		/^#/       { commented = 1; next }
		!commented { printf "%s:%d: an override without a comment above it: %s\n", f, NR, $0; bad = 1 }
		END        { exit bad }' "$f" || fail "lintian overrides need a comment saying why"
done

# ---- build ------------------------------------------------------------------------------------------------
if [ "${CHECK_DEB_TESTS:-0}" != 1 ]; then
	export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck"
fi
say "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-}; log: $work/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -n 60 "$work/build.log"
	fail "dpkg-buildpackage failed (whole log: $work/build.log)"
fi
grep -E '^(test cases:|[0-9]+ passed|  PASS  man pages)' "$work/build.log" | sed 's/^/check-deb:   /' || true
deb=$(ls "$work"/shouwang_"$deb_version"_*.deb)
changes=$(ls "$work"/shouwang_"$deb_version"_*.changes)

# ---- what the .deb holds ----------------------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$work/contents"
for f in /usr/sbin/shouwangd /usr/bin/shouwangctl /lib/systemd/system/shouwang.service \
	/usr/lib/sysusers.d/shouwang.conf /usr/lib/tmpfiles.d/shouwang.conf /etc/shouwang/shouwang.conf \
	/usr/share/man/man8/shouwangd.8.gz /usr/share/man/man8/shouwangctl.8.gz \
	/usr/share/man/man5/shouwang.conf.5.gz /usr/share/shouwang/templates/zh_CN/message/alert.txt \
	/usr/share/shouwang/templates/en/message/alert.txt /usr/share/shouwang/examples/shouwang.conf \
	/usr/share/doc/shouwang/copyright /usr/share/doc/shouwang/install.md.gz; do
	grep -qxF "$f" "$work/contents" || fail "the package lacks $f"
done
! grep -E '^/(var/lib|run)/shouwang' "$work/contents" ||
	fail "the package ships files in /var/lib/shouwang or /run/shouwang (systemd-tmpfiles and the unit make them)"
dpkg-deb -f "$deb" Depends | grep -q 'systemd-sysusers' || fail "Depends lacks a systemd-sysusers provider"
dpkg-deb -f "$deb" Recommends | grep -qw mosquitto || fail "Recommends lacks mosquitto"

# ---- lintian ------------------------------------------------------------------------------------------------
# Errors and warnings fail (overridden ones do not: each override says why in
# debian/shouwang.lintian-overrides); info tags are shown.
say "lintian $(basename "$changes")"
rc=0
lintian --fail-on error,warning --display-info "$changes" >"$work/lintian.log" 2>&1 || rc=$?
grep -v '^running with root privileges' "$work/lintian.log" | sed 's/^/check-deb:   /' || true
[ $rc -eq 0 ] || fail "lintian found errors or warnings (above; exit $rc)"

# ---- install --------------------------------------------------------------------------------------------------
# What is on the machine with "shouwang" in its name, before and after: after the purge it must be the same.
# Temporary directories are not the package's business (and other work may use them meanwhile).
leftovers() {
	{ find -H /etc /usr /lib /var /run /opt /srv -xdev \
		\( -path "$work" -o -path "$top" -o -path /var/tmp -o -path /run/systemd/nspawn \) -prune -o \
		-iname '*shouwang*' -print 2>/dev/null || true; } | sort
}
leftovers >"$work/before"

systemd_running=no
[ -d /run/systemd/system ] && systemd_running=yes
say "apt-get install $(basename "$deb") (systemd running as PID 1: $systemd_running)"
apt-get install -y -q --no-install-recommends "$deb" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; fail "apt-get install of the package failed"; }
grep -iE 'warning|error' "$work/install.log" | grep -v '^W: Download is performed unsandboxed' &&
	fail "the installation printed warnings or errors (above)"
dpkg -L shouwang >"$work/installed"

# The user and the group.
pw=$(getent passwd shouwang) || fail "no user shouwang after the install"
IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
[ "$uid" -lt 1000 ] || fail "shouwang is not a system user (uid $uid)"
[ "$home" = /var/lib/shouwang ] || fail "shouwang's home is $home, not /var/lib/shouwang"
case "$shell" in */nologin | */false) ;; *) fail "shouwang can log in (shell $shell)" ;; esac
id -nG shouwang | grep -qw gpio || fail "shouwang is not in the group gpio"

# Directories and files, with the owners and modes the service needs.
mode_of() { stat -c '%a %U:%G' "$1"; }
[ "$(mode_of /var/lib/shouwang)" = "700 shouwang:shouwang" ] ||
	fail "/var/lib/shouwang is $(mode_of /var/lib/shouwang), want 700 shouwang:shouwang"
[ "$(mode_of /etc/shouwang)" = "750 root:shouwang" ] ||
	fail "/etc/shouwang is $(mode_of /etc/shouwang), want 750 root:shouwang"
dpkg-query -W -f='${Conffiles}\n' shouwang | grep -q '/etc/shouwang/shouwang.conf' ||
	fail "/etc/shouwang/shouwang.conf is not a conffile"
[ -L /etc/systemd/system/multi-user.target.wants/shouwang.service ] ||
	fail "shouwang.service is not enabled"

# The programs.
[ "$(shouwangd --version)" = "shouwangd $deb_version" ] || fail "shouwangd --version: $(shouwangd --version)"
shouwangctl --help >/dev/null || fail "shouwangctl --help failed"
shouwangctl --help | grep -q 'import KIND FILE' || fail "shouwangctl --help does not list the commands"
for m in shouwangd.8 shouwangctl.8 shouwang.conf.5; do
	f=/usr/share/man/man${m##*.}/$m.gz
	if [ -e "$f" ]; then # a container's dpkg may exclude /usr/share/man; the .deb was checked above
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>&1 >/dev/null) ||
			fail "man $f failed: $out"
		[ -z "$out" ] || fail "man $f: $out"
	fi
done
cd /
runuser -u shouwang -- shouwangd --check-config >"$work/check-config.log" 2>&1 ||
	{ cat "$work/check-config.log"; fail "shouwangd --check-config as the service user failed on the packaged config"; }

# The daemon starts cleanly with an empty roster.
if [ "$systemd_running" = yes ]; then
	sleep 2
	systemctl is-active --quiet shouwang || { systemctl status shouwang --no-pager || true; fail "shouwang.service is not running after the install"; }
else
	# No systemd: run it as the unit would (user, config), for 3 seconds.
	rc=0
	runuser -u shouwang -- timeout -s TERM 3 shouwangd -c /etc/shouwang/shouwang.conf >"$work/daemon.log" 2>&1 || rc=$?
	[ $rc -eq 124 ] || { cat "$work/daemon.log"; fail "shouwangd did not keep running with an empty roster (exit $rc)"; }
	grep -q 'Watching 0 residents' "$work/daemon.log" || { cat "$work/daemon.log"; fail "shouwangd did not say it watches 0 residents"; }
fi
[ -s /var/lib/shouwang/shouwang.db ] || fail "no database in /var/lib/shouwang after the first start"

# A roster, and an edited config: both must survive an upgrade and a remove, and go on purge.
runuser -u shouwang -- shouwangctl import residents - </usr/share/shouwang/examples/residents.csv >/dev/null ||
	fail "shouwangctl import residents failed as the service user"
n_res=$(runuser -u shouwang -- shouwangctl --json residents list | grep -o '"id"' | wc -l)
[ "$n_res" -gt 0 ] || fail "no residents after the import"
echo '# edited by check-deb' >>/etc/shouwang/shouwang.conf

say "reinstalling (the upgrade path: the roster and the edited config stay)"
apt-get install -y -q --no-install-recommends --reinstall "$deb" >"$work/reinstall.log" 2>&1 ||
	{ cat "$work/reinstall.log"; fail "reinstalling the package failed"; }
grep -q '^# edited by check-deb' /etc/shouwang/shouwang.conf || fail "the reinstall replaced the edited config"
[ "$(runuser -u shouwang -- shouwangctl --json residents list | grep -o '"id"' | wc -l)" -eq "$n_res" ] ||
	fail "the reinstall lost residents"
[ "$(mode_of /etc/shouwang)" = "750 root:shouwang" ] ||
	fail "after the reinstall /etc/shouwang is $(mode_of /etc/shouwang), want 750 root:shouwang"

say "apt-get remove (keeps the roster and the config)"
apt-get remove -y -q shouwang >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "apt-get remove failed"; }
[ -s /var/lib/shouwang/shouwang.db ] || fail "apt-get remove deleted the database"
[ -e /etc/shouwang/shouwang.conf ] || fail "apt-get remove deleted the config"
[ ! -e /usr/sbin/shouwangd ] || fail "apt-get remove left /usr/sbin/shouwangd"

say "apt-get purge (deletes the roster, the config and the service's state)"
apt-get purge -y -q shouwang >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "apt-get purge failed"; }
case "$(pkg_status)" in
"" | *not-installed) ;;
*) fail "after the purge dpkg says shouwang is: $(pkg_status)" ;;
esac
left=""
while read -r f; do
	[ -d "$f" ] && continue # shared directories (/usr/share/man/man8, …) stay
	[ -e "$f" ] && left="$left $f"
done <"$work/installed"
[ -z "$left" ] || fail "the purge left files the package had installed:$left"
leftovers >"$work/after"
diff -u "$work/before" "$work/after" >"$work/leftovers.diff" ||
	{ cat "$work/leftovers.diff"; fail "the purge left things behind (+ lines above)"; }
for p in /var/lib/shouwang /etc/shouwang; do
	[ ! -e "$p" ] || fail "$p is still there after the purge"
done
# As Debian does for system users, the purge keeps the user (files it owns may remain elsewhere).
getent passwd shouwang >/dev/null && say "the system user shouwang stays after the purge (Debian practice; docs/install.md)"

say "OK: built, lintian clean, installed, upgraded, removed, purged — in $(($(date +%s) - start)) s"
