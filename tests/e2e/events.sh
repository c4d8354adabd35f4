#!/bin/sh
# events.sh: audit --events, the NDJSON stream for SIEM pipelines.
# Offline, on the demo capture: every line is a JSON object with an RFC 3339 timestamp (microseconds) and
# an event_type; one flow event per flow on a port of the pack, with Suricata's address keys; a finding per
# finding of the report; one stats event with the report's counts. A second run appends; --events-rotate
# keeps whole lines in both files; an input named as the events file is refused.
# Live, in two network namespaces (socat as the broker): a path ok in the first intervals, then its server
# gone: a finding event with previous "ok"; interim stats at each interval; SIGINT ends with a final one.
# The live part is skipped, saying why, without root or network namespaces.
# Usage: events.sh FLOWAUDIT
set -u
e2e_name=events; . "$(dirname "$0")/lib.sh"
chmod 1777 "$work"
C=fa-evc-$$ S=fa-evs-$$
e2e_ns="$C $S" # the live part's, when it runs
checks=0
pass() { checks=$((checks + 1)); echo "e2e events: $*"; }
"$top/tools/deps.sh" e2e >/dev/null 2>&1 || true
command -v jq >/dev/null || { echo "e2e events: skipped: jq is not installed"; exit 0; }

# valid FILE: every line a JSON object with the common keys, and the file ends with a newline
valid() {
	[ -s "$1" ] || fail "$1 is empty"
	[ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] || fail "$1 does not end with a whole line"
	jq -e -c 'select((.timestamp | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$") | not)
		or (.event_type | IN("flow", "finding", "stats") | not)
		or (.event_type == "flow" and ((.src_ip and .src_port and .dest_ip and .dest_port and .proto
			and .flow.verdict and .flow.start and .flow.end) | not))
		or (.event_type == "finding" and ((.finding.status and (.finding | has("previous"))) | not))
		or (.event_type == "stats" and ((.stats.paths and (.stats.packets >= 0)) | not)))' "$1" >"$work/bad" 2>"$work/jq.err"
	[ $? -eq 4 ] || fail "$1: lines that do not parse or lack keys: $(head -c 600 "$work/bad") $(cat "$work/jq.err")"
}

# 1. Offline, the demo.
ev="$work/demo.ndjson"
"$bin" audit -r "$top/pcaps/demo.pcap" -s "$top/rules/demo.site" --events "$ev" --sensor dc1-span --format json \
	-o "$work/demo.json" 2>/dev/null
[ $? -eq 1 ] || fail "demo: exit status"
valid "$ev"
flows=$(jq -s '[.[] | select(.event_type == "flow")] | length' "$ev")
want=$("$bin" audit -r "$top/pcaps/demo.pcap" -s "$top/rules/demo.site" --format json --flows 2>/dev/null |
	jq '[.flows[] | select(.verdict != "not-a-connection")] | length')
[ "$flows" -gt 0 ] && [ "$flows" -le "$want" ] || fail "demo: $flows flow events for $want flows"
findings=$(jq -s '[.[] | select(.event_type == "finding")] | length' "$ev")
report=$(jq '([.edges[] | select(.status != "ok" and .level == "required")] | length) + (.unexpected | length)' "$work/demo.json")
[ "$findings" = "$report" ] || fail "demo: $findings finding events, the report has $report findings"
jq -s -e --slurpfile r "$work/demo.json" '[.[] | select(.event_type == "stats")] | length == 1 and
	.[0].stats.paths.blocked == $r[0].summary.blocked and .[0].sensor == "dc1-span"' "$ev" >/dev/null ||
	fail "demo: stats $(grep '"stats"' "$ev")"
jq -e '.sensor == "dc1-span"' "$work/demo.json" >/dev/null || fail "demo: the report names no sensor"
pass "offline: $flows flow events, $findings findings as in the report, one stats event; every line parses"

# 2. Appended, never truncated; rotated at a size, whole lines in both files; an input is never the events file.
n1=$(wc -l <"$ev")
"$bin" audit -r "$top/pcaps/demo.pcap" -s "$top/rules/demo.site" --events "$ev" -o /dev/null 2>/dev/null
[ "$(wc -l <"$ev")" -eq $((n1 * 2)) ] || fail "second run: $(wc -l <"$ev") lines, not $((n1 * 2))"
rot="$work/rot.ndjson"
"$bin" audit -r "$top/pcaps/demo.pcap" -s "$top/rules/demo.site" --events "$rot" --events-rotate 24K -o /dev/null 2>/dev/null
[ -s "$rot.1" ] && [ -s "$rot" ] || fail "rotation: $(ls -l "$work")"
valid "$rot.1"
valid "$rot"
[ $(($(wc -l <"$rot") + $(wc -l <"$rot.1"))) -eq "$n1" ] || fail "rotation lost lines"
cp "$top/pcaps/demo.pcap" "$work/in.pcap"
"$bin" audit -r "$work/in.pcap" -s "$top/rules/demo.site" --events "$work/in.pcap" >/dev/null 2>&1
[ $? -eq 2 ] && cmp -s "$work/in.pcap" "$top/pcaps/demo.pcap" || fail "the input as the events file"
pass "appended on a second run; rotated at 24K into whole lines; an input is refused as the events file"

# 3. Live.
[ "$(id -u)" -eq 0 ] || { echo "e2e events: live part skipped: needs root"; echo "e2e events: passed ($checks checks)"; exit 0; }
ip netns add $C 2>/dev/null && ip netns add $S 2>/dev/null ||
	{ echo "e2e events: live part skipped: no network namespaces"; echo "e2e events: passed ($checks checks)"; exit 0; }
for ns in $C $S; do ip -n $ns link set lo up; done
ip -n $S link add s-c type veth peer name c-s netns $C || fail "veth"
ip -n $C link set c-s up
ip -n $S link set s-c up
ip -n $C addr add 192.0.2.20/24 dev c-s
ip -n $S addr add 192.0.2.10/24 dev s-c
cat >"$work/live.site" <<'EOF'
host pmc1   192.0.2.10 role=pmc,broker
host agent1 192.0.2.20 role=agent brokers=pmc1
EOF
chmod 644 "$work/live.site"
ip netns exec $S setsid socat TCP-LISTEN:61617,reuseaddr,fork SYSTEM:"echo hello" >/dev/null 2>&1 </dev/null &
sleep 0.5
lev="$work/live.ndjson"
ip netns exec $S "$bin" audit -i s-c -s "$work/live.site" --interval 1 --events "$lev" -o "$work/live.txt" \
	2>"$work/live.err" &
fa=$!
for _ in $(seq 50); do grep -q '"stats"' "$lev" 2>/dev/null && break; sleep 0.1; done
for _ in 1 2 3; do
	ip netns exec $C socat -u TCP:192.0.2.10:61617,connect-timeout=2 - >/dev/null 2>&1
	sleep 0.3
done
sleep 2.5
ip netns pids $S | grep -v "^$fa\$" | xargs -r kill 2>/dev/null # the broker goes away: resets from now on
kill -0 $fa 2>/dev/null || fail "the sensor died: $(cat "$work/live.err")"
for _ in 1 2 3 4; do
	ip netns exec $C socat -u TCP:192.0.2.10:61617,connect-timeout=2 - >/dev/null 2>&1
	sleep 0.3
done
sleep 2.5
kill -INT $fa
wait $fa
valid "$lev"
jq -s -e '[.[] | select(.event_type == "stats" and .stats.interim)] | length >= 3' "$lev" >/dev/null ||
	fail "live: interim stats $(grep -c stats "$lev")"
jq -s -e '[.[] | select(.event_type == "stats")] | last | .stats.interim == false' "$lev" >/dev/null ||
	fail "live: no final stats"
jq -s -e '[.[] | select(.event_type == "finding" and .finding.port == 61617)] |
	any(.finding.previous == "ok" and (.finding.status == "degraded" or .finding.status == "blocked"))' "$lev" >/dev/null ||
	fail "live: no change of 61617 from ok: $(grep 61617 "$lev" | grep finding)"
jq -s -e '[.[] | select(.event_type == "finding" and .finding.port == 61617) | .finding.status] == ["missing", "ok", "degraded"]' \
	"$lev" >/dev/null || fail "live: 61617 should go missing, ok, degraded, each said once: $(grep finding "$lev" | grep 61617)"
[ "$(jq -s '[.[] | select(.event_type == "flow" and .dest_port == 61617)] | length' "$lev")" -ge 7 ] ||
	fail "live: flow events $(grep -c '"flow"' "$lev")"
pass "live: interim stats each interval; 61617 missing, ok, then degraded (previous ok), each change once; 7 flow events; a final stats"
echo "e2e events: passed ($checks checks)"
