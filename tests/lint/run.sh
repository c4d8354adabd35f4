#!/bin/sh
# Golden tests of `flowaudit lint`: each tests/lint/NAME.{rules,site} has NAME.err, the exact stderr
# expected (paths as given), and exit status 2. A case without .err must lint clean (exit 0).
set -u
bin=${1:-build/release/flowaudit}
dir=$(dirname "$0")
fail=0 n=0
for f in "$dir"/*.rules "$dir"/*.site; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	exp="${f%.*}.err"
	got=$("$bin" lint "$f" 2>&1 >/dev/null); rc=$?
	if [ -f "$exp" ]; then
		if [ $rc -ne 2 ] || [ "$got" != "$(cat "$exp")" ]; then
			echo "FAIL $f (exit $rc)"; printf '%s\n' "$got" | diff -u "$exp" - ; fail=$((fail + 1))
		fi
	elif [ $rc -ne 0 ]; then
		echo "FAIL $f: expected clean, exit $rc: $got"; fail=$((fail + 1))
	fi
done
echo "lint goldens: $n cases, $fail failed"
[ $fail -eq 0 ]
