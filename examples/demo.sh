#!/bin/bash
# The story, played on this machine: a private Mosquitto, the example roster
# (长乐路 17 号: 沈国强, 68, lives alone at 201), a leak under his sink, the
# notifications as they go out tier by tier, the brother's phone switched
# off, the neighbour downstairs opening the link and tapping "I'm going" on
# the page the daemon serves, the resolution.
# Tier timeouts are shortened to 15 s so the story fits in a minute.
set -euo pipefail
BUILD=${BUILD:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
work=$(mktemp -d /tmp/shouwang-demo-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ "${KEEP_DEMO:-0}" == 1 ]]; then echo "demo files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'
[[ -t 1 ]] || { bold=; dim=; off=; }
say() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
free_port() {
	local p
	for _ in $(seq 50); do
		p=$(( 20000 + RANDOM % 20000 ))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
	done
	echo "demo: no free port" >&2; exit 1
}
wait_for() { # wait_for SECONDS FILE PATTERN
	local end=$(( SECONDS + $1 ))
	while (( SECONDS < end )); do grep -q -- "$3" "$2" 2>/dev/null && return 0; sleep 0.2; done
	echo "demo: timed out waiting for '$3' in $2" >&2; return 1
}
ctl() { "$BUILD/shouwangctl" --db "$work/shouwang.db" "$@"; }
# One request to the "I'm going" pages, as a phone's browser sends it (bash's /dev/tcp: no curl needed).
http() { # http METHOD PATH [FORM] → the whole answer on stdout
	local form=${3:-}
	exec 3<>"/dev/tcp/127.0.0.1/$wport"
	printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %s\r\n\r\n%s' \
		"$1" "$2" "$wport" "${#form}" "$form" >&3
	cat <&3
	exec 3<&-
}
page_status() { sed -n 's/.*<p class="status[^"]*">\([^<]*\)<\/p>.*/\1/p'; }

port=$(free_port)
hport=$(free_port)
wport=$(free_port)
"$BUILD/tests/tools/http-sink" --port "$hport" --log "$work/sms.log" --label "企业微信群 (居委会)" &
pids+=($!)
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
set_tcp_nodelay true
CONF
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

say "A private Mosquitto on 127.0.0.1:$port; the example roster imported by committee staff"
for kind in residents contacts links sensors; do
	ctl import "$kind" "examples/$kind.csv" | sed 's/^/  /'
done
ctl residents list | sed 's/^/  /'

cat >"$work/shouwang.conf" <<CONF
[general]
gateway = demo
database = $work/shouwang.db

[mqtt]
uri = tcp://127.0.0.1:$port

[http]
# The "I'm going" pages; the links in messages are derived from this (on a gateway:
# listen = 0.0.0.0:8080, and public_url = the address phones on the Wi-Fi open).
listen = 127.0.0.1:$wport

[gpio]
enabled = no

[escalation]
tier_timeout_critical = 15s

[exec:sms]
command = $TOP/examples/exec/demo-sms.sh

[webhook:wecom]
url = http://127.0.0.1:$hport/cgi-bin/webhook/send
timeout = 5s
CONF

say "shouwangd starts"
mosquitto_sub -h 127.0.0.1 -p "$port" -v -t 'shouwang/demo/#' >"$work/mqtt.log" 2>&1 &
pids+=($!)
# This machine may have no NTP; a gateway in the field would. Say the clock is right.
DEMO_SMS_LOG="$work/sms.log" SHOUWANG_CLOCK_SYNCED=1 SHOUWANG_SHIPPED_TEMPLATES_DIR="$TOP/templates" "$BUILD/shouwangd" -c "$work/shouwang.conf" \
	>"$work/shouwangd.log" 2>&1 &
daemon=$!
pids+=($daemon)
wait_for 10 "$work/shouwangd.log" "MQTT: connected"
sed 's/^/  /' "$work/shouwangd.log"
touch "$work/sms.log"

show_new() { # print new notifications since the last call
	local from=${1}
	tail -n +"$from" "$work/mqtt.log" | grep '/notify/' |
		sed -n 's#^shouwang/demo/notify/\([^ ]*\) .*"title":"\([^"]*\)".*#  📲 app → \1: \2#p' || true
}
mark() { wc -l <"$work/mqtt.log"; }

say "01:10  沈国强's kitchen: the leak sensor under the sink gets wet (Zigbee2MQTT message)"
m=$(mark)
mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t zigbee2mqtt/r201-leak \
	-m '{"battery":91,"linkquality":120,"water_leak":true,"tamper":false}'
wait_for 5 "$work/mqtt.log" '/notify/C3'
sleep 0.5
echo "  tier 1 — the paired neighbours downstairs and the building-group leader, at once:"
show_new "$((m + 1))"
echo "  what 周建国's phone (C2) shows:"
grep '/notify/C2 ' "$work/mqtt.log" | head -n 1 | sed -n 's/.*"text":"\([^"]*\)".*/\1/p' | sed 's/\\n/\n/g' | sed 's/^/    │ /'

sed 's/^/  /' "$work/sms.log"; : >"$work/sms.log"

say "Nobody answers for 15 s (5 min in real life): tier 2 — the committee on duty and the family"
m=$(mark)
wait_for 30 "$work/shouwangd.log" "escalat\|Delivered alert of alert 1 to C7\|C7"
sleep 3
show_new "$((m + 1))"
sed 's/^/  /' "$work/sms.log"; : >"$work/sms.log"
grep -h "C7\|C8" "$work/shouwangd.log" | sed 's/^/  /' | tail -n 4 || true

say "周建国 downstairs (C2) opens the link on his phone and taps \"我去看看 / I'm going\""
link=$(grep '/notify/C2 ' "$work/mqtt.log" | head -n 1 | sed -n 's/.*"ack_url":"\([^"]*\)".*/\1/p')
token=${link##*t=}
echo "  the link: $link"
echo "  the page says: $(http GET "${link#http://127.0.0.1:$wport}" | page_status)"
m=$(mark)
echo "  his tap: $(http POST /a/1 "c=C2&t=$token&action=ack" | head -n 1 | tr -d '\r')"
wait_for 5 "$work/shouwangd.log" "acknowledged by C2"
echo "  the page now says: $(http GET "${link#http://127.0.0.1:$wport}" | page_status)"
sleep 1
echo "  everyone already reached is told who is on the way:"
show_new "$((m + 1))"
sed 's/^/  /' "$work/sms.log"; : >"$work/sms.log"
echo "  (a phone app can do the same over MQTT: shouwang/demo/ack with the token, see docs/admin.md)"

say "He finds 沈国强 half-conscious by the door; 120 is called, the water is shut off"
ctl resolve 1 --as C2 --outcome hospital --note "晕倒在厨房, 已送医; 水已关, 物业在处理楼下渗水" | sed 's/^/  /'
sleep 2
ctl alerts show 1 | sed 's/^/  /'

say "shouwangd stops cleanly"
kill -TERM "$daemon"
wait "$daemon" && echo "  shouwangd exited with status 0"
tail -n 2 "$work/shouwangd.log" | sed 's/^/  /'
grep -h 'status' "$work/mqtt.log" | tail -n 1 | sed 's/^/  retained status: /'
