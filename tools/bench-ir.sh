#!/bin/bash
# bench-ir.sh: instructions per packet, stage by stage, counted by callgrind on a tenth of the bench
# capture. Unlike seconds, these counts do not move when the machine is busy, so two builds can be
# compared on a shared virtual machine. Part of `make bench`; prints numbers only.
# Usage: bench-ir.sh BUILD_DIR
set -u
B=$1
D=$B/bench
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
	{ echo "instructions per packet: valgrind not installed, left out"; exit 0; }
mkdir -p "$D"
. "$(dirname "$0")/bench-mix.sh"
bench_gen "$B" "$D" small 100000 5000 0 96 "$D/small.site" || exit 2
pk=$("$B/bench_floor" "$D/small.pcap" | cut -d' ' -f1)

valgrind --tool=callgrind --callgrind-out-file="$D/cg.floor" "$B/bench_floor" "$D/small.pcap" >/dev/null 2>&1
valgrind --tool=callgrind --callgrind-out-file="$D/cg.flowaudit" "$B/flowaudit" audit -r "$D/small.pcap" \
	-s "$D/small.site" --format json -o /dev/null >/dev/null 2>&1
callgrind_annotate --inclusive=yes "$D/cg.flowaudit" >"$D/cg.flowaudit.txt" 2>/dev/null
callgrind_annotate "$D/cg.flowaudit" >"$D/cg.flowaudit.self" 2>/dev/null

total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
# inclusive instructions of one of our functions (src/FILE.c:NAME), 0 when it was inlined away
incl() { awk -v f="$1" '$0 ~ "src/[a-z_]+\\.c:" f "[ .]" { gsub(",", "", $1); print $1; exit }' "$D/cg.flowaudit.txt"; }
self() { awk -v f="$1" '$0 ~ "src/[a-z_]+\\.c:" f "[ .]" { gsub(",", "", $1); print $1; exit }' "$D/cg.flowaudit.self"; }
# what its callers spent in one of our functions, inlined code from headers included (the function's own
# entry leaves out what callgrind files under the header's name)
called() { awk -v f="$1" '$0 ~ "=> .*src/[a-z_]+\\.c:" f " \\(" { gsub(",", "", $1); s += $1 } END { print s + 0 }' "$D/cg.flowaudit.txt"; }
per() { awk -v n="${1:-0}" -v p="$pk" 'BEGIN { printf "%8.0f", p ? n / p : 0 }'; }

# Reading is our record reader (or libpcap's pcap_dispatch()) with our callback, less what the callback hands on to.
# Decoding is inline in the callback (dec_frame() in decode.h): the callback's cost from its callers, less its own.
loop=$(( $(incl cap_read_all) + $(incl flow_drain) ))
cap=$(( $(incl cap_read_all) - $(called worker_take) )) dec=$(( $(called worker_take) - $(incl worker_take) ))
table=$(incl packet) key=$(( $(incl flow_push) - table )) settle=$(incl settle)
printf '\ninstructions per packet (callgrind; %s packets, 100,000 attempts, the same mix and site size)\n' "$pk"
printf '  %-52s %s\n' "libpcap floor (pcap_dispatch, one byte per packet)" "$(per "$(total "$D/cg.floor")")"
printf '  %-52s %s\n' "flowaudit's packet loop" "$(per "$loop")"
printf '  %-52s %s\n' "  reading (the record reader and our callback)" "$(per "$cap")"
printf '  %-52s %s\n' "  decoding (dec_frame, inline in the callback)" "$(per "$dec")"
printf '  %-52s %s\n' "  flow key, hash and prefetch (flow_push)" "$(per "$key")"
printf '  %-52s %s\n' "  flow table and classifier" "$(per "$table")"
printf '  %-52s %s\n' "    of which settling flows (classifier included)" "$(per "$settle")"
printf '  %-52s %s\n' "  the rest (counters, pipeline, calls)" "$(per $(( loop - cap - dec - key - table )))"
printf '  %-52s %11s\n' "once: loading the site (instructions)" "$(incl load_generation)"
printf '  %-52s %11s\n' "once: writing the JSON report (instructions)" "$(incl audit_json)"
