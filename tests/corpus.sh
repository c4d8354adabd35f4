#!/bin/bash
# Run flowaudit over every capture of the public corpus (../shared/corpus, never copied here).
# Readable files must exit 0 or 1; those MANIFEST.tsv marks unreadable must exit 2 with one line on
# stderr. Any sanitizer report, crash or hang (over 60 s) fails the run. A pcap file in this machine's
# byte order, read by flowaudit's own record reader, is read again through libpcap (FLOWAUDIT_READER):
# the two reports, warnings and exit statuses must be the same. Usage: corpus.sh BINARY CORPUS
set -u
bin=$1 corpus=$2
[ -f "$corpus/MANIFEST.tsv" ] || { echo "corpus.sh: no corpus at $corpus, skipped"; exit 0; }
out=$(mktemp -d) || exit 2
trap 'rm -rf "$out"' EXIT
export ASAN_OPTIONS=exitcode=86:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:exitcode=87:print_stacktrace=1
# file <TAB> readable|unreadable <TAB> format (pcap/le/usec, pcapng/le/nsec, ...)
awk -F'\t' 'NR > 1 { print $1 "\t" ($8 == "readable" ? "readable" : "unreadable") "\t" $9 }' "$corpus/MANIFEST.tsv" > "$out/list"
native=le
cutmsg='s/\(cut short after packet [0-9]*\):[^"]*/\1/'
[ "$(printf '\001\000' | od -An -tu2 | tr -d ' ')" = 1 ] || native=be
one() {
	f=$1 kind=$2 format=$3
	err="$out/err.$(printf %s "$f" | tr / _)"
	rep="$out/rep.$(printf %s "$f" | tr / _)"
	timeout 60 "$bin" audit -r "$corpus/$f" -s rules/demo.site --flows --format json > "$rep" 2> "$err"
	rc=$?
	case "$format" in
	pcap/$native/*)
		FLOWAUDIT_READER=libpcap timeout 60 "$bin" audit -r "$corpus/$f" -s rules/demo.site --flows --format json \
			> "$rep.lib" 2> "$err.lib"
		rc2=$?
		# where a file was cut must agree; how each reader words it may not
		same() { cmp -s <(sed "$cutmsg" "$1") <(sed "$cutmsg" "$2"); }
		{ [ "$rc" -eq "$rc2" ] && same "$rep" "$rep.lib" && same "$err" "$err.lib"; } ||
			echo "FAIL $f: our reader and libpcap's disagree (exit $rc and $rc2)"
		rm -f "$rep.lib" "$err.lib" ;;
	esac
	rm -f "$rep"
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
while IFS='	' read -r f kind format; do
	one "$f" "$kind" "$format" &
	n=$((n + 1))
	[ $((n % 2)) -eq 0 ] && wait
done < "$out/list" > "$out/log"
wait
fails=$(grep -c '^FAIL' "$out/log")
cat "$out/log"
echo "corpus: $n captures, $fails failures"
[ "$fails" -eq 0 ]
