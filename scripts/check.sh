#!/usr/bin/env bash
# Runs every test of the given build directories: each unit-test program
# that meson knows, then the pytest integration suite against that build's
# columba binary. Prints one closing line "N passed, N failed" for all of it
# and exits non-zero if anything failed (or if nothing ran).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PY=/usr/bin/python3
total_pass=0
total_fail=0
log_dir=$(mktemp -d /tmp/columba-check.XXXXXX)

count_line() {
	# "N passed, N failed" → adds to the totals; no such line = 1 failure
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
	if [ -z "$line" ]; then
		echo "  (no summary line: counted as 1 failure)"
		total_fail=$((total_fail + 1))
		return
	fi
	local p f
	p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

for build in "$@"; do
	case "$build" in
	*asan*) export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
		export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
		label=asan ;;
	*) label=plain ;;
	esac
	echo "=== unit tests ($label build: $build)"
	tests=$(meson introspect --tests "$build" | $PY -c '
import json, sys
for t in json.load(sys.stdin):
    print(t["name"] + "\t" + " ".join(t["cmd"]))')
	while IFS=$'\t' read -r name cmd; do
		[ -n "$name" ] || continue
		out="$log_dir/$label-unit-$name.log"
		timeout 600 $cmd >"$out" 2>&1
		rc=$?
		if [ $rc -eq 77 ]; then
			# the automake/meson convention for "skipped"
			tail -n 1 "$out" | sed "s/^/  $name: skipped: /"
			continue
		fi
		tail -n 1 "$out" | sed "s/^/  $name: /"
		count_line "$out"
		if [ $rc -ne 0 ] && ! grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' "$out"; then
			echo "  $name exited with $rc"; total_fail=$((total_fail + 1))
			tail -n 30 "$out"
		elif grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' "$out"; then
			grep -E 'FAILED|assert|Error|Panic|ERROR' "$out" | head -n 30
		fi
	done <<< "$tests"

	if [ -d tests ] && ls tests/test_*.py >/dev/null 2>&1; then
		echo "=== integration tests ($label build)"
		out="$log_dir/$label-pytest.log"
		COLUMBA_BUILD="$top/$build" timeout 1800 $PY -m pytest -q \
			-p no:cacheprovider tests/ >"$out" 2>&1
		rc=$?
		tail -n 15 "$out"
		summary=$(tail -n 1 "$out")
		p=$(echo "$summary" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
		f=$(echo "$summary" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s+=$1} END {print s+0}')
		if [ $rc -ne 0 ] && [ "$f" = 0 ]; then
			echo "  pytest exited with $rc"; f=1
			tail -n 60 "$out"
		fi
		total_pass=$((total_pass + p))
		total_fail=$((total_fail + f))
	fi
done

echo "logs: $log_dir"
if [ $((total_pass + total_fail)) -eq 0 ]; then
	echo "no test ran"
	total_fail=1
fi
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
