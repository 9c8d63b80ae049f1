#!/bin/bash
# Shared helpers of the bench/bench-*.sh scripts (sourced, never run).
# The caller sets: BUILD, QUICK, TOP (checkout), work (its work directory), pids=() and name (for log lines).

log() { echo "${name:-bench}: $*" >&2; }
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

# stop PID: TERM, wait up to 5 s, then KILL; forget it
stop() {
	local p=$1 q keep=()
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for q in "${pids[@]}"; do [[ "$q" != "$p" ]] && keep+=("$q"); done
	pids=("${keep[@]+"${keep[@]}"}")
}

stop_all() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
}

# start_broker NAME NODELAY(true/false) [EXTRA CONFIG LINE…]: sets broker_port and broker_pid
start_broker() {
	local bname=$1 nodelay=$2 p line
	shift 2
	p=$(free_port)
	{
		echo "listener $p 127.0.0.1"
		echo "allow_anonymous true"
		echo "persistence false"
		echo "set_tcp_nodelay $nodelay"
		for line in "$@"; do echo "$line"; done
		[[ $(id -u) == 0 ]] && echo "user root"
	} >"$work/$bname.conf"
	mosquitto -c "$work/$bname.conf" >"$work/$bname.log" 2>&1 &
	broker_pid=$!
	pids+=("$broker_pid")
	for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null && break; sleep 0.1; done
	(exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null || die "mosquitto did not start: $(cat "$work/$bname.log")"
	broker_port=$p
}

# status_kib PID FIELD: VmRSS, VmHWM… from /proc/PID/status, in KiB
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# ctxsw PID: voluntary + nonvoluntary context switches summed over every thread of the process
ctxsw() {
	local t sum=0 v
	for t in /proc/"$1"/task/*/status; do
		v=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { s += $2 } END { print s + 0 }' "$t" 2>/dev/null || echo 0)
		sum=$(( sum + v ))
	done
	echo "$sum"
}

# io_field PID FIELD: a line of /proc/PID/io (write_bytes, rchar, …)
io_field() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/io"; }

fstype() { findmnt -n -o FSTYPE -T "$1" 2>/dev/null || stat -f -c %T "$1"; }

# kv FILE KEY: the value of KEY=… on the last line of FILE that has it
kv() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$1" | tail -n 1; }

# Arithmetic with awk: calc FORMAT EXPR [A B C D] (EXPR uses a, b, c, d), e.g. calc %.1f 'a / b' 3 4
calc() {
	local fmt=$1 expr=$2
	awk -v a="${3:-0}" -v b="${4:-0}" -v c="${5:-0}" -v d="${6:-0}" "BEGIN { printf \"$fmt\", $expr }"
}
