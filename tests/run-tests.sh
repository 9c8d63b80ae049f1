#!/bin/bash
# Runs each test binary given on the command line, with its output kept in
# $BUILD/test-logs/NAME.log, and prints one closing line "N passed, N failed".
# A test binary exits 0 on success, 77 when it is skipped (with a reason).
set -u
BUILD=${BUILD:-build}
export BUILD
export SHOUWANG_TOP=$(cd "$(dirname "$0")/.." && pwd)
# The daemon under test reads the message templates from the source tree.
export SHOUWANG_SHIPPED_TEMPLATES_DIR="$SHOUWANG_TOP/templates"
logs="$BUILD/test-logs"
mkdir -p "$logs"
rm -f "$logs"/*.log
pass=0 fail=0 skip=0 failed=()
for t in "$@"; do
	name=$(basename "$t")
	start=$(date +%s)
	# Tests must not hang CI: each gets a generous wall-clock limit.
	timeout --kill-after=10 "${TEST_TIMEOUT:-300}" "$t" >"$logs/$name.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	if [ $rc -eq 0 ]; then
		pass=$((pass+1)); printf '  PASS  %-40s (%ss)\n' "$name" "$secs"
	elif [ $rc -eq 77 ]; then
		skip=$((skip+1)); printf '  SKIP  %-40s %s\n' "$name" "$(tail -n1 "$logs/$name.log")"
	else
		fail=$((fail+1)); failed+=("$name")
		printf '  FAIL  %-40s (exit %s, log %s)\n' "$name" "$rc" "$logs/$name.log"
		sed 's/^/      | /' "$logs/$name.log" | tail -n 60
	fi
done
# cmocka prints its own per-binary summaries into the logs; add the totals.
cases_pass=$(grep -h '^\[  PASSED  \]' "$logs"/*.log 2>/dev/null | awk '{s+=$4} END{print s+0}')
cases_fail=$(grep -h '^\[  FAILED  \]' "$logs"/*.log 2>/dev/null | awk '{s+=$4} END{print s+0}')
echo "test cases: $cases_pass passed, $cases_fail failed (in ${#@} programs)"
[ ${#failed[@]} -gt 0 ] && echo "failed programs: ${failed[*]}"
if [ $skip -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail -eq 0 ]
