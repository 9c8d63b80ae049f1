#!/bin/bash
# GPIO edge → alert latency through the emulated chip (issue 8 figure 2).
#
# The emulated GPIO chip of the tests (tests/preload/gpiosim.c preloaded into the
# program that reads the lines, tests/lib/gpiosim.h on the control side; see
# docs/testing-gpio.md): chip gpiochip0 with 128 lines, a roster of LINES
# residents R0001 … each with a leak sensor on line 0 … LINES-1 and one tier-1
# neighbour notified by MQTT. build/bench/gpio-probe drives the lines and
# listens for the alerts through a private Mosquitto (set_tcp_nodelay true):
#   (a) shouwangd as shipped: a new alert per edge (the probe resolves each
#       alert as a neighbour's app would, so the next edge on that line is news);
#   (b) the floor: gpio-probe --relay, a bare libgpiod 1.6 program that reads the
#       edge and publishes a minimal alert through the same MqttClient; it also
#       reports edge → read, the emulated interrupt reaching user space.
# Prints "figure|value|unit|baseline name|baseline value|goal|pass" lines for
# bench/run.sh; details on stderr.
#
#   BUILD=build QUICK=0|1 WORK=/tmp/dir bash bench/bench-gpio.sh
set -euo pipefail
BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
name=bench-gpio
source bench/lib.sh

N=1000      # measured edges (issue 8: >= 1,000)
LINES=100   # the emulator holds 128 requests; lines are used in turn
WARMUP=5
GAP_MS=40   # > the daemon's 30 ms debounce: every edge meets an idle daemon and a settled line
LIMIT=240
if [[ "$QUICK" == 1 ]]; then
	N=200
fi

own_work=0
if [[ -n "${WORK:-}" ]]; then
	work=$(mktemp -d "$WORK/gpio-XXXXXX")
else
	work=$(mktemp -d /tmp/shouwang-bench-gpio-XXXXXX)
	own_work=1
fi
pids=()
sim="$work/sim"
cleanup() {
	stop_all
	[[ -x "$BUILD/tests/tools/gpiosim" && -d "$sim" ]] && "$BUILD/tests/tools/gpiosim" --dir "$sim" destroy >/dev/null 2>&1 || true
	if [[ "${KEEP_BENCH:-0}" == 1 ]]; then
		log "files kept in $work"
	elif [[ $own_work == 1 ]]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for b in shouwangd shouwangctl bench/gpio-probe tests/tools/gpiosim tests/preload/libgpiosim.so; do
	[[ -e "$BUILD/$b" ]] || die "$BUILD/$b is missing (make bench builds it)"
done
command -v mosquitto >/dev/null || die "mosquitto is not installed (make deps)"
G="$BUILD/tests/tools/gpiosim"

start_broker mosquitto true
uri="tcp://127.0.0.1:$broker_port"
"$G" --dir "$sim" add-chip gpiochip0 --label pinctrl-bcm2711 --lines 128 >/dev/null || die "cannot create the emulated chip"

# ---- roster: LINES residents, a leak sensor on a GPIO line and a neighbour each ----------------------------------------
{
	echo "id,name,building,flat,lives_alone,phone,notes"
	for ((i = 1; i <= LINES; i++)); do printf 'R%04d,居民%04d,B001,%d,1,1380000%04d,bench\n' "$i" "$i" "$i" "$i"; done
} >"$work/residents.csv"
{
	echo "id,name,phone,role,notify"
	for ((i = 1; i <= LINES; i++)); do printf 'C%04d,邻居%04d,1390000%04d,neighbour,mqtt\n' "$i" "$i" "$i"; done
} >"$work/contacts.csv"
{
	echo "resident_id,contact_id,tier"
	for ((i = 1; i <= LINES; i++)); do printf 'R%04d,C%04d,1\n' "$i" "$i"; done
} >"$work/links.csv"
{
	echo "id,resident_id,building,kind,source"
	for ((i = 1; i <= LINES; i++)); do printf 'S%04d-leak,R%04d,,leak,gpio:gpiochip0:%d\n' "$i" "$i" $((i - 1)); done
} >"$work/sensors.csv"
for kind in residents contacts links sensors; do
	"$BUILD/shouwangctl" --db "$work/gpio.db" import "$kind" "$work/$kind.csv" >/dev/null || die "importing $kind failed"
done

probe() { # probe NAME [OPTIONS…]
	local pname=$1
	shift
	timeout --signal=TERM --kill-after=5 "$LIMIT" "$BUILD/bench/gpio-probe" --uri "$uri" --sim "$sim" --gateway "$pname" \
		--lines "$LINES" --count "$N" --warmup "$WARMUP" --gap-ms "$GAP_MS" --samples "$work/$pname.samples" "$@" \
		>"$work/$pname.probe" 2>"$work/$pname.probe.err" || {
		log "probe for $pname failed:"; tail -n 20 "$work/$pname.probe.err" >&2; return 1
	}
	grep '^n=' "$work/$pname.probe" >"$work/$pname.result"
	log "$pname: $(cat "$work/$pname.result")"
}
field() { kv "$work/$1.result" "$2"; }

# ---- (b) the floor: a bare libgpiod program ---------------------------------------------------------------------------
"$G" --dir "$sim" run -- "$BUILD/bench/gpio-probe" --relay --uri "$uri" --gateway floor --lines "$LINES" \
	--samples "$work/read.samples" >"$work/floor.relay" 2>"$work/floor.relay.err" &
relay=$!
pids+=("$relay")
wait_for 10 "$work/floor.relay" "relay: connected" || die "the floor relay did not start: $(cat "$work/floor.relay.err")"
probe floor
stop "$relay"
grep '^read:' "$work/floor.relay" | sed 's/^read: //' >"$work/read.result" || die "the floor relay read nothing"
log "floor edge->read: $(cat "$work/read.result")"

# ---- (a) shouwangd ------------------------------------------------------------------------------------------------------
cat >"$work/shouwang.conf" <<CONF
[general]
gateway = shouwang
database = $work/gpio.db

[mqtt]
uri = $uri
client_id = shouwang-gpio-$$

[http]
listen = 127.0.0.1:$(free_port)

[gpio]
enabled = yes
CONF
"$G" --dir "$sim" run -- env SHOUWANG_CLOCK_SYNCED=1 "$BUILD/shouwangd" -c "$work/shouwang.conf" >"$work/shouwangd.log" 2>&1 &
dpid=$!
pids+=("$dpid")
wait_for 15 "$work/shouwangd.log" "MQTT: connected" || die "shouwangd did not connect"
probe shouwang --resolve
alerts=$(sqlite3 "$work/gpio.db" "SELECT count(*) FROM alerts" 2>/dev/null || echo "?")
stop "$dpid"
log "shouwang: $alerts alerts stored; $(grep -c 'WARNING\|ERROR' "$work/shouwangd.log" || true) warnings in its log"

le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "pass" : "short" }'; }
n=$(field shouwang n)
sw50=$(field shouwang p50_ms) sw99=$(field shouwang p99_ms)
fl50=$(field floor p50_ms) fl99=$(field floor p99_ms)
rd50=$(kv "$work/read.result" p50_ms) rd99=$(kv "$work/read.result" p99_ms)
echo "GPIO edge->alert p50 ($n edges)|$sw50|ms|bare libgpiod edge->read|$rd50|-|-"
echo "GPIO edge->alert p99|$sw99|ms|bare libgpiod edge->read|$rd99|<= 1 ms|$(le "$sw99" 1)"
echo "GPIO edge->alert p50 vs bare relay|$sw50|ms|libgpiod + MQTT relay|$fl50|-|-"
echo "GPIO edge->alert p99 vs bare relay|$sw99|ms|libgpiod + MQTT relay|$fl99|-|-"
