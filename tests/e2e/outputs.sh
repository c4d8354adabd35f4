#!/bin/sh
# outputs.sh: outputs never destroy anything. -o replaces a regular file atomically keeping its mode,
# writes into devices and FIFOs in place, follows links; an output that names an input is refused before
# anything is written; write errors (a full disk, a closed stdout) exit 2 for every command; stdin is a
# capture as in tcpdump (-r -); an empty site is an error. Devices are made in a private folder (mknod),
# never touching the machine's own /dev.
# Usage: outputs.sh FLOWAUDIT
set -u
e2e_name=outputs; . "$(dirname "$0")/lib.sh"
n=0
ok() { n=$((n + 1)); }
cd "$work" || exit 1
cp "$top/pcaps/demo.pcap" cap.pcap
cp "$top/rules/demo.site" site.site
cp "$top/rules/peergfs.rules" pack.rules
sum() { cksum <"$1"; }
capsum=$(sum cap.pcap) sitesum=$(sum site.site) packsum=$(sum pack.rules)
audit() { "$bin" audit -r cap.pcap -s site.site -R pack.rules "$@"; }
inputs_intact() {
	[ "$(sum cap.pcap)" = "$capsum" ] && [ "$(sum site.site)" = "$sitesum" ] && [ "$(sum pack.rules)" = "$packsum" ] ||
		fail "$1: an input was changed"
}

# 1. Devices, FIFOs, links and modes.
if [ "$(id -u)" -eq 0 ]; then
	mknod -m 666 null c 1 3 && mknod -m 666 full c 1 7 || fail "mknod"
	audit -o null >/dev/null 2>&1; rc=$?
	[ $rc -eq 1 ] || fail "-o (a null device): exit $rc"
	[ -c null ] || fail "-o replaced a character device with a regular file"
	ok
	audit -o full 2>err; rc=$?
	[ $rc -eq 2 ] || fail "-o (a full device): exit $rc, expected 2"
	grep -q 'No space left on device' err || fail "-o full: no error message: $(cat err)"
	[ -c full ] || fail "-o replaced the full device"
	ok
fi
mkfifo fifo
cat fifo >from-fifo &
reader=$!
audit -o fifo >/dev/null 2>&1; rc=$?
wait $reader
[ $rc -eq 1 ] || fail "-o FIFO: exit $rc"
[ -p fifo ] || fail "-o replaced the FIFO"
grep -q '^Summary:' from-fifo || fail "the FIFO's reader got no report"
ok
echo old >target.txt
ln -s target.txt link.txt
audit -o link.txt >/dev/null 2>&1
[ -L link.txt ] || fail "-o replaced the symbolic link"
grep -q '^Summary:' target.txt || fail "-o through a link did not write the file it names"
ok
echo old >ro.txt
chmod 0444 ro.txt
audit -o ro.txt >/dev/null 2>&1
[ "$(stat -c %a ro.txt)" = 444 ] || fail "-o changed a 0444 file's mode to $(stat -c %a ro.txt)"
grep -q '^Summary:' ro.txt || fail "-o did not replace ro.txt"
ok
audit -o nofolder/r.txt 2>err; rc=$?
[ $rc -eq 2 ] && grep -q 'nofolder/r.txt.*cannot be written' err || fail "-o into a missing folder: exit $rc: $(cat err)"
ok

# 2. An output that names an input, directly or through a link, is refused; nothing is touched.
ln -s cap.pcap cap-link.pcap
ln site.site site-hard.site
for args in "-o cap.pcap" "-o cap-link.pcap" "-o site.site" "-o site-hard.site" "-o pack.rules" \
	"-w cap.pcap" "-w site.site" "-w cap-link.pcap" "-w pack.rules"; do
	# shellcheck disable=SC2086
	audit $args >out 2>err; rc=$?
	[ $rc -eq 2 ] || fail "audit $args: exit $rc, expected 2"
	grep -q 'refusing to overwrite an input' err || fail "audit $args: $(cat err)"
	[ ! -s out ] || fail "audit $args printed a report"
	inputs_intact "audit $args"
	ok
done
"$bin" graph -s site.site -R pack.rules -o site.site 2>err; rc=$?
[ $rc -eq 2 ] && grep -q 'refusing' err || fail "graph -o SITE: exit $rc"
inputs_intact "graph -o SITE"
ok
audit -o same.out -w same.out 2>err; rc=$?
[ $rc -eq 2 ] || { touch same.out; audit -o same.out -w same.out 2>err; rc=$?; }
[ $rc -eq 2 ] || fail "-o and -w the same file: exit $rc"
ok
# An empty (say, truncated) site is an error, not a clean audit.
: >empty.site
"$bin" audit -r cap.pcap -s empty.site -R pack.rules >/dev/null 2>err; rc=$?
[ $rc -eq 2 ] && grep -q 'empty.site:1:1: error: no hosts' err || fail "empty site: exit $rc: $(cat err)"
ok
# -Z with a user that does not exist fails before -w is opened.
echo keep >copy.pcap
"$bin" audit -i lo -s site.site -R pack.rules -Z fa-no-such-user -w copy.pcap 2>err; rc=$?
[ $rc -eq 2 ] && grep -q 'no such user' err || fail "-Z nosuchuser: exit $rc: $(cat err)"
[ "$(cat copy.pcap)" = keep ] || fail "-Z nosuchuser truncated -w first"
ok

# 3. A full stdout is an error for every command.
if [ -c full ]; then
	for cmd in "--version" "--help" "lint site.site" "graph -s site.site" "audit -r cap.pcap -s site.site"; do
		# shellcheck disable=SC2086
		"$bin" $cmd >full 2>err; rc=$?
		[ $rc -eq 2 ] || fail "flowaudit $cmd >/dev/full: exit $rc, expected 2"
		ok
	done
fi

# -r - reads standard input, from a file or a pipe, keeping nanoseconds.
a=$("$bin" audit -r "$top/pcaps/nsec.pcap" -s site.site --format json | jq -c '.capture.first_ts, .summary')
b=$("$bin" audit -r - -s site.site --format json <"$top/pcaps/nsec.pcap" | jq -c '.capture.first_ts, .summary')
c=$(cat "$top/pcaps/nsec.pcap" | "$bin" audit -r - -s site.site --format json | jq -c '.capture.first_ts, .summary')
[ "$a" = "$b" ] && [ "$a" = "$c" ] || fail "-r - differs from -r FILE: '$a' '$b' '$c'"
case "$a" in 1763971200.0000002*) ;; *) fail "nanoseconds lost: $a" ;; esac
ok
# The text report escapes control bytes of file names (JSON and HTML escape them their own way).
evil=$(printf 'evil\033[31m\033]0;title\007.pcap')
cp cap.pcap "$evil"
"$bin" audit -r "$evil" -s site.site >out 2>err
! grep -q "$(printf '\033')" out err || fail "an escape sequence in a file name reached the terminal"
grep -q 'evil\\x1b\[31m' out || fail "the file name is not shown escaped: $(head -1 out)"
ok
# --flows keeps its records in an unnamed file under $TMPDIR, not in memory: a million flows are a file,
# not 80 MB. A full $TMPDIR is an error with the reason (exit 2, no report), never a report short of
# flows; an unwritable one is said at start. The records are every flow of the capture either way.
"$bin" audit -r cap.pcap -s site.site --flows --format json -o flows.json || [ $? -eq 1 ] || fail "--flows"
nflows=$(jq '.flows | length' flows.json)
[ "$nflows" -eq "$(jq '.capture.flows' flows.json)" ] || fail "--flows: $nflows records for $(jq '.capture.flows' flows.json) flows"
ok
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	mkdir small
	"$(dirname "$bin")/mkpcap" --spread 3000 100 0 96 spread.pcap spread.site >/dev/null || fail "mkpcap"
	unshare -m sh -c "mount -t tmpfs -o size=64k tmpfs small && TMPDIR=$work/small '$bin' audit -r spread.pcap \
		-s spread.site --flows --format json -o out.json" 2>err; rc=$?
	[ $rc -eq 2 ] || fail "--flows with a full TMPDIR: exit $rc, expected 2"
	grep -q 'flow records could not be kept.*No space left on device' err || fail "--flows, full TMPDIR: $(cat err)"
	[ ! -e out.json ] || fail "--flows, full TMPDIR: a report was written"
	ok
fi
TMPDIR=$work/nonexistent "$bin" audit -r cap.pcap -s site.site --flows --format json >/dev/null 2>err; rc=$?
[ $rc -eq 2 ] && grep -q 'temporary file for --flows' err || fail "--flows, no TMPDIR: exit $rc: $(cat err)"
ok
# A run ended while it writes its report (SIGTERM, SIGKILL, a crash) leaves the report it was replacing,
# whole, and nothing else beside it: the new report has no name until it is complete. Killed at points
# from the middle of a run to its end, where the report of 200,000 address pairs is being written.
mk="$(dirname "$bin")/mkpcap"
"$mk" --spread 200000 1000 0 96 big.pcap big.site >/dev/null || fail "mkpcap"
mkdir reports
t0=$(date +%s%N)
"$bin" audit -r big.pcap -s big.site -R pack.rules --format json -o reports/r.json >/dev/null 2>&1
ms=$((($(date +%s%N) - t0) / 1000000))
# killed HOW SIGNAL...: one run per signal and point of the run, started by HOW (exec, or hidden below:
# $! is flowaudit's pid once it runs); fails on anything left beside the report, or a report not whole
killed() {
	how=$1
	shift
	for sig in "$@"; do
		for pc in 55 65 75 85 95; do
			echo old >reports/r.json
			("$how" "$bin" audit -r big.pcap -s big.site -R pack.rules --format json -o reports/r.json >/dev/null 2>&1) &
			pid=$!
			sleep "$(awk "BEGIN {print $ms * $pc / 100000}")"
			kill -"$sig" $pid 2>/dev/null
			wait $pid 2>/dev/null
			left=$(ls reports | grep -v '^r.json$')
			[ -z "$left" ] || fail "$how: SIG$sig at $pc% of the run ($ms ms) left $left beside the report"
			[ "$(cat reports/r.json)" = old ] || jq -e .summary reports/r.json >/dev/null ||
				fail "$how: SIG$sig at $pc% of the run: the report is neither the old one nor whole"
		done
	done
}
killed exec TERM KILL TERM KILL
ok
# Without unnamed files (no /proc to name one through, as in some containers), a named one is made and
# the signals that would end the run wait until it is renamed: SIGTERM still leaves nothing behind.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	hidden() { exec unshare -m sh -c 'mount -t tmpfs none /proc && exec "$@"' sh "$@"; }
	(hidden sh -c '[ ! -e /proc/self/fd ]') || fail "/proc could not be hidden"
	killed hidden TERM
	ok
fi
# Where the kernel will not link the finished file (root without CAP_FOWNER, giving the report to the
# owner of the one it replaces: protected hard links), it is copied to a named file beside it instead.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && [ "$(cat /proc/sys/fs/protected_hardlinks)" = 1 ]; then
	echo old >theirs.txt
	chown nobody theirs.txt
	chmod 0444 theirs.txt
	setpriv --bounding-set -fowner,-dac_override,-dac_read_search "$bin" audit -r cap.pcap -s site.site -R pack.rules \
		-o theirs.txt >/dev/null 2>err; rc=$?
	[ $rc -eq 1 ] || fail "-o over another user's report without CAP_FOWNER: exit $rc: $(cat err)"
	grep -q '^Summary:' theirs.txt || fail "-o over another user's report: not replaced"
	[ "$(stat -c '%U %a' theirs.txt)" = "nobody 444" ] || fail "-o over another user's report: $(stat -c '%U %a' theirs.txt)"
	[ -z "$(ls | grep '^theirs.txt.')" ] || fail "-o over another user's report left $(ls | grep '^theirs.txt.')"
	ok
fi
echo "e2e outputs: $n checks passed"
