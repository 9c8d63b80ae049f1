#!/bin/bash
# make bench / make bench-quick: figures side by side with a baseline measured
# in the same run, as a ratio. Prints a table and writes $BUILD/bench.json.
# Never part of make check: timings belong here, not in tests.
set -euo pipefail
BUILD=${BUILD:-build}
QUICK=${QUICK:-0}
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
work=$(mktemp -d /tmp/shouwang-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

rows=()      # "figure|value|unit|baseline|goal|pass"
json_items=()

now_ns() { date +%s%N; }

# add_row FIGURE VALUE UNIT BASELINE_NAME BASELINE_VALUE GOAL_TEXT PASS(yes/no/-)
add_row() {
	local ratio="-"
	if [[ "$5" != "-" && "$5" != "0" ]]; then
		ratio=$(awk -v a="$2" -v b="$5" 'BEGIN { printf "%.2f", a / b }')
	fi
	rows+=("$1|$2 $3|$4: $5 $3|$ratio|$6|$7")
	json_items+=("{\"figure\":\"$1\",\"value\":$2,\"unit\":\"$3\",\"baseline\":\"$4\",\"baseline_value\":$5,\"ratio\":\"$ratio\",\"goal\":\"$6\",\"result\":\"$7\"}")
}

# ---- 8. roster import: 10,000 residents from CSV ------------------------------------------------------------
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
base_db="$work/base.db"
t0=$(now_ns)
sqlite3 "$base_db" "PRAGMA journal_mode=WAL;" ".import --csv $csv residents" >/dev/null
t1=$(now_ns)
base_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')

db="$work/shouwang.db"
t0=$(now_ns)
"$BUILD/shouwangctl" --db "$db" import residents "$csv" >/dev/null
t1=$(now_ns)
ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
count=$(sqlite3 "$db" "SELECT count(*) FROM residents")
if [[ "$count" != "$n" ]]; then
	echo "bench: roster import stored $count of $n residents" >&2
	exit 1
fi
pass=$(awk -v v="$ms" -v n="$n" 'BEGIN { print (v * 10000 / n < 1000) ? "pass" : "short" }')
add_row "roster import, $n residents (CSV → store)" "$ms" "ms" "sqlite3 .import" "$base_ms" "< 1000 ms for 10,000" "$pass"

# Re-import of the same file: every row unchanged (what committee staff do each week).
t0=$(now_ns)
"$BUILD/shouwangctl" --db "$db" import residents "$csv" >/dev/null
t1=$(now_ns)
ms2=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
add_row "roster re-import, $n unchanged" "$ms2" "ms" "first import" "$ms" "< 1000 ms for 10,000" \
	"$(awk -v v="$ms2" -v n="$n" 'BEGIN { print (v * 10000 / n < 1000) ? "pass" : "short" }')"

# ---- extra benchmarks (bench/*.sh, one per figure) -----------------------------------------------------
for extra in bench/bench-*.sh; do
	[[ -e "$extra" ]] || continue
	# Each prints lines "figure|value|unit|baseline name|baseline value|goal|pass".
	while IFS='|' read -r f v u bn bv g p; do
		[[ -n "$f" ]] && add_row "$f" "$v" "$u" "$bn" "$bv" "$g" "$p"
	done < <(BUILD="$BUILD" QUICK="$QUICK" WORK="$work" bash "$extra")
done

# ---- output -----------------------------------------------------------------------------------------------
printf '\n%-44s %-14s %-30s %-7s %-24s %s\n' "figure" "value" "baseline (same run)" "ratio" "goal" "result"
for r in "${rows[@]}"; do
	IFS='|' read -r f v b ratio g p <<<"$r"
	printf '%-44s %-14s %-30s %-7s %-24s %s\n' "$f" "$v" "$b" "$ratio" "$g" "$p"
done
{
	echo "{\"machine\":\"$(uname -m) $(nproc) cores\",\"date\":\"$(date -Iseconds)\",\"quick\":$QUICK,\"figures\":["
	(IFS=,; echo "${json_items[*]}")
	echo "]}"
} >"$BUILD/bench.json"
echo
echo "bench: wrote $BUILD/bench.json"
