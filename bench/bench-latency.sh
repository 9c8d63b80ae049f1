#!/bin/bash
# Leak → alert latency (issue 8 figure 1; the TCP_NODELAY figure of issue 3).
#
# A private Mosquitto on a free loopback port (set_tcp_nodelay true), a roster
# of N residents (+ warm-up residents) each with a leak sensor on
# bench/leak/R0001 … and one contact at tier 1 (notify mqtt). Then, each
# against its own fresh database and measured by build/bench/latency-probe:
#   (a) the floor: latency-probe --relay (TCP_NODELAY, no rules, no storage);
#   (a') the floor plus one durable SQLite commit per message (WAL, FULL);
#   (b) shouwangd as shipped (TCP_NODELAY set on Paho's socket after connect);
#   (c) shouwangd with SHOUWANG_MQTT_NO_NODELAY=1 (Paho as it comes: Nagle on);
#   (d) the floor relay with SHOUWANG_MQTT_NO_NODELAY=1: a bare Paho relay;
#   (e) Node-RED 4.x (bench/node-red/: the pinned version, installed from npm
#       into build/bench/node-red/ by bench/node-red/install.sh) running
#       bench/node-red/flow.json headless: the same rule, no storage; and the
#       same Node-RED with TCP_NODELAY set on its sockets by a --require shim.
#       Without npm or network these rows say why they were skipped.
# Prints "figure|value|unit|baseline name|baseline value|goal|pass" lines for
# bench/run.sh; details on stderr. Everything it starts is stopped on exit.
#
#   BUILD=build QUICK=0|1 WORK=/tmp/dir bash bench/bench-latency.sh
set -euo pipefail
BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"

N=1000           # measured leaks per run (issue 8: ≥ 1,000)
N_SLOW=300       # runs without TCP_NODELAY cost ~44 ms each
WARMUP=5
GAP_MS=20        # pause between residents: each leak meets an idle daemon
if [[ "$QUICK" == 1 ]]; then
	N=200
	N_SLOW=50
fi
LIMIT=240        # seconds: no single run may take longer than this

own_work=0
if [[ -n "${WORK:-}" ]]; then
	work=$(mktemp -d "$WORK/latency-XXXXXX")
else
	work=$(mktemp -d /tmp/shouwang-bench-latency-XXXXXX)
	own_work=1
fi
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
	if [[ "${KEEP_BENCH:-0}" == 1 ]]; then
		echo "bench-latency: files kept in $work" >&2
	elif [[ $own_work == 1 ]]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-latency: $*" >&2; }
die() { log "$*"; exit 1; }

free_port() {
	local p
	for _ in $(seq 50); do
		p=$(( 20000 + RANDOM % 20000 ))
		if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then echo "$p"; return; fi
	done
	die "no free loopback port"
}
wait_for() { # wait_for SECONDS FILE PATTERN
	local end=$(( SECONDS + $1 ))
	while (( SECONDS < end )); do grep -q -- "$3" "$2" 2>/dev/null && return 0; sleep 0.05; done
	log "timed out waiting for '$3' in $2:"; tail -n 20 "$2" >&2 || true
	return 1
}
# stop PID: TERM, wait up to 5 s, then KILL
stop() {
	local p=$1
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	local keep=()
	for q in "${pids[@]}"; do [[ "$q" != "$p" ]] && keep+=("$q"); done
	pids=("${keep[@]+"${keep[@]}"}")
}

[[ -x "$BUILD/bench/latency-probe" ]] || die "$BUILD/bench/latency-probe is missing (make bench builds it)"
command -v mosquitto >/dev/null || die "mosquitto is not installed (make deps)"

# ---- brokers ---------------------------------------------------------------------------------------------
# start_broker NAME NODELAY(true/false): sets broker_port (no subshell: pids must see the broker)
start_broker() {
	local name=$1 nodelay=$2 p
	p=$(free_port)
	{
		echo "listener $p 127.0.0.1"
		echo "allow_anonymous true"
		echo "persistence false"
		echo "set_tcp_nodelay $nodelay"
		[[ $(id -u) == 0 ]] && echo "user root"
	} >"$work/$name.conf"
	mosquitto -c "$work/$name.conf" >"$work/$name.log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.1; done
	(exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null || die "mosquitto did not start: $(cat "$work/$name.log")"
	broker_port=$p
}
start_broker mosquitto true
uri="tcp://127.0.0.1:$broker_port"

# ---- roster: N + WARMUP residents, one leak sensor and one tier-1 contact each -------------------------
total=$(( N + WARMUP ))
{
	echo "id,name,building,flat,lives_alone,phone,notes"
	for ((i = 1; i <= total; i++)); do
		printf 'R%04d,居民%04d,B%03d,%d%02d,1,1380000%04d,bench\n' "$i" "$i" $(( (i - 1) / 40 + 1 )) \
			$(( (i % 6) + 1 )) $(( i % 40 )) "$i"
	done
} >"$work/residents.csv"
{
	echo "id,name,phone,role,notify"
	for ((i = 1; i <= total; i++)); do printf 'C%04d,邻居%04d,1390000%04d,neighbour,mqtt\n' "$i" "$i" "$i"; done
} >"$work/contacts.csv"
{
	echo "resident_id,contact_id,tier"
	for ((i = 1; i <= total; i++)); do printf 'R%04d,C%04d,1\n' "$i" "$i"; done
} >"$work/links.csv"
{
	echo "id,resident_id,building,kind,source"
	for ((i = 1; i <= total; i++)); do printf 'S%04d-leak,R%04d,,leak,mqtt:bench/leak/R%04d\n' "$i" "$i" "$i"; done
} >"$work/sensors.csv"
"$BUILD/shouwangctl" --db "$work/roster.db" import residents "$work/residents.csv" >/dev/null
for kind in contacts links sensors; do
	"$BUILD/shouwangctl" --db "$work/roster.db" import "$kind" "$work/$kind.csv" >/dev/null
done

# probe NAME GATEWAY COUNT: runs the probe, stores "n=… p50_ms=…" in $work/NAME.result
probe() {
	local name=$1 gw=$2 count=$3
	timeout --signal=TERM --kill-after=5 "$LIMIT" "$BUILD/bench/latency-probe" --uri "$uri" --gateway "$gw" \
		--count "$count" --warmup "$WARMUP" --gap-ms "$GAP_MS" --samples "$work/$name.samples" \
		>"$work/$name.probe" 2>"$work/$name.probe.err" || {
		log "probe for $name failed:"; cat "$work/$name.probe.err" >&2; return 1
	}
	grep '^n=' "$work/$name.probe" >"$work/$name.result"
	log "$name: $(cat "$work/$name.result")"
}
field() { sed -n "s/.*\b$2=\([0-9.]*\).*/\1/p" "$work/$1.result"; }

# run_relay NAME COUNT [ENV…] [-- RELAY OPTIONS…]: floor relay on gateway NAME, then the probe
run_relay() {
	local name=$1 count=$2; shift 2
	local envs=() opts=()
	while (($#)); do
		if [[ "$1" == -- ]]; then shift; opts=("$@"); break; fi
		envs+=("$1"); shift
	done
	env "${envs[@]+"${envs[@]}"}" "$BUILD/bench/latency-probe" --relay --uri "$uri" --gateway "$name" \
		"${opts[@]+"${opts[@]}"}" >"$work/$name.relay" 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_for 10 "$work/$name.relay" "relay: connected"
	probe "$name" "$name" "$count"
	stop "$pid"
}

# run_daemon NAME COUNT [ENV…]: shouwangd with a fresh copy of the roster database,
# against the broker at $uri
run_daemon() {
	local name=$1 count=$2; shift 2
	cp "$work/roster.db" "$work/$name.db"
	cat >"$work/$name.conf" <<CONF
[general]
gateway = $name
database = $work/$name.db

[mqtt]
uri = $uri
client_id = shouwang-$name-$$

[http]
listen = 127.0.0.1:$(free_port)

[gpio]
enabled = no
CONF
	env SHOUWANG_CLOCK_SYNCED=1 "$@" "$BUILD/shouwangd" -c "$work/$name.conf" >"$work/$name.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_for 15 "$work/$name.log" "MQTT: connected"
	probe "$name" "$name" "$count"
	local alerts
	alerts=$(sqlite3 "$work/$name.db" "SELECT count(*) FROM alerts" 2>/dev/null || echo "?")
	stop "$pid"
	log "$name: $alerts alerts stored; $(grep -c 'WARNING\|ERROR' "$work/$name.log" || true) warnings in its log"
}

# The floor must sit between the same broker and probe; the relays use the
# gateway name as theirs so no run sees another's alerts.
run_relay floor "$N"
run_relay commitfloor "$N" -- --commit-db "$work/commitfloor.db"
run_daemon shouwang "$N"
run_daemon nonodelay "$N_SLOW" SHOUWANG_MQTT_NO_NODELAY=1
run_relay barepaho "$N_SLOW" SHOUWANG_MQTT_NO_NODELAY=1
# The broker's half: the same shouwangd (and probe) with TCP_NODELAY, through
# a Mosquitto left at its default set_tcp_nodelay false.
port_fast=$broker_port
start_broker mosquitto-nagle false
nagle_pid=${pids[-1]}
uri_fast=$uri
uri="tcp://127.0.0.1:$broker_port"
run_daemon naglebroker "$N_SLOW"
stop "$nagle_pid"
uri=$uri_fast
broker_port=$port_fast

# ---- Node-RED: the same rule as a flow, the same probe -----------------------------------------------------
# run_nodered NAME COUNT [NODE OPTIONS…]: Node-RED on its own user directory, gateway NAME
run_nodered() {
	local name=$1 count=$2 pid; shift 2
	mkdir -p "$work/$name.userdir"
	cp bench/node-red/flow.json "$work/$name.userdir/flow.json"
	BENCH_MQTT_PORT=$broker_port BENCH_LEAK_TOPIC='bench/leak/+' BENCH_ALERTS_PREFIX="shouwang/$name/alerts/" \
		BENCH_NODERED_PORT=$(free_port) BENCH_NODERED_USERDIR="$work/$name.userdir" \
		node "$@" "$nodered" --settings "$TOP/bench/node-red/settings.js" >"$work/$name.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	wait_for 60 "$work/$name.log" "Connected to broker" || { stop "$pid"; return 1; }
	probe "$name" "$name" "$count" || { stop "$pid"; return 1; }
	stop "$pid"
}
nodered_skip=""
if ! command -v node >/dev/null; then
	nodered_skip="node is not installed"
elif ! nodered=$(bench/node-red/install.sh "$BUILD/bench/node-red" 2>"$work/nodered-install.err"); then
	nodered_skip=$(head -n 1 "$work/nodered-install.err")
fi
if [[ -z "$nodered_skip" ]]; then
	nodered_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$(dirname "$nodered")/package.json" | head -n 1)
	log "Node-RED $nodered_version: $nodered"
	run_nodered nodered "$N_SLOW" || nodered_skip="Node-RED did not run (see $work/nodered.log with KEEP_BENCH=1)"
fi
shim_skip=$nodered_skip
if [[ -z "$nodered_skip" ]]; then
	run_nodered noderednd "$N" --require "$TOP/bench/node-red/nodelay.js" ||
		shim_skip="Node-RED with the shim did not run (see $work/noderednd.log with KEEP_BENCH=1)"
fi
[[ -z "$nodered_skip" ]] || log "Node-RED rows skipped: $nodered_skip"

fl50=$(field floor p50_ms) fl99=$(field floor p99_ms)
cf50=$(field commitfloor p50_ms) cf99=$(field commitfloor p99_ms)
sw50=$(field shouwang p50_ms) sw90=$(field shouwang p90_ms) sw99=$(field shouwang p99_ms) swmax=$(field shouwang max_ms)
nn50=$(field nonodelay p50_ms) nn99=$(field nonodelay p99_ms)
bp50=$(field barepaho p50_ms)
nb50=$(field naglebroker p50_ms) nb99=$(field naglebroker p99_ms)
n_sw=$(field shouwang n) n_nn=$(field nonodelay n)
lost=0
for r in floor commitfloor shouwang nonodelay barepaho naglebroker; do lost=$(( lost + $(field $r lost) )); done
[[ -n "$nodered_skip" ]] || lost=$(( lost + $(field nodered lost) ))
[[ -n "$shim_skip" ]] || lost=$(( lost + $(field noderednd lost) ))
((lost == 0)) || log "$lost leaks got no alert within the probe's timeout"

# Goals (issue 8): p99 <= 1 ms; <= 5x the floor plus one commit, where "one
# commit" is what the floor-plus-commit relay pays over the floor, measured
# here; TCP_NODELAY must be worth an order of magnitude (issue 3: ~44 ms).
goal5() { awk -v f="$1" -v c="$2" 'BEGIN { d = c - f; if (d < 0) d = 0; printf "%.3f", 5 * f + d }'; }
lim50=$(goal5 "$fl50" "$cf50") lim99=$(goal5 "$fl99" "$cf99")
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "pass" : "short" }'; }
# TCP_NODELAY must be worth at least 30 ms at p50 (issue 3 measured ~44 ms),
# and shouwang's p99 must stay under the 40 ms of a delayed ACK. (Not the max:
# this disk alone has given single commits of 30 ms.)
passnd=$(awk -v a="$nn50" -v b="$sw50" -v c="$sw99" 'BEGIN { print (a - b >= 30 && c < 40) ? "pass" : "short" }')
p99ok=$(awk -v v="$sw99" -v l="$lim99" 'BEGIN { print (v <= 1.0 && v <= l) ? "pass" : "short" }') # 1 ms is the tighter one
# Short because of the machine, not the daemon: the floor relay plus one durable commit alone is over the goal.
[[ $p99ok == short ]] && awk -v c="$cf99" 'BEGIN { exit !(c > 1.0) }' &&
	p99ok="short: floor+commit p99 alone is $cf99 ms"
echo "leak->alert p50 ($n_sw alerts)|$sw50|ms|floor relay|$fl50|<=5x fl+commit: $lim50|$(le "$sw50" "$lim50")"
echo "leak->alert p90|$sw90|ms|floor relay|$(field floor p90_ms)|-|-"
echo "leak->alert p99|$sw99|ms|floor relay|$fl99|<= 1 ms|$p99ok"
echo "leak->alert max|$swmax|ms|floor relay|$(field floor max_ms)|-|-"
echo "leak->alert p50 vs floor+1 commit|$sw50|ms|floor relay + commit|$cf50|-|-"
echo "leak->alert p99 vs floor+1 commit|$sw99|ms|floor relay + commit|$cf99|-|-"
echo "leak->alert p50, Paho w/o NODELAY ($n_nn)|$nn50|ms|with TCP_NODELAY|$sw50|saves >=30ms, p99 <40ms|$passnd"
echo "leak->alert p99, Paho w/o NODELAY|$nn99|ms|with TCP_NODELAY|$sw99|-|-"
echo "bare Paho relay p50 (w/o NODELAY)|$bp50|ms|floor relay (NODELAY)|$fl50|~44 ms (issue 3)|-"
echo "leak->alert p50, broker w/o nodelay|$nb50|ms|broker set_tcp_nodelay|$sw50|-|-"
echo "leak->alert p99, broker w/o nodelay|$nb99|ms|broker set_tcp_nodelay|$sw99|-|-"
if [[ -z "$nodered_skip" ]]; then
	nr50=$(field nodered p50_ms) nr99=$(field nodered p99_ms) n_nr=$(field nodered n)
	[[ -n "$shim_skip" ]] || { nd50=$(field noderednd p50_ms); nd99=$(field noderednd p99_ms); }
	# Goal (issue 8): shouwang >= 40x better than Node-RED at p50; the ratio column is Node-RED / shouwang.
	# 40x needs shouwang at Node-RED / 40: below floor + one commit, nothing that commits first can be there.
	nrok=$(awk -v a="$nr50" -v b="$sw50" -v c="$cf50" 'BEGIN {
		if (a >= 40 * b) print "pass"
		else if (a / 40 < c) printf "short: needs %.3f ms < floor+commit %s ms\n", a / 40, c
		else print "short" }')
	echo "Node-RED $nodered_version leak->alert p50 ($n_nr)|$nr50|ms|shouwang p50|$sw50|>= 40x shouwang p50|$nrok"
	echo "Node-RED $nodered_version leak->alert p99|$nr99|ms|shouwang p99|$sw99|-|-"
	if [[ -z "$shim_skip" ]]; then
		echo "Node-RED + TCP_NODELAY shim p50 ($(field noderednd n))|$nd50|ms|shouwang p50|$sw50|-|-"
		echo "Node-RED + TCP_NODELAY shim p99|$nd99|ms|shouwang p99|$sw99|-|-"
	else
		echo "Node-RED + TCP_NODELAY shim p50|-|ms|shouwang p50|$sw50|-|skipped: $shim_skip"
	fi
else
	echo "Node-RED leak->alert p50|-|ms|shouwang p50|$sw50|>= 40x shouwang p50|skipped: $nodered_skip"
fi
