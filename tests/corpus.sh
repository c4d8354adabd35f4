#!/bin/sh
# Run flowaudit over every capture of the public corpus (../shared/corpus, never copied here).
# Readable files must exit 0 or 1; those MANIFEST.tsv marks unreadable must exit 2 with one line on
# stderr. Any sanitizer report, crash or hang (over 60 s) fails the run. Usage: corpus.sh BINARY CORPUS
set -u
bin=$1 corpus=$2
[ -f "$corpus/MANIFEST.tsv" ] || { echo "corpus.sh: no corpus at $corpus, skipped"; exit 0; }
out=$(mktemp -d) || exit 2
trap 'rm -rf "$out"' EXIT
export ASAN_OPTIONS=exitcode=86:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:exitcode=87:print_stacktrace=1
# file <TAB> readable|unreadable
awk -F'\t' 'NR > 1 { print $1 "\t" ($8 == "readable" ? "readable" : "unreadable") }' "$corpus/MANIFEST.tsv" > "$out/list"
one() {
	f=$1 kind=$2
	err="$out/err.$(printf %s "$f" | tr / _)"
	timeout 60 "$bin" audit -r "$corpus/$f" -s rules/demo.site --flows --format json > /dev/null 2> "$err"
	rc=$?
	lines=$(wc -l < "$err")
	case "$kind:$rc" in
	readable:0|readable:1) ;;
	readable:2) grep -q "is not supported" "$err" && [ "$lines" -eq 1 ] ||
		{ echo "FAIL $f ($kind): exit 2"; head -5 "$err"; } ;;
	unreadable:0|unreadable:1) grep -q "cut short after packet" "$err" ||
		{ echo "FAIL $f ($kind): exit $rc"; head -5 "$err"; } ;;
	unreadable:2) [ "$lines" -eq 1 ] || { echo "FAIL $f: exit 2 but $lines lines on stderr"; cat "$err"; } ;;
	*) echo "FAIL $f ($kind): exit $rc"; head -20 "$err" ;;
	esac
	# A truncated readable file may warn; nothing else may be printed.
	if [ "$rc" -le 1 ] && grep -v "flowaudit: warning:" "$err" | grep -q .; then
		echo "FAIL $f: unexpected stderr"; head -5 "$err"
	fi
	rm -f "$err"
}
n=0
while IFS='	' read -r f kind; do
	one "$f" "$kind" &
	n=$((n + 1))
	[ $((n % 2)) -eq 0 ] && wait
done < "$out/list" > "$out/log"
wait
fails=$(grep -c '^FAIL' "$out/log")
cat "$out/log"
echo "corpus: $n captures, $fails failures"
[ "$fails" -eq 0 ]
