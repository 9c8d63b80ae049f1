#!/bin/bash
# make bench / make bench-quick: figures side by side with a baseline measured
# in the same run, as a ratio. Prints a table and writes $BUILD/bench/results.json.
# Never part of make check: timings belong here, not in tests.
#
# The figures come from bench/bench-*.sh (one per subject), which print lines
#   figure|value|unit|baseline name|baseline value|goal|result
# where result is pass, short, "-" (no goal) or "skipped: reason" (value "-").
set -euo pipefail
BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
# On the disk, not tmpfs: the storage figures need /proc/PID/io write_bytes.
work=$(mktemp -d /tmp/shouwang-bench-XXXXXX)
if [[ "${KEEP_BENCH:-0}" == 1 ]]; then
	trap 'echo "bench: files kept in $work" >&2' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$BUILD/bench"
out="$BUILD/bench/results.json"
start=$SECONDS

rows=()
json_items=()

now_ns() { date +%s%N; }
json_str() { # a JSON string
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}
json_num() { # a JSON number, or null for "-" and anything else that is not a number
	if [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}

# add_row FIGURE VALUE UNIT BASELINE_NAME BASELINE_VALUE GOAL_TEXT RESULT
add_row() {
	local ratio="-"
	if [[ "$2" =~ ^[0-9.]+$ && "$5" =~ ^[0-9.]+$ ]] && awk -v b="$5" 'BEGIN { exit !(b > 0) }'; then
		ratio=$(awk -v a="$2" -v b="$5" 'BEGIN { printf "%.2f", a / b }')
	fi
	local value="$2 $3" base="$4: $5 $3"
	[[ "$2" == "-" ]] && value="-"
	[[ "$4" == "-" ]] && base="-"
	rows+=("$1|$value|$base|$ratio|$6|$7")
	json_items+=("{\"figure\":$(json_str "$1"),\"value\":$(json_num "$2"),\"unit\":$(json_str "$3"),\"baseline\":$(json_str "$4"),\"baseline_value\":$(json_num "$5"),\"ratio\":$(json_num "$ratio"),\"goal\":$(json_str "$6"),\"result\":$(json_str "$7")}")
}

# ---- the machine --------------------------------------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
fs=$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work")
disk=$("$BUILD/bench/disk-probe" "$work" 200)
machine="$(uname -m), $(nproc) cores ($cpu), Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "bench: $machine" >&2
echo "bench: work directory $work on $fs; fdatasync of 4 KiB there: $disk" >&2

# ---- 8. roster import: 10,000 residents, 10,000 sensors from CSV ---------------------------------------------------
n=10000
[[ "$QUICK" == 1 ]] && n=2000
csv="$work/residents.csv"
{
	echo "id,name,building,flat,lives_alone,phone,notes"
	for ((i = 1; i <= n; i++)); do
		b=$(( (i - 1) / 40 + 1 ))
		printf 'R%05d,居民%05d,B%03d,%d%02d,%s,1380000%04d,"备注, 第 %d 行"\n' \
			"$i" "$i" "$b" $(( (i % 6) + 1 )) $(( i % 40 )) $([[ $((i % 3)) == 0 ]] && echo 是 || echo 否) \
			$(( i % 10000 )) "$i"
	done
} >"$csv"

# Baseline: SQLite's own CSV import into a plain table (no checks, no encoding
# detection, no normalisation) — the floor for "a CSV into SQLite".
sqlite_import() { # sqlite_import CSV TABLE: milliseconds
	local t0 t1
	t0=$(now_ns)
	sqlite3 "$work/base-$2.db" "PRAGMA journal_mode=WAL;" ".import --csv $1 $2" >/dev/null
	t1=$(now_ns)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'
}
ctl_import() { # ctl_import KIND CSV: milliseconds
	local t0 t1
	t0=$(now_ns)
	"$BUILD/shouwangctl" --db "$db" import "$1" "$2" >/dev/null
	t1=$(now_ns)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'
}
per10k() { awk -v v="$1" -v n="$2" 'BEGIN { print (v * 10000 / n < 1000) ? "pass" : "short" }'; }

db="$work/shouwang.db"
base_ms=$(sqlite_import "$csv" residents)
ms=$(ctl_import residents "$csv")
count=$(sqlite3 "$db" "SELECT count(*) FROM residents")
if [[ "$count" != "$n" ]]; then
	echo "bench: roster import stored $count of $n residents" >&2
	exit 1
fi
add_row "roster import, $n residents (CSV -> store)" "$ms" "ms" "sqlite3 .import" "$base_ms" "< 1000 ms for 10,000" \
	"$(per10k "$ms" "$n")"
# Re-import of the same file: every row unchanged (what committee staff do each week).
ms2=$(ctl_import residents "$csv")
add_row "roster re-import, $n unchanged" "$ms2" "ms" "first import" "$ms" "< 1000 ms for 10,000" "$(per10k "$ms2" "$n")"

# Sensors: one Zigbee2MQTT leak sensor per resident.
scsv="$work/sensors.csv"
awk -v n="$n" 'BEGIN { print "id,resident_id,building,kind,source"
	for (i = 1; i <= n; i++) printf "S%05d-leak,R%05d,,leak,mqtt:zigbee2mqtt/R%05d/leak\n", i, i, i }' >"$scsv"
sbase_ms=$(sqlite_import "$scsv" sensors)
sms=$(ctl_import sensors "$scsv")
count=$(sqlite3 "$db" "SELECT count(*) FROM sensors")
[[ "$count" == "$n" ]] || { echo "bench: roster import stored $count of $n sensors" >&2; exit 1; }
add_row "roster import, $n sensors (CSV -> store)" "$sms" "ms" "sqlite3 .import" "$sbase_ms" "< 1000 ms for 10,000" \
	"$(per10k "$sms" "$n")"

# ---- the other figures (bench/bench-*.sh, one per subject) --------------------------------------------------
for extra in bench/bench-*.sh; do
	[[ -e "$extra" ]] || continue
	echo "bench: $extra …" >&2
	t0=$SECONDS
	while IFS='|' read -r f v u bn bv g p; do
		[[ -n "$f" ]] && add_row "$f" "$v" "$u" "$bn" "$bv" "$g" "$p"
	done < <(BUILD="$BUILD" QUICK="$QUICK" WORK="$work" bash "$extra" || echo "$extra|-|-|-|-|-|skipped: $extra failed (its messages are above)")
	echo "bench: $extra took $((SECONDS - t0)) s" >&2
done

# ---- output -----------------------------------------------------------------------------------------------
echo
echo "machine: $machine"
echo "disk: $fs, fdatasync of 4 KiB: $disk"
printf '\n%-46s %-14s %-34s %-7s %-24s %s\n' "figure" "value" "baseline (same run)" "ratio" "goal" "result"
for r in "${rows[@]}"; do
	IFS='|' read -r f v b ratio g p <<<"$r"
	printf '%-46s %-14s %-34s %-7s %-24s %s\n' "$f" "$v" "$b" "$ratio" "$g" "$p"
done
{
	echo "{\"machine\":$(json_str "$machine"),\"disk\":$(json_str "$fs, fdatasync of 4 KiB: $disk"),\"date\":\"$(date -Iseconds)\",\"quick\":$QUICK,\"seconds\":$((SECONDS - start)),\"figures\":["
	(IFS=,; echo "${json_items[*]}")
	echo "]}"
} >"$out"
echo
echo "bench: wrote $out ($((SECONDS - start)) s)"
