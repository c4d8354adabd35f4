#!/bin/sh
# merge.sh: flowaudit merge on reports of the demo capture.
# - Two sensors that each see some of the flows (as span ports of two switches would): the demo split by a
#   BPF filter into the flows of the agents' network and the rest. A path one sensor never saw is missing
#   in its report and seen in the other's: seen in the merge. Their merged report has the rows, counts
#   and statuses of the whole capture's report, and each row lists the sensors that saw it.
# - Two sensors that each see one direction of every connection, with --flows: their flows are joined, and
#   the merge equals the whole capture's report row for row (a SYN at one, its SYN-ACK or RST at the other).
# - A report merged with itself: every count doubles, every status stays.
# - A report of another site is refused (exit 2, naming both files), merged with --force; a file that is
#   not JSON is named with its line and column.
# Usage: merge.sh FLOWAUDIT
set -u
e2e_name=merge; . "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "e2e merge: skipped: jq is not installed"; exit 0; }
pcap="$top/pcaps/demo.pcap" site="$top/rules/demo.site"
audit() { # OUT SENSOR [BPF...]
	out=$1 sensor=$2
	shift 2
	"$bin" audit -r "$pcap" -s "$site" --format json --sensor "$sensor" -o "$out" "$@" 2>/dev/null
	[ $? -le 1 ] || fail "audit $sensor"
}
audit "$work/all.json" all
# ICMP errors go with the agents' flows (the flows they are about are theirs): no flow is split.
audit "$work/a.json" agents net 198.51.100.0/24 or icmp or icmp6
audit "$work/b.json" rest not '(' net 198.51.100.0/24 or icmp or icmp6 ')'
"$bin" merge --format json -o "$work/ab.json" "$work/a.json" "$work/b.json"
[ $? -eq 1 ] || fail "merge: exit status (the demo has findings)"
rows='[.edges[], .unexpected[] | {k: "\(.requirement // .why) \(.client_addr) \(.server_addr) \(.proto)/\(.port)",
	v: "\(.status) \(.reason) \(.attempts) \(.established)"}] | sort_by(.k)'
jq -c "$rows" "$work/all.json" >"$work/all.rows"
jq -c "$rows" "$work/ab.json" >"$work/ab.rows"
cmp -s "$work/all.rows" "$work/ab.rows" || fail "merged rows differ from the whole capture's: $(diff "$work/all.rows" "$work/ab.rows" | head -5)"
jq -e --slurpfile w "$work/all.json" '.summary.ok == $w[0].summary.ok and .summary.blocked == $w[0].summary.blocked and
	.summary.unexpected == $w[0].summary.unexpected and ([.merged[].sensor] == ["agents", "rest"])' "$work/ab.json" >/dev/null ||
	fail "summary: $(jq -c .summary "$work/ab.json")"
jq -e '[.edges[] | select(.attempts > 0) | .sensors | map(select(.attempts > 0)) | length] | all(. >= 1)' "$work/ab.json" >/dev/null ||
	fail "a seen row names no sensor that saw it"
"$bin" merge "$work/a.json" "$work/b.json" | grep -q "agents: .* [0-9]*/[0-9]*; rest: " || fail "text: no evidence per sensor"
"$bin" merge --format html -o "$work/ab.html" "$work/a.json" "$work/b.json"
[ "$(grep -c '^<tr><td style' "$work/ab.html")" = "$(jq '[.edges[] | select(.level == "required")] + .unexpected | length' "$work/ab.json")" ] ||
	fail "html: $(grep -c '^<tr><td style' "$work/ab.html") rows"
echo "e2e merge: two sensors seeing disjoint flows merge into the whole capture's rows, counts and statuses (text, JSON, HTML)"

# One direction each: a sensor of the clients' packets, one of the servers' (and the ICMP errors). The
# demo's clients use ports 40000-49999; some of its flows are VLAN and QinQ tagged.
c2s='src portrange 40000-49999'
s2c='dst portrange 40000-49999 or icmp or icmp6'
"$bin" audit -r "$pcap" -s "$site" --format json --flows --sensor c2s -o "$work/c2s.json" \
	"$c2s or (vlan and ($c2s or (vlan and $c2s)))" 2>/dev/null
"$bin" audit -r "$pcap" -s "$site" --format json --flows --sensor s2c -o "$work/s2c.json" \
	"$s2c or (vlan and ($s2c or (vlan and ($s2c))))" 2>/dev/null
"$bin" audit -r "$pcap" -s "$site" --format json --flows -o "$work/whole.json" 2>/dev/null
[ "$(jq -c .summary "$work/c2s.json")" != "$(jq -c .summary "$work/whole.json")" ] || fail "one direction alone is judged as both"
"$bin" merge --format json -o "$work/dir.json" "$work/c2s.json" "$work/s2c.json"
counted='[.edges[], .unexpected[] | select(.attempts > 0) | "\(.requirement // .why) \(.client_addr) \(.server_addr) \(.proto)/\(.port) \(.status) \(.reason) \(.attempts) \(.established) \(.resets) \(.icmp) \(.no_reply)"] | sort | .[]'
jq -r "$counted" "$work/whole.json" >"$work/whole.rows"
jq -r "$counted" "$work/dir.json" >"$work/dir.rows"
cmp -s "$work/whole.rows" "$work/dir.rows" ||
	fail "two one-direction sensors merge otherwise than the whole capture: $(diff "$work/whole.rows" "$work/dir.rows" | head -5)"
jq -e --slurpfile w "$work/whole.json" '.counts.joined and .counts.connections == ($w[0].flows | length) and
	([.summary.ok, .summary.blocked, .summary.degraded, .summary.missing, .summary.unexpected] ==
	 [$w[0].summary.ok, $w[0].summary.blocked, $w[0].summary.degraded, $w[0].summary.missing, $w[0].summary.unexpected])' \
	"$work/dir.json" >/dev/null || fail "joined counts: $(jq -c '[.counts, .summary]' "$work/dir.json")"
jq -e '.counts.joined == false' "$work/ab.json" >/dev/null || fail "reports without --flows are not said to be summed"
echo "e2e merge: two sensors each seeing one direction (--flows) join into the whole capture's rows, counts and statuses"

"$bin" merge --format json -o "$work/aa.json" "$work/all.json" "$work/all.json"
jq -e --slurpfile w "$work/all.json" '[.edges[] | .attempts] == [$w[0].edges[] | .attempts * 2] and
	[.edges[] | .status] == [$w[0].edges[] | .status]' "$work/aa.json" >/dev/null || fail "self-merge"
echo "e2e merge: a report merged with itself doubles every count and keeps every status"

sed 's/^host edge1 .*$/&\nhost extra 192.0.2.250 role=broker/' "$site" >"$work/other.site"
"$bin" audit -r "$pcap" -s "$work/other.site" --format json -o "$work/other.json" 2>/dev/null
"$bin" merge "$work/all.json" "$work/other.json" >"$work/refused.out" 2>"$work/refused.err"
[ $? -eq 2 ] && [ ! -s "$work/refused.out" ] && grep -q "other.json: error: made with another site than .*all.json" "$work/refused.err" ||
	fail "another site: $(cat "$work/refused.err")"
"$bin" merge --force "$work/all.json" "$work/other.json" >/dev/null 2>"$work/forced.err"
[ $? -eq 1 ] && grep -q "warning: .*other.json: made with another site" "$work/forced.err" || fail "--force: $(cat "$work/forced.err")"
printf '{"tool": "flowaudit",\n  "edges": [}\n' >"$work/bad.json"
"$bin" merge "$work/all.json" "$work/bad.json" 2>"$work/bad.err" >/dev/null
[ $? -eq 2 ] && grep -q "bad.json:2:[0-9]*: error: not a JSON report" "$work/bad.err" || fail "bad json: $(cat "$work/bad.err")"
echo "e2e merge: another site refused (merged with --force, with a warning); bad JSON named at its line"
echo "e2e merge: passed"
