#!/bin/bash
# shouwangd under its real systemd unit, sandbox and all, with a real systemd
# (issue 7: "the exec channel must still work under the hardening: test it").
#
#   scripts/check-unit-hardening.sh         # as root: ~10 s (4 s once build/unit is built)
#
# What it does:
#   1. builds shouwang for the Debian layout (PREFIX=/usr, in build/unit) and
#      runs `make install` into a staging tree: the unit, sysusers.d,
#      tmpfiles.d, binaries, templates, exactly as a package installs them;
#   2. boots a throw-away systemd-nspawn container from this machine's own /usr
#      (--volatile=yes: an empty tmpfs root; /usr read-only, with the staged
#      files laid over it; /etc an overlay of this machine's /etc, thrown away
#      afterwards; only a loopback network). Nothing on this machine changes.
#   3. Inside, systemd creates the user (sysusers), the directories
#      (tmpfiles), and a check service (running as root, outside the sandbox):
#        - `systemd-analyze verify` on the unit as installed (ExecStart= and
#          the man pages exist there) must say nothing;
#        - starts shouwang.service (Type=notify: returns once READY=1 came),
#          checks the watchdog pings arrive, reloads it (SIGHUP), kills it and
#          sees Restart=always bring it back;
#        - imports a one-resident roster as the shouwang user and sends
#          `shouwangctl test-alert R1`;
#        - the resident's tier 1 has two exec channels: a script in
#          /etc/shouwang/ that records what the sandbox lets it do, and
#          examples/exec/sms-gammu.sh installed in /usr/local/lib/shouwang/ as
#          docs/channels.md says, with a stand-in gammu-smsd-inject writing
#          into /var/spool/gammu/outbox through the documented drop-in
#          (ReadWritePaths=/var/spool/gammu, SupplementaryGroups=gammu) —
#          but with PrivateUsers=yes left on;
#        - checks both ran as shouwang, in the sandbox (no_new_privs, seccomp,
#          no capabilities, /etc and /usr read-only, a private user
#          namespace), that a file readable only by the group gpio was
#          readable (SupplementaryGroups=gpio works under PrivateUsers=yes),
#          that both deliveries are recorded as sent, and that systemd logged
#          no warning about the unit;
#        - opens the "I'm going" link the message carried (bash's /dev/tcp)
#          and taps it: the page is served from inside the sandbox and the
#          alert is acknowledged.
#
# Not covered: a real /dev/gpiochip* (this check uses a root:gpio 0640 file:
# the kernel checks the group the same way, but DeviceAllow=char-gpiochip is
# only exercised on a machine with a GPIO chip), arm64 (the container runs
# this machine's binaries), MQTT and webhooks (no broker, loopback only), and
# a watchdog timeout (a hung loop being killed after WatchdogSec=).
#
# Needs root, systemd-nspawn (systemd-container: installed if missing) and
# what `make install` needs (scripts/deps.sh). Works whether PID 1 is systemd
# or not (CI sandboxes): the container runs its own systemd.
# Exit status 0: passed; 1: failed (the container's journal is printed);
# 77: cannot run here (not root, or systemd-nspawn cannot start a container).
# KEEP=1 keeps the work directory (journal, status, what the scripts saw).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_UNIT=${BUILD_UNIT:-build/unit}
start=$(date +%s)

say() { printf 'check-unit-hardening: %s\n' "$*"; }
skip() { say "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (systemd-nspawn)"

if ! command -v systemd-nspawn >/dev/null 2>&1; then
	say "installing systemd-container (systemd-nspawn)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd-container >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd-container >/dev/null; }
fi

mkdir -p /var/tmp # nspawn keeps its temporary overlay layers there too
work=$(mktemp -d /var/tmp/shouwang-unit-XXXXXX)
machine="shouwang-check-$$"
cleanup() {
	# nspawn leaves its propagation directory when /run is not a tmpfs (it refuses to rm -rf there).
	rm -rf "/run/systemd/nspawn/propagate/$machine" 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# --- 1. the package layout ---------------------------------------------------------------------------------
say "building ($BUILD_UNIT, PREFIX=/usr) and installing into a staging tree"
make -s -j"$(nproc)" BUILD="$BUILD_UNIT" PREFIX=/usr >/dev/null
make -s BUILD="$BUILD_UNIT" PREFIX=/usr DESTDIR="$work/stage" install >/dev/null

# --- 2. the test's own files, laid over the staged ones --------------------------------------------------------
t=$work/test
mkdir -p "$t/etc/shouwang" "$t/etc/shouwang-check" "$t/etc/systemd/system/shouwang.service.d" \
	"$t/etc/sysusers.d" "$t/etc/tmpfiles.d" "$t/usr/local/lib/shouwang" "$t/usr/local/bin" "$work/out"
chmod 0777 "$work/out"

cat >"$t/etc/shouwang/shouwang.conf" <<'EOF'
# check-unit-hardening.sh: no broker, two exec channels.
[general]
gateway = unitcheck
[mqtt]
enabled = no
[http]
listen = 127.0.0.1:8080
[exec:mark]
command = /etc/shouwang/mark.sh {contact_id}
timeout = 20s
[exec:sms]
command = /usr/local/lib/shouwang/sms-gammu.sh
timeout = 20s
EOF

# An exec program kept in /etc/shouwang/: records what the sandbox lets it do, in /run/shouwang
# (RuntimeDirectory=, writable by the service), then says "sent".
cat >"$t/etc/shouwang/mark.sh" <<'EOF'
#!/bin/sh
out=/run/shouwang/mark-$1
{
	echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"
	echo "user=$(id -un)"
	grep -E '^(NoNewPrivs|Seccomp|CapEff|CapBnd):' /proc/self/status | tr -s '\t ' ' '
	echo "uid_map=$(tr -s ' ' <"/proc/self/uid_map" | tr '\n' ';')"
	if cat /etc/shouwang/gpio-only >/dev/null 2>&1; then echo "gpio_group_file=readable"; else echo "gpio_group_file=denied"; fi
	if cat /etc/shouwang/other-only >/dev/null 2>&1; then echo "other_group_file=readable"; else echo "other_group_file=denied"; fi
	if touch /etc/shouwang/write-test 2>/dev/null; then echo "etc=writable"; else echo "etc=read-only"; fi
	if touch /usr/local/lib/shouwang/write-test 2>/dev/null; then echo "usr=writable"; else echo "usr=read-only"; fi
	if touch /var/lib/shouwang/write-test 2>/dev/null; then echo "state=writable"; rm -f /var/lib/shouwang/write-test; else echo "state=read-only"; fi
	echo "alert=$SHOUWANG_ALERT_ID contact=$SHOUWANG_CONTACT_ID purpose=$SHOUWANG_PURPOSE lang=${LANG:-}"
	echo "ack_url=${SHOUWANG_ACK_URL:-}"
} >"$out.tmp" 2>&1
mv "$out.tmp" "$out"
echo "marked $1"
EOF
chmod 0755 "$t/etc/shouwang/mark.sh"

# docs/channels.md, "SMS through a GSM modem with gammu": step 3, the wrapper; step 2, the drop-in (without
# "PrivateUsers=no": the group works with private users, see shouwang.service).
install -m 0755 examples/exec/sms-gammu.sh "$t/usr/local/lib/shouwang/sms-gammu.sh"
cat >"$t/etc/systemd/system/shouwang.service.d/gammu.conf" <<'EOF'
[Service]
ReadWritePaths=/var/spool/gammu
SupplementaryGroups=gammu
EOF
cat >"$t/etc/sysusers.d/gammu.conf" <<'EOF'
g gammu -
EOF
# A group shouwang is not in: the control for the gpio check.
cat >"$t/etc/sysusers.d/shouwang-check.conf" <<'EOF'
g swcheck -
EOF
cat >"$t/etc/tmpfiles.d/gammu.conf" <<'EOF'
d /var/spool/gammu 0755 root gammu -
d /var/spool/gammu/outbox 0775 root gammu -
EOF
# A stand-in for gammu-smsd-inject (files backend): one file per message in the outbox.
cat >"$t/usr/local/bin/gammu-smsd-inject" <<'EOF'
#!/bin/sh
# gammu-smsd-inject -c CONFIG TEXT PHONE -unicode -len N -text TEXT
phone=$4
f=/var/spool/gammu/outbox/OUTC$(date +%Y%m%d_%H%M%S)_00_${phone}_sms0.smsbackup
printf '%s\n' "$@" >"$f" || exit 1
echo "Written message with ID $f"
EOF
chmod 0755 "$t/usr/local/bin/gammu-smsd-inject"

cp systemd/shouwang.service "$t/etc/shouwang-check/shouwang.service.expected"
cat >"$t/etc/shouwang-check/residents.csv" <<'EOF'
id,name,building,flat,lives_alone,phone,notes
R1,沈国强,B17,201,1,13800000201,
EOF
cat >"$t/etc/shouwang-check/contacts.csv" <<'EOF'
id,name,phone,role,notify
C1,李梅,13900000101,neighbour,exec:mark
C2,周建国,13900000102,neighbour,exec:sms
EOF
cat >"$t/etc/shouwang-check/links.csv" <<'EOF'
resident_id,contact_id,tier
R1,C1,1
R1,C2,1
EOF

# The check, as root in the container (outside shouwang's sandbox). Results in /out.
cat >"$t/etc/shouwang-check/check.sh" <<'EOF'
#!/bin/bash
set -u
exec > >(tee -a /out/check.log) 2>&1
failed=0
ok() { echo "  ok    $*"; }
bad() { echo "  FAIL  $*"; failed=1; }
finish() {
	journalctl -b --no-pager -o short-monotonic >/out/journal.txt 2>&1
	systemctl status shouwang.service --no-pager >/out/status.txt 2>&1
	if [ $failed -eq 0 ]; then echo PASS >/out/result; exit 0; fi
	echo FAIL >/out/result; exit 1
}
trap finish EXIT
ctl() { setpriv --reuid=shouwang --regid=shouwang --clear-groups -- shouwangctl "$@"; }
prop() { systemctl show -P "$1" shouwang.service; }
http() { # METHOD PATH [FORM]: one request to the "I'm going" page on 127.0.0.1:8080, the answer on stdout
	local form=${3:-}
	exec 3<>/dev/tcp/127.0.0.1/8080 || return 1
	printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %s\r\n\r\n%s' \
		"$1" "$2" "${#form}" "$form" >&3
	cat <&3
	exec 3<&-
}
wait_for() { # SECONDS 'SHELL CONDITION' (evaluated again every 0.1 s)
	local n=$(($1 * 10))
	while ! eval "$2" >/dev/null 2>&1; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1; done
}

# A file only the group gpio may read: stands in for /dev/gpiochip* (crw-rw---- root:gpio), which this
# machine may not have; the kernel checks the group the same way for both.
echo gpio >/etc/shouwang/gpio-only
chown root:gpio /etc/shouwang/gpio-only
chmod 0640 /etc/shouwang/gpio-only
# The control: the same for a group shouwang is not in.
echo other >/etc/shouwang/other-only
chown root:swcheck /etc/shouwang/other-only
chmod 0640 /etc/shouwang/other-only

echo "shouwang.service:"
# The unit under test is the one make install put in /usr/lib, not one this machine has elsewhere
# (/etc/systemd/system, /usr/local/lib/systemd/system from a make install with the default PREFIX).
if [ "$(prop FragmentPath)" -ef /usr/lib/systemd/system/shouwang.service ] &&
	cmp -s /usr/lib/systemd/system/shouwang.service /etc/shouwang-check/shouwang.service.expected &&
	[ "$(prop DropInPaths)" = /etc/systemd/system/shouwang.service.d/gammu.conf ]; then
	ok "the unit is systemd/shouwang.service, installed in /usr/lib/systemd/system, with the gammu drop-in"
else
	bad "systemd loads $(prop FragmentPath) with drop-ins '$(prop DropInPaths)': another shouwang.service on this machine shadows the one under test"
	exit
fi
# verify on the unit as installed: here ExecStart=/usr/sbin/shouwangd and the man pages exist.
v=$(systemd-analyze verify /usr/lib/systemd/system/shouwang.service 2>&1)
if [ -z "$v" ]; then ok "systemd-analyze verify: nothing to say"; else bad "systemd-analyze verify:"; echo "$v"; fi
if systemctl start shouwang.service; then ok "started: READY=1 arrived (Type=notify)"; else bad "systemctl start shouwang.service"; exit; fi
[ "$(prop Type)/$(prop NotifyAccess)/$(prop Restart)" = notify/main/always ] && ok "Type=notify NotifyAccess=main Restart=always" || bad "properties: $(prop Type)/$(prop NotifyAccess)/$(prop Restart)"
[ "$(prop User)" = shouwang ] && ok "User=shouwang" || bad "User=$(prop User)"
pid=$(prop MainPID)
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$pid/status && ok "shouwangd: no_new_privs" || bad "shouwangd has no no_new_privs"
grep -q '^Seccomp:[[:space:]]*2' /proc/$pid/status && ok "shouwangd: seccomp filter" || bad "shouwangd has no seccomp filter"
! grep -q 4294967295 /proc/$pid/uid_map && ok "shouwangd: private user namespace ($(tr -s ' ' </proc/$pid/uid_map | tr '\n' ';'))" || bad "shouwangd: no private user namespace"
groups=$(for g in $(sed -n 's/^Groups:\s*//p' /proc/$pid/status); do getent group "$g" | cut -d: -f1; done | tr '\n' ' ')
grep -qw gpio <<<"$groups" && ok "shouwangd's groups, seen from outside its user namespace: $groups" || bad "shouwangd is not in the group gpio: $groups"
wait_for 10 '[ "$(prop WatchdogTimestampMonotonic)" -gt 0 ]' && ok "watchdog pings arrive (WatchdogSec=$(prop WatchdogUSec))" || bad "no watchdog ping from shouwangd"

ctl import residents - </etc/shouwang-check/residents.csv >/dev/null && ctl import contacts - </etc/shouwang-check/contacts.csv >/dev/null &&
	ctl import links - </etc/shouwang-check/links.csv >/dev/null && ok "roster imported as shouwang" || bad "roster import"

systemctl reload shouwang.service && ok "systemctl reload (ExecReload: SIGHUP)" || bad "systemctl reload"
[ "$(prop MainPID)" = "$pid" ] && [ "$(prop ActiveState)" = active ] && ok "still running after reload" || bad "not running after reload: $(prop ActiveState)"

echo "exec channel, after shouwangctl test-alert R1:"
ctl test-alert R1 || bad "shouwangctl test-alert R1"
if wait_for 20 '[ -s /run/shouwang/mark-C1 ]'; then
	ok "/etc/shouwang/mark.sh ran:"
	sed 's/^/          /' /run/shouwang/mark-C1
	m=$(cat /run/shouwang/mark-C1)
	grep -q '^user=shouwang$' <<<"$m" && ok "  as shouwang" || bad "  not as shouwang"
	grep -q '^NoNewPrivs: 1$' <<<"$m" && ok "  no_new_privs" || bad "  no no_new_privs"
	grep -q '^Seccomp: 2$' <<<"$m" && ok "  under seccomp (SystemCallFilter=)" || bad "  no seccomp"
	grep -q '^CapEff: 0000000000000000$' <<<"$m" && grep -q '^CapBnd: 0000000000000000$' <<<"$m" && ok "  no capabilities" || bad "  capabilities left"
	grep -q '^gpio_group_file=readable$' <<<"$m" && ok "  a root:gpio 0640 file is readable (SupplementaryGroups=gpio with PrivateUsers=yes)" || bad "  the gpio group does not work"
	grep -q '^other_group_file=denied$' <<<"$m" && ok "  a root:swcheck 0640 file is not (the control)" || bad "  a file of a group shouwang is not in is readable"
	grep -q '^etc=read-only$' <<<"$m" && grep -q '^usr=read-only$' <<<"$m" && ok "  /etc and /usr read-only (ProtectSystem=strict)" || bad "  /etc or /usr writable"
	grep -q '^state=writable$' <<<"$m" && ok "  /var/lib/shouwang writable (StateDirectory=)" || bad "  /var/lib/shouwang not writable"
	grep -q ' lang=C.UTF-8$' <<<"$m" && ok "  LANG=C.UTF-8" || bad "  LANG not set"
else
	bad "/etc/shouwang/mark.sh did not run"
fi
echo "the \"I'm going\" page, served from inside the sandbox:"
url=$(sed -n 's/^ack_url=//p' /run/shouwang/mark-C1 2>/dev/null)
case "$url" in
http://127.0.0.1:8080/a/1\?c=C1\&t=*) ok "the message carries the link, derived from [http] listen: $url" ;;
*) bad "no link in the message: '$url'" ;;
esac
page=$(http GET "${url#http://127.0.0.1:8080}" | tr -d '\r')
if grep -q '^HTTP/1.1 200 OK' <<<"$page" && grep -q '我去看看' <<<"$page"; then ok "it opens (200, with the button)"; else bad "the page: $(head -n 1 <<<"$page")"; fi
tap=$(http POST /a/1 "c=C1&t=${url##*t=}&action=ack" | head -n 1 | tr -d '\r')
if [ "$tap" = "HTTP/1.1 303 See Other" ]; then ok "tapping \"I'm going\": $tap"; else bad "tapping: '$tap'"; fi
if wait_for 10 'ctl alerts show 1 --json | grep -q "\"acked_by\":\"C1\""'; then ok "the alert is acknowledged by C1"; else bad "not acknowledged"; fi
echo "exec channel, the SMS wrapper:"
if wait_for 20 "compgen -G '/var/spool/gammu/outbox/OUT*_13900000102_*'"; then
	ok "/usr/local/lib/shouwang/sms-gammu.sh queued the SMS in /var/spool/gammu/outbox (group gammu, PrivateUsers=yes)"
else
	bad "nothing in /var/spool/gammu/outbox"
fi
if wait_for 10 '[ "$(ctl alerts show 1 --json | grep -o "\"sent_at\":\"[^\"]" | wc -l)" -ge 2 ]'; then
	ok "both deliveries recorded as sent"
else
	bad "deliveries not recorded as sent:"
	ctl alerts show 1
fi

echo "systemd about the unit:"
# From PID 1 (the unit file) and from the service's processes before they exec (sandbox set-up, e.g.
# "ConfigurationDirectory 'shouwang' already exists but the mode is different"); not shouwangd's own.
w=$( { journalctl -b _PID=1 -p warning --no-pager -o short | grep 'shouwang\.service'
	journalctl -b -u shouwang.service -p warning --no-pager -o short | grep -v -e ' shouwangd\[' -e '^-- '; } || true)
if [ -z "$w" ]; then ok "no warnings from systemd about shouwang.service"; else bad "systemd warned:"; echo "$w"; fi
d=$(journalctl -b -u shouwang.service --no-pager -o cat | grep -iE 'permission denied|read-only file system|operation not permitted|bad system call' || true)
if [ -z "$d" ]; then ok "shouwangd logged no permission errors"; else bad "shouwangd logged:"; echo "$d"; fi

# Last, as it makes systemd log a warning ("Failed with result 'signal'").
systemctl kill -s SIGKILL shouwang.service
if wait_for 20 '[ "$(prop NRestarts)" -ge 1 ] && [ "$(prop ActiveState)" = active ]'; then
	ok "killed with SIGKILL: restarted (Restart=always, NRestarts=$(prop NRestarts))"
else
	bad "not restarted after SIGKILL: $(prop ActiveState) NRestarts=$(prop NRestarts)"
fi
EOF
chmod 0755 "$t/etc/shouwang-check/check.sh"

cat >"$t/etc/systemd/system/shouwang-check.target" <<'EOF'
[Unit]
Description=shouwang unit check
Requires=shouwang-check.service
After=shouwang-check.service
EOF
cat >"$t/etc/systemd/system/shouwang-check.service" <<'EOF'
[Unit]
Description=shouwang unit check
After=basic.target
# The container's exit status is the check's.
SuccessAction=exit-force
FailureAction=exit-force
FailureActionExitStatus=1
[Service]
Type=oneshot
ExecStart=/etc/shouwang-check/check.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=150
EOF
: >"$t/etc/fstab"

# --- 3. boot it -----------------------------------------------------------------------------------------------
nspawn=(systemd-nspawn --quiet --directory=/ --volatile=yes --machine="$machine"
	--overlay-ro="/usr:$work/stage/usr:$t/usr:/usr"
	--overlay="/etc:$work/stage/etc:$t/etc::/etc"
	--bind="$work/out:/out"
	--private-network --link-journal=no --register=no --keep-unit
	--boot -- systemd.unit=shouwang-check.target systemd.firstboot=no systemd.show_status=no)
# Under a systemd PID 1 the container gets a scope of its own with a delegated cgroup subtree (systemd-run
# uses systemd's private socket: no D-Bus needed). Elsewhere (a CI sandbox) nspawn uses the cgroup it is in.
if [ -d /run/systemd/system ]; then
	nspawn=(systemd-run --quiet --scope --collect -p Delegate=yes -- "${nspawn[@]}")
fi

say "booting a container with systemd and the unit"
set +e
timeout --kill-after=15 240 "${nspawn[@]}" </dev/null >"$work/console.log" 2>&1
rc=$?
set -e
result=$(cat "$work/out/result" 2>/dev/null || echo "none")
cat "$work/out/check.log" 2>/dev/null || true
if [ $rc -ne 0 ] || [ "$result" != PASS ]; then
	say "FAIL (container exit $rc, result $result)"
	if [ ! -s "$work/out/check.log" ]; then
		say "the check did not run; the container said:"
		tail -n 40 "$work/console.log"
		if grep -qiE 'operation not permitted|not supported|permission denied' "$work/console.log" &&
			! grep -q 'shouwang' "$work/console.log"; then
			skip "systemd-nspawn cannot run a container here"
		fi
	else
		say "the container's journal, from shouwang's start:"
		sed -n '/Starting shouwang.service/,$p' "$work/out/journal.txt" | tail -n 80
	fi
	KEEP=1
	exit 1
fi
say "PASS in $(($(date +%s) - start))s"
