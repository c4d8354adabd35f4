#!/bin/bash
# bench.sh: `make bench`. Writes benchmark captures with tools/mkpcap (about 10 million packets of the
# firewall-audit mix: among 2,000 hosts, and spread over prefix hosts so that nearly every attempt is a
# new address pair), then times, one after another on the same file, several runs each (median quoted):
# the libpcap floor, flowaudit (text report and JSON report, each to a file), and the peers that are
# installed. Full payloads and a 96-byte snaplen, each mix. Then memory: RSS per concurrent flow and per
# report row held, RSS over a 10x longer capture, and a SYN flood under --max-flows. Prints numbers only;
# nothing here passes or fails.
# Usage: bench.sh BUILD_DIR [FLOWS] [RUNS]
set -u
B=$1
FLOWS=${2:-1000000}
RUNS=${3:-3}
TURNS=$(( RUNS > 5 ? RUNS : 5 )) # runs of the floor and flowaudit, taken in turn: their ratio is the target
D=$B/bench
mkdir -p "$D"
rate=$((FLOWS / 200)) # flows per second: the capture lasts 200 s
. "$(dirname "$0")/bench-mix.sh"

gen() { # name flows rate flood snaplen [site] (written again when they or the mix change)
	bench_gen "$B" "$D" "$1" "$2" "$3" "$4" "$5" "${6:-$D/bench.site}" || exit 2
}
gen full "$FLOWS" $rate 0 65535
gen snap96 "$FLOWS" $rate 0 96
# The spread mix: the same traffic over prefix hosts, nearly every attempt a new address pair.
BENCH_KIND=spread gen spread-full "$FLOWS" $rate 0 65535 "$D/spread.site"
BENCH_KIND=spread gen spread-snap96 "$FLOWS" $rate 0 96 "$D/spread.site"

# one run of a command: "seconds peak-RSS-KB"
timed() {
	/usr/bin/time -o "$D/time.out" -f "%e %M" "$@" >/dev/null 2>&1
	tail -1 "$D/time.out"
}
# the median of the seconds in lines of "seconds rss" on stdin, and the most RSS of them
median() {
	sort -n | awk '{ t[NR] = $1; if ($2 > r) r = $2 } END { print t[int((NR + 1) / 2)], r + 0 }'
}
# median of the wall-clock seconds of RUNS runs of a command; the most peak RSS (KB) of them
measure() {
	for _ in $(seq "$RUNS"); do timed "$@"; done | median
}

machine=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "machine: $machine, $(nproc) cores; $(date -u +%Y-%m-%d)"
# What random reads of memory cost here: the flow table's packets are mostly such reads (docs/performance.md).
"$B/bench_mem"
for cap in full snap96 spread-full spread-snap96; do
	f=$D/$cap.pcap site=$D/bench.site
	case $cap in spread-*) site=$D/spread.site ;; esac
	pk=$("$B/bench_floor" "$f" | cut -d' ' -f1)
	printf '\ncapture %s: %s packets, %s MB\n' "$cap" "$pk" $(( $(stat -c %s "$f") / 1048576 ))
	printf '%-34s %10s %10s %9s %10s %8s\n' tool "time s" "Mpps" "ns/pkt" "peak MB" "x floor"
	floor=""
	row() { # name seconds rss
		local mpps ns ratio
		mpps=$(awk -v p="$pk" -v t="$2" 'BEGIN { printf "%.2f", (t > 0 ? p / t / 1e6 : 0) }')
		ns=$(awk -v p="$pk" -v t="$2" 'BEGIN { printf "%.1f", (p > 0 ? t * 1e9 / p : 0) }')
		[ -n "$floor" ] || floor=$2
		ratio=$(awk -v f="$floor" -v t="$2" 'BEGIN { printf "%.2f", (t > 0 ? f / t : 0) }')
		printf '%-34s %10s %10s %9s %10s %8s\n' "$1" "$2" "$mpps" "$ns" $(( $3 / 1024 )) "$ratio"
	}
	# The floor and flowaudit (the default text report, and the JSON report of every address pair, each
	# written to a file) are taken in turn, run after run, so that a slow or fast moment of a shared
	# machine falls on all alike (their ratios are the figures that matter).
	rm -f "$D/turns.floor" "$D/turns.text" "$D/turns.json"
	for _ in $(seq "$TURNS"); do
		timed "$B/bench_floor" "$f" >>"$D/turns.floor"
		timed "$B/flowaudit" audit -r "$f" -s "$site" -o "$D/report.txt" >>"$D/turns.text"
		timed "$B/flowaudit" audit -r "$f" -s "$site" --format json -o "$D/report.json" >>"$D/turns.json"
	done
	read -r t m < <(median <"$D/turns.floor"); row "libpcap floor (pcap_dispatch)" "$t" "$m"
	read -r t m < <(median <"$D/turns.text"); row "flowaudit audit (text report)" "$t" "$m"
	fa=$t vs=""
	read -r t m < <(median <"$D/turns.json"); row "flowaudit audit --format json" "$t" "$m"
	rm -f "$D/turns.floor" "$D/turns.text" "$D/turns.json"
	versus() { vs="$vs, $(awk -v a="$2" -v b="$fa" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')x $1"; }
	if command -v tcpdump >/dev/null; then
		read -r t m < <(measure tcpdump -nn -r "$f" -w /dev/null); row "tcpdump -w /dev/null" "$t" "$m"
	else echo "tcpdump: not installed"; fi
	if command -v softflowd >/dev/null; then
		# Offline it reads the file and exits when -r comes first and no control socket is named; it
		# exports to this machine's loopback only.
		read -r t m < <(measure softflowd -r "$f" -d -n 127.0.0.1:9995); row "softflowd" "$t" "$m"
		versus softflowd "$t"
	else echo "softflowd: not installed"; fi
	if command -v nfpcapd >/dev/null; then
		mkdir -p "$D/nf"
		read -r t m < <(measure nfpcapd -r "$f" -l "$D/nf"); row "nfpcapd" "$t" "$m"; rm -rf "$D/nf"
		versus nfpcapd "$t"
	else echo "nfpcapd: not installed"; fi
	if command -v argus >/dev/null; then
		read -r t m < <(measure argus -r "$f" -w "$D/argus.out"); row "argus" "$t" "$m"; rm -f "$D/argus.out"
		versus argus "$t"
	else echo "argus: not installed"; fi
	[ -z "$vs" ] || echo "flowaudit (text report) against the flow trackers: ${vs#, }"
	case $cap in
	spread-snap96)
		rows=$(grep -c '^    {"requirement"\|^    {"client_addr"' "$D/report.json")
		spread_peak=$(sed -n 's/.*"peak_flows": \([0-9]*\).*/\1/p' "$D/report.json")
		read -r _ spread_rss < <(RUNS=1 measure "$B/flowaudit" audit -r "$f" -s "$site" -o "$D/report.txt") ;;
	esac
done

# Memory. Peak RSS against the flows held at once (the report's capture.peak_flows).
echo
"$B/flowaudit" audit -r "$D/snap96.pcap" -s "$D/bench.site" --format json -o "$D/report.json"
peak=$(sed -n 's/.*"peak_flows": \([0-9]*\).*/\1/p' "$D/report.json")
read -r _ base < <(RUNS=1 measure "$B/flowaudit" audit -r "$B/../../pcaps/demo.pcap" -s "$D/bench.site" --format json -o /dev/null)
read -r _ full < <(RUNS=1 measure "$B/flowaudit" audit -r "$D/snap96.pcap" -s "$D/bench.site" --format json -o /dev/null)
per_flow=$(awk -v a="$full" -v b="$base" -v n="$peak" 'BEGIN { printf "%.0f", n ? (a - b) * 1024 / n : 0 }')
echo "memory: base (same site, tiny capture) $((base / 1024)) MB; peak $((full / 1024)) MB with $peak flows held at once:" \
	"$per_flow bytes per concurrent flow"
# What a report row costs: the spread mix's peak (text report) less the base and its flows, per row held.
read -r _ sbase < <(RUNS=1 measure "$B/flowaudit" audit -r "$B/../../pcaps/demo.pcap" -s "$D/spread.site" -o /dev/null)
echo "memory: spread mix peak $((spread_rss / 1024)) MB with $rows report rows and $spread_peak flows held at once:" \
	"$(awk -v a="$spread_rss" -v b="$sbase" -v f="$spread_peak" -v pf="$per_flow" -v n="$rows" \
		'BEGIN { printf "%.0f", n ? ((a - b) * 1024 - f * pf) / n : 0 }') bytes per report row held"

# The same concurrency, a capture 10x longer. Both must outlast the longest timeout (an idle UDP flow is
# held 300 s) and see every address pair of the site (each is a report row): a sixth of the flows at a
# twelfth of the rate (400 s; 20,000 flows held at once), then ten times as many at the same rate
# (4,000 s).
srate=$((rate / 12))
gen steady1 $((srate * 400)) $srate 0 96
gen steady10 $((srate * 4000)) $srate 0 96
held() { sed -n 's/.*"peak_flows": \([0-9]*\).*/\1/p' "$1"; }
read -r _ r1 < <(RUNS=1 measure "$B/flowaudit" audit -r "$D/steady1.pcap" -s "$D/bench.site" --format json -o "$D/steady1.json")
read -r _ r10 < <(RUNS=1 measure "$B/flowaudit" audit -r "$D/steady10.pcap" -s "$D/bench.site" --format json -o "$D/steady10.json")
echo "rss over time: $((r1 / 1024)) MB for $((srate * 400)) flows ($(held "$D/steady1.json") held at most)," \
	"$((r10 / 1024)) MB for 10x as many at the same rate ($(held "$D/steady10.json") held at most):" \
	"$(awk -v a="$r1" -v b="$r10" 'BEGIN { printf "%+.1f", (b - a) * 100 / a }')%"
# What the site's rows cost, all pairs seen: the steady run less its flows at 256 bytes each.
rows_kb=$(( r1 - $(held "$D/steady1.json") / 4 ))

# A SYN flood of 10 million spoofed sources, with the real traffic still in the capture.
gen flood 200000 20000 10000000 96
read -r t m < <(RUNS=1 measure "$B/flowaudit" audit -r "$D/flood.pcap" -s "$D/bench.site" --format json --max-flows 100000 -o "$D/flood.json")
ev=$(sed -n 's/.*"evicted": \([0-9]*\).*/\1/p' "$D/flood.json" | head -1) # the capture's, before any row's
bound=$(( rows_kb + 100000 / 4 ))
echo "syn flood: 10000000 spoofed SYNs + 200000 real attempts, --max-flows 100000: peak $((m / 1024)) MB" \
	"(bound: $((rows_kb / 1024)) MB of site rows + 100000 flows x 256 B = $((bound / 1024)) MB: $([ "$m" -le "$bound" ] && echo under || echo OVER))," \
	"$ev flows evicted, in ${t}s; summary: $(tr -d '\n ' < "$D/flood.json" | sed 's/.*"summary"://')"
