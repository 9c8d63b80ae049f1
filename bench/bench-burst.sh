#!/bin/bash
# The 10,000-resident / 50,000-sensor gateway (issue 8 figures 3-7):
#   7. start-up: exec → READY=1 (NOTIFY_SOCKET), vs exec → exit of `shouwangd --help`;
#   4. memory: VmRSS / VmHWM after start and after the burst, vs the broker's own;
#   5. idle cost: context switches per second over all threads, vs the broker's;
#   3. burst ingest: 100,000 Zigbee2MQTT messages published as fast as the broker
#      takes them, until every event row is committed, vs a bare subscriber;
#   6. storage: the daemon's /proc/PID/io write_bytes over the burst per event,
#      vs the raw payload bytes per event.
# Each phase has its own private Mosquitto (set_tcp_nodelay true), so no broker
# carries another phase's sessions or queues. Prints "figure|value|unit|baseline
# name|baseline value|goal|pass" lines for bench/run.sh; details on stderr.
#
#   BUILD=build QUICK=0|1 WORK=/tmp/dir bash bench/bench-burst.sh
set -euo pipefail
BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
name=bench-burst
source bench/lib.sh

RESIDENTS=10000
KINDS=leak,door,motion,smoke,gas   # five sensors per resident: 50,000
COUNT=100000
IDLE_S=60
STARTUP_RUNS=7
TRICKLE_RATE=50      # messages per second: a busy building on an ordinary day
TRICKLE_COUNT=1000
if [[ "$QUICK" == 1 ]]; then
	COUNT=20000
	IDLE_S=10
	STARTUP_RUNS=3
	TRICKLE_COUNT=250
fi
N_KINDS=$(awk -F, '{ print NF }' <<<"$KINDS")
SENSORS=$(( RESIDENTS * N_KINDS ))

own_work=0
if [[ -n "${WORK:-}" ]]; then
	work=$(mktemp -d "$WORK/burst-XXXXXX")
else
	work=$(mktemp -d /tmp/shouwang-bench-burst-XXXXXX)
	own_work=1
fi
# The daemon's log goes to tmpfs: in production it goes to journald (another
# process), and its bytes must not count as the daemon's storage writes.
logdir=$(mktemp -d /dev/shm/shouwang-bench-burst-XXXXXX)
pids=()
cleanup() {
	stop_all
	if [[ "${KEEP_BENCH:-0}" == 1 ]]; then
		cp -r "$logdir"/. "$work"/ 2>/dev/null || true
		log "files kept in $work"
	elif [[ $own_work == 1 ]]; then
		rm -rf "$work"
	fi
	rm -rf "$logdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for b in shouwangd shouwangctl bench/burst bench/startup; do
	[[ -x "$BUILD/$b" ]] || die "$BUILD/$b is missing (make bench builds it)"
done
command -v mosquitto >/dev/null || die "mosquitto is not installed (make deps)"

# ---- the roster: 10,000 residents, a neighbour each, five Zigbee2MQTT sensors each -------------------------------
# Sensor s = (resident-1)*5 + k on zigbee2mqtt/R00001/leak …, as bench/burst.c computes it.
t0=$(date +%s%N)
awk -v n="$RESIDENTS" -v kinds="$KINDS" -v dir="$work" 'BEGIN {
	nk = split(kinds, k, ",")
	r = dir "/residents.csv"; c = dir "/contacts.csv"; l = dir "/links.csv"; s = dir "/sensors.csv"
	print "id,name,building,flat,lives_alone,phone,notes" > r
	print "id,name,phone,role,notify" > c
	print "resident_id,contact_id,tier" > l
	print "id,resident_id,building,kind,source" > s
	for (i = 1; i <= n; i++) {
		printf "R%05d,居民%05d,B%03d,%d%02d,%d,1380%07d,bench\n", i, i, int((i - 1) / 40) + 1, i % 6 + 1, i % 40, i % 3 == 0, i > r
		printf "C%05d,邻居%05d,1390%07d,neighbour,mqtt\n", i, i, i > c
		printf "R%05d,C%05d,1\n", i, i > l
		for (j = 1; j <= nk; j++)
			printf "S%05d-%s,R%05d,,%s,mqtt:zigbee2mqtt/R%05d/%s\n", i, k[j], i, k[j], i, k[j] > s
	}
}'
for kind in residents contacts links sensors; do
	"$BUILD/shouwangctl" --db "$work/roster.db" import "$kind" "$work/$kind.csv" >/dev/null ||
		die "importing $kind failed"
done
t1=$(date +%s%N)
n_sensors=$(sqlite3 "$work/roster.db" "SELECT count(*) FROM sensors")
[[ "$n_sensors" == "$SENSORS" ]] || die "the roster has $n_sensors sensors, not $SENSORS"
log "roster: $RESIDENTS residents, $n_sensors sensors imported in $(calc %.1f '(b - a) / 1e9' "$t0" "$t1") s"

# write_config NAME URI: $work/NAME.conf for a daemon on database $work/NAME.db
write_config() {
	cat >"$work/$1.conf" <<CONF
[general]
gateway = $1
database = $work/$1.db

[mqtt]
uri = $2
client_id = shouwang-$1-$$

[http]
listen = 127.0.0.1:$(free_port)

[gpio]
enabled = no
CONF
}

# ---- 7. start-up ----------------------------------------------------------------------------------------------------
start_broker startup true
cp "$work/roster.db" "$work/startup.db"
write_config startup "tcp://127.0.0.1:$broker_port"
# One start first, not measured: the roster import left the database in the page cache, but the
# daemon's first start also writes its own state (rules, health) once.
SHOUWANG_CLOCK_SYNCED=1 "$BUILD/bench/startup" --runs 1 -- "$BUILD/shouwangd" -c "$work/startup.conf" \
	>/dev/null 2>>"$logdir/startup.log" || die "shouwangd did not start: $(tail -n 5 "$logdir/startup.log")"
SHOUWANG_CLOCK_SYNCED=1 "$BUILD/bench/startup" --runs "$STARTUP_RUNS" -- "$BUILD/shouwangd" -c "$work/startup.conf" \
	>"$work/startup.result" 2>>"$logdir/startup.log" || die "start-up runs failed: $(tail -n 5 "$logdir/startup.log")"
"$BUILD/bench/startup" --exit --runs "$STARTUP_RUNS" -- "$BUILD/shouwangd" --help \
	>"$work/help.result" 2>/dev/null || die "shouwangd --help failed"
"$BUILD/bench/startup" --exit --runs "$STARTUP_RUNS" -- /bin/true >"$work/true.result" 2>/dev/null || true
log "start-up: $(cat "$work/startup.result"); --help: $(cat "$work/help.result"); /bin/true: $(cat "$work/true.result")"
stop "$broker_pid"

# ---- 3. baseline: a bare subscriber's receive rate --------------------------------------------------------------------
queue_conf=("max_queued_messages 0")   # no broker-side drops when a subscriber falls behind (default: 1000)
start_broker burst-base true "${queue_conf[@]}"
uri="tcp://127.0.0.1:$broker_port"
"$BUILD/bench/burst" subscribe --uri "$uri" --count "$COUNT" --timeout-s 120 >"$work/sub.out" 2>"$work/sub.err" &
sub_pid=$!
pids+=("$sub_pid")
wait_for 15 "$work/sub.out" "^ready" || die "the bare subscriber did not come up: $(cat "$work/sub.err")"
"$BUILD/bench/burst" publish --uri "$uri" --count "$COUNT" --residents "$RESIDENTS" --kinds "$KINDS" \
	>"$work/pub-base.out" 2>"$work/pub-base.err" || die "publishing failed: $(cat "$work/pub-base.err")"
for _ in $(seq 600); do kill -0 "$sub_pid" 2>/dev/null || break; sleep 0.1; done
stop "$sub_pid"
stop "$broker_pid"
t_start=$(kv "$work/pub-base.out" t_start_ns)
t_last=$(kv "$work/sub.out" t_last_ns)
received=$(kv "$work/sub.out" received)
pub_base_s=$(kv "$work/pub-base.out" publish_s)
[[ "$received" == "$COUNT" ]] || die "the bare subscriber received $received of $COUNT messages"
base_rate=$(calc %.0f 'a / ((c - b) / 1e9)' "$COUNT" "$t_start" "$t_last")
log "bare subscriber: $COUNT messages in $(calc %.3f '(b - a) / 1e9' "$t_start" "$t_last") s = $base_rate msgs/s (publisher alone: $pub_base_s s)"

# ---- the daemon: start, memory, idle, burst, memory, writes --------------------------------------------------------
start_broker burst true "${queue_conf[@]}"
uri="tcp://127.0.0.1:$broker_port"

# What the program itself costs: the same daemon with an empty roster.
write_config empty "$uri"
SHOUWANG_CLOCK_SYNCED=1 "$BUILD/shouwangd" -c "$work/empty.conf" >"$logdir/empty.log" 2>&1 &
epid=$!
pids+=("$epid")
wait_for 30 "$logdir/empty.log" "MQTT: connected" || die "shouwangd (empty roster) did not connect"
sleep 1
rss_empty=$(status_kib "$epid" VmRSS) anon_empty=$(status_kib "$epid" RssAnon)
log "empty roster: shouwangd VmRSS $rss_empty KiB (RssAnon $anon_empty KiB, RssFile $(status_kib "$epid" RssFile) KiB: the shared libraries' pages)"
stop "$epid"
cp "$work/roster.db" "$work/burst.db"
write_config burst "$uri"
SHOUWANG_CLOCK_SYNCED=1 "$BUILD/shouwangd" -c "$work/burst.conf" >"$logdir/burst.log" 2>&1 &
dpid=$!
pids+=("$dpid")
wait_for 30 "$logdir/burst.log" "MQTT: connected" || die "shouwangd did not connect"
# Subscribed to all of it: the last sensor's message becomes an event row.
"$BUILD/bench/burst" warmup --uri "$uri" --db "$work/burst.db" --residents "$RESIDENTS" --kinds "$KINDS" \
	--timeout-s 60 >"$work/warmup.out" 2>"$work/warmup.err" || die "warm-up failed: $(cat "$work/warmup.err")"
log "$(cat "$work/warmup.out")"
sleep 2
rss_start=$(status_kib "$dpid" VmRSS) hwm_start=$(status_kib "$dpid" VmHWM) anon_start=$(status_kib "$dpid" RssAnon)
pss_start=$(awk '$1 == "Pss:" { print $2 }' /proc/"$dpid"/smaps_rollup 2>/dev/null || echo 0)
b_rss_start=$(status_kib "$broker_pid" VmRSS) b_anon_start=$(status_kib "$broker_pid" RssAnon)
threads=$(ls /proc/"$dpid"/task | wc -l)
log "after start: shouwangd VmRSS $rss_start KiB, Pss $pss_start KiB, VmHWM $hwm_start KiB ($(grep -E '^Rss(Anon|File|Shmem)' /proc/"$dpid"/status | tr -s ' \t' ' ' | tr '\n' ' ')), $threads threads; mosquitto VmRSS $b_rss_start KiB"

# 5. idle: nothing is sent to either for IDLE_S seconds
c0=$(ctxsw "$dpid") b0=$(ctxsw "$broker_pid")
sleep "$IDLE_S"
c1=$(ctxsw "$dpid") b1=$(ctxsw "$broker_pid")
idle=$(calc %.2f '(b - a) / c' "$c0" "$c1" "$IDLE_S")
b_idle=$(calc %.2f '(b - a) / c' "$b0" "$b1" "$IDLE_S")
per_thread=""
for t in /proc/"$dpid"/task/*; do
	per_thread+="$(cat "$t/comm" 2>/dev/null)=$(awk '/ctxt_switches/ { s += $2 } END { print s }' "$t/status") "
done
log "idle ${IDLE_S} s: shouwangd $((c1 - c0)) context switches ($idle/s; totals per thread now: $per_thread), mosquitto $((b1 - b0)) ($b_idle/s)"

# 3 + 6. the burst
wb0=$(io_field "$dpid" write_bytes) wc0=$(io_field "$dpid" wchar) cw0=$(io_field "$dpid" cancelled_write_bytes)
cs0=$(ctxsw "$dpid")
"$BUILD/bench/burst" publish --uri "$uri" --db "$work/burst.db" --count "$COUNT" --residents "$RESIDENTS" \
	--kinds "$KINDS" --timeout-s 300 >"$work/pub.out" 2>"$work/pub.err" || {
	log "the burst did not complete: $(cat "$work/pub.err")"
	cat "$work/pub.out" >&2
}
wb1=$(io_field "$dpid" write_bytes) wc1=$(io_field "$dpid" wchar) cw1=$(io_field "$dpid" cancelled_write_bytes)
cs1=$(ctxsw "$dpid")
rss_end=$(status_kib "$dpid" VmRSS) hwm_end=$(status_kib "$dpid" VmHWM) anon_end=$(status_kib "$dpid" RssAnon)
b_rss_end=$(status_kib "$broker_pid" VmRSS) b_hwm_end=$(status_kib "$broker_pid" VmHWM)
events=$(kv "$work/pub.out" events)
complete=$(kv "$work/pub.out" complete)
elapsed=$(kv "$work/pub.out" elapsed_s)
ev_rate=$(kv "$work/pub.out" events_per_s)
msg_rate=$(kv "$work/pub.out" msgs_per_s)
expected=$(kv "$work/pub.out" events_expected)
payload_bytes=$(kv "$work/pub.out" payload_bytes)
pub_s=$(kv "$work/pub.out" publish_s)
log "burst: $(tr '\n' ' ' <"$work/pub.out")"
log "burst: write_bytes +$((wb1 - wb0)), wchar +$((wc1 - wc0)), cancelled_write_bytes +$((cw1 - cw0)), context switches +$((cs1 - cs0)); database on $(fstype "$work") ($work)"
log "after burst: shouwangd VmRSS $rss_end KiB, VmHWM $hwm_end KiB ($(grep -E '^Rss(Anon|File|Shmem)' /proc/"$dpid"/status | tr -s ' \t' ' ' | tr '\n' ' ')); mosquitto VmRSS $b_rss_end KiB, VmHWM $b_hwm_end KiB"
log "database: $(du -k "$work/burst.db" | cut -f1) KiB, WAL $(du -k "$work/burst.db-wal" 2>/dev/null | cut -f1) KiB"
# 6. the steady state. In the burst above every message after the warm-up went to a sensor heard for
# the first time since the roster was imported, and "first heard" is written at once; a gateway that
# has run for a day has heard every sensor. So: the same measurements again, now that every sensor
# was heard, and each followed by a reload (SIGHUP), which writes every row the daemon was keeping
# back for its next refresh (a sensor's last seen, at most 15 minutes behind): counting those
# writes here is conservative, as in service they are batched over 15 minutes.
flush_rows() { # SIGHUP, then wait for the reload's new connection
	local before
	before=$(grep -c "MQTT: connected" "$logdir/burst.log" || true)
	kill -HUP "$dpid"
	for _ in $(seq 200); do
		(( $(grep -c "MQTT: connected" "$logdir/burst.log" || true) > before )) && return 0
		sleep 0.05
	done
	log "the reload after SIGHUP did not reconnect"
}
# What the first burst left waiting goes first; a second reload alone shows what a reload itself writes.
flush_rows
wr0=$(io_field "$dpid" write_bytes)
flush_rows
wr1=$(io_field "$dpid" write_bytes)
log "a reload with nothing waiting writes $((wr1 - wr0)) bytes"
# 6a. an ordinary day: TRICKLE_RATE messages per second
wt0=$(io_field "$dpid" write_bytes)
"$BUILD/bench/burst" publish --uri "$uri" --db "$work/burst.db" --count "$TRICKLE_COUNT" --rate "$TRICKLE_RATE" \
	--residents "$RESIDENTS" --kinds "$KINDS" --timeout-s 120 >"$work/trickle.out" 2>"$work/trickle.err" ||
	log "the trickle did not complete: $(cat "$work/trickle.err")"
wtm=$(io_field "$dpid" write_bytes)
flush_rows
wt1=$(io_field "$dpid" write_bytes)
t_events=$(kv "$work/trickle.out" events)
log "trickle (sensors heard before): $(tr '\n' ' ' <"$work/trickle.out"); write_bytes +$((wt1 - wt0)) with the reload's flush"
# 6b. the burst again
ws0=$(io_field "$dpid" write_bytes)
"$BUILD/bench/burst" publish --uri "$uri" --db "$work/burst.db" --count "$COUNT" --residents "$RESIDENTS" \
	--kinds "$KINDS" --timeout-s 300 >"$work/pub2.out" 2>"$work/pub2.err" ||
	log "the second burst did not complete: $(cat "$work/pub2.err")"
wsm=$(io_field "$dpid" write_bytes)
flush_rows
ws1=$(io_field "$dpid" write_bytes)
# Every sensor the burst reached had its row waiting: what one refresh of all of them costs.
n_heard=$(( COUNT < SENSORS ? COUNT : SENSORS ))
log "the reload after the second burst wrote the waiting rows of $n_heard sensors: $((ws1 - wsm)) bytes"
s_events=$(kv "$work/pub2.out" events)
log "burst (sensors heard before): $(tr '\n' ' ' <"$work/pub2.out"); write_bytes +$((ws1 - ws0)) with the reload's flush"

warn=$(grep -c 'WARNING\|ERROR\|CRIT' "$logdir/burst.log" || true)
((warn == 0)) || { log "$warn warnings in the daemon's log:"; grep 'WARNING\|ERROR\|CRIT' "$logdir/burst.log" | head -n 5 >&2; }
stop "$dpid"
stop "$broker_pid"

# ---- rows ---------------------------------------------------------------------------------------------------------------
ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? "pass" : "short" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "pass" : "short" }'; }
mib() { calc %.2f 'a / 1024' "$1"; }

su50=$(kv "$work/startup.result" p50_ms) help50=$(kv "$work/help.result" p50_ms)
echo "start-up exec->READY=1, 10k/50k (p50 of $STARTUP_RUNS)|$su50|ms|shouwangd --help exec->exit|$help50|<= 100 ms|$(le "$su50" 100)"

rs=$(mib "$rss_start") brs=$(mib "$b_rss_start")
echo "VmRSS after start, 10k/50k roster|$rs|MiB|mosquitto VmRSS|$brs|<= 8 MiB|$(le "$rs" 8)"
echo "RssAnon after start (own heap, no libraries)|$(mib "$anon_start")|MiB|mosquitto RssAnon|$(mib "$b_anon_start")|-|-"
echo "VmRSS after start, empty roster|$(mib "$rss_empty")|MiB|mosquitto VmRSS|$brs|<= 8 MiB|$(le "$(mib "$rss_empty")" 8)"
re=$(mib "$rss_end") hw=$(mib "$hwm_end") bre=$(mib "$b_rss_end") bhw=$(mib "$b_hwm_end")
echo "VmRSS after burst|$re|MiB|mosquitto VmRSS|$bre|<= 8 MiB|$(le "$re" 8)"
echo "VmHWM after burst (peak)|$hw|MiB|mosquitto VmHWM|$bhw|<= 8 MiB|$(le "$hw" 8)"

echo "idle context switches/s, all threads (${IDLE_S} s)|$idle|/s|mosquitto|$b_idle|<= 1/s|$(le "$idle" 1)"

if [[ "$complete" == 1 ]]; then
	per_msg=$(calc %.2f 'a / b' "$expected" "$COUNT")
	echo "burst: msgs processed+stored/s ($COUNT)|$msg_rate|msg/s|bare subscriber|$base_rate|-|-"
	echo "burst: events stored/s ($per_msg per msg)|$ev_rate|ev/s|bare subscriber msg/s|$base_rate|>= 20000 ev/s|$(ge "$ev_rate" 20000)"
	wpe=$(calc %.0f 'a / b' "$((wb1 - wb0))" "$events")
	ppe=$(calc %.1f 'a / b' "$payload_bytes" "$events")
	echo "storage write_bytes per event, first contact ($(fstype "$work"))|$wpe|B/ev|raw payload per event|$ppe|-|-"
fi
if [[ "${s_events:-0}" -gt 0 && "$(kv "$work/pub2.out" complete)" == 1 ]]; then
	spe=$(calc %.0f 'a / b' "$((ws1 - ws0))" "$s_events")
	spp=$(calc %.1f 'a / b' "$(kv "$work/pub2.out" payload_bytes)" "$s_events")
	echo "burst again, sensors heard: msgs stored/s|$(kv "$work/pub2.out" msgs_per_s)|msg/s|bare subscriber|$base_rate|-|-"
	echo "storage write_bytes per event, burst (heard, flushed)|$spe|B/ev|raw payload per event|$spp|<= 200 B/event|$(le "$spe" 200)"
	echo "storage write_bytes per message, burst|$(calc %.0f 'a / b' "$((ws1 - ws0))" "$COUNT")|B/msg|raw payload per msg|$(calc %.1f 'a / b' "$(kv "$work/pub2.out" payload_bytes)" "$COUNT")|-|-"
fi
if [[ "${t_events:-0}" -gt 0 ]]; then
	tpe=$(calc %.0f 'a / b' "$((wt1 - wt0))" "$t_events")
	tpp=$(calc %.1f 'a / b' "$(kv "$work/trickle.out" payload_bytes)" "$t_events")
	echo "storage write_bytes per event at $TRICKLE_RATE msg/s, ${TRICKLE_COUNT} msgs (flushed)|$tpe|B/ev|raw payload per event|$tpp|-|-"
	if [[ -n "${wsm:-}" ]]; then
		# In service the rows wait up to 15 minutes and go out together: at TRICKLE_RATE messages a
		# second that is one refresh of (nearly) every sensor per 15 minutes. The trickle's own
		# writes (its events, without the flush) plus that refresh, shared by 15 minutes of events.
		per_msg_ev=$(calc %.4f 'a / b' "$t_events" "$TRICKLE_COUNT")
		amort=$(calc %.0f '(a / b) + (c / (d * 900))' "$((wtm - wt0))" "$t_events" \
			"$(calc %.0f 'a * b / c' "$((ws1 - wsm))" "$SENSORS" "$n_heard")" \
			"$(calc %.4f 'a * b' "$TRICKLE_RATE" "$per_msg_ev")")
		echo "storage write_bytes per event at $TRICKLE_RATE msg/s, over a 15-min refresh (derived)|$amort|B/ev|raw payload per event|$tpp|<= 200 B/event|$(le "$amort" 200)"
	fi
else
	echo "burst: events stored/s|-|ev/s|bare subscriber msg/s|$base_rate|>= 20000 ev/s|short (stored $events of $expected in ${elapsed}s)"
	echo "storage write_bytes per event|-|B/ev|-|-|<= 200 B/event|skipped (burst incomplete)"
fi
