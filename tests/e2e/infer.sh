#!/bin/sh
# infer.sh: audit without a site (the site inferred from the capture, src/infer.c).
# - Every pcaps/*.pcap audited without -s judges each (client, server, proto, port) on the pack's ports
#   as its audit with rules/demo.site does: the same status, row by row.
# - On the demo: --write-site writes a file lint accepts; audited with -s, it gives the inferred audit's
#   rows; hosts say "source": "inferred" and a confidence; a path the inference expects and never saw is unverified
#   (not-seen), never missing; Unity and PowerStore NAS servers (the same ports in the pack) are left
#   out with both names said.
# - Refusals: a capture of SMB alone places no host (exit 2, said); -s with --write-site, and
#   --write-site naming the capture, are usage errors; the capture is never written.
# Usage: infer.sh FLOWAUDIT MKPCAP
set -u
e2e_name=infer; . "$(dirname "$0")/lib.sh"
mk=$(realpath "$2")
command -v jq >/dev/null || { echo "e2e infer: skipped: jq is not installed"; exit 0; }
site="$top/rules/demo.site"

# The pack's ports, as "tcp/445"
"$bin" graph --format json | jq -r '.edges[] | "\(.proto)/\(.port)"' | sort -u >"$work/ports"
[ -s "$work/ports" ] || fail "graph --format json gave no ports"
rows='[.edges[], .unexpected[] | select(.attempts > 0) | "\(.client_addr) \(.server_addr) \(.proto)/\(.port) \(.status)"] | .[]'
n=0
for pcap in "$top"/pcaps/*.pcap; do
	name=$(basename "$pcap" .pcap)
	"$bin" audit -r "$pcap" -s "$site" --format json -o "$work/site.json" 2>/dev/null
	[ $? -le 1 ] || fail "$name: audit with the site"
	"$bin" audit -r "$pcap" --format json -o "$work/inferred.json" 2>"$work/err"
	[ $? -le 1 ] || fail "$name: audit without a site: $(cat "$work/err")"
	for f in site inferred; do
		jq -r "$rows" "$work/$f.json" | awk 'NR == FNR { p[$1] = 1; next } p[$3]' "$work/ports" - | sort >"$work/$f.rows"
	done
	[ -s "$work/site.rows" ] || fail "$name: no row on the pack's ports"
	cmp -s "$work/site.rows" "$work/inferred.rows" ||
		fail "$name: verdicts differ from the site's (< site, > inferred): $(diff "$work/site.rows" "$work/inferred.rows" | head -6)"
	jq -e '.site_inferred.hosts > 0 and ([.hosts[].source] | all(. == "inferred"))' "$work/inferred.json" >/dev/null ||
		fail "$name: the report does not say the site was inferred"
	n=$((n + 1))
done
echo "e2e infer: $n captures judged alike with and without rules/demo.site"

# The demo: the site written, linted, and used
"$bin" audit -r "$top/pcaps/demo.pcap" --format json --write-site "$work/demo.site" -o "$work/inferred.json" 2>/dev/null
[ $? -eq 1 ] || fail "demo: exit status (it has findings)"
"$bin" lint "$work/demo.site" >"$work/lint" 2>&1 || fail "lint refuses the written site: $(head -5 "$work/lint")"
"$bin" audit -r "$top/pcaps/demo.pcap" -s "$work/demo.site" --format json -o "$work/written.json" 2>/dev/null
[ $? -eq 1 ] || fail "audit with the written site"
all='[.edges[], .unexpected[] | "\(.requirement // .why) \(.client_addr) \(.server_addr) \(.proto)/\(.port) \(.status) \(.reason) \(.attempts)"] | sort | .[]'
jq -r "$all" "$work/inferred.json" >"$work/a"
jq -r "$all" "$work/written.json" >"$work/b"
# the same rows, but for what -s changes: a path never seen is missing with a site a person wrote
sed 's/ unverified not-seen 0$/ missing null 0/' "$work/a" >"$work/a2"
cmp -s "$work/a2" "$work/b" || fail "the written site audits otherwise: $(diff "$work/a2" "$work/b" | head -6)"
jq -e '[.edges[] | select(.attempts == 0) | .status] | length > 0 and all(. == "unverified")' "$work/inferred.json" >/dev/null ||
	fail "an inferred path never seen is not unverified"
jq -e '[.edges[] | select(.reason == "not-seen")] | length > 0' "$work/inferred.json" >/dev/null || fail "no not-seen reason"
"$bin" merge --format json -o "$work/merged.json" "$work/inferred.json" "$work/inferred.json"
jq -e --slurpfile i "$work/inferred.json" '.summary.missing == 0 and .summary.unverified == $i[0].summary.unverified' \
	"$work/merged.json" >/dev/null || fail "merged, an inferred path never seen became missing: $(jq -c .summary "$work/merged.json")"
grep -q '^host agent-[0-9]* 198.51.100.11 role=agent,mds partner=system-[0-9]*' "$work/demo.site" ||
	fail "the ONTAP agent (agent and MDS, with its partner): $(grep 198.51.100.11 "$work/demo.site")"
grep -q '^host powerscale-[0-9]* 203.0.113.50 role=powerscale system=system-[0-9]* notify=syslog' "$work/demo.site" ||
	fail "the syslog PowerScale: $(grep 203.0.113.50 "$work/demo.site")"
grep -q '^host agent-[0-9]* 198.51.100.14 .*data=nfs' "$work/demo.site" || fail "the NFS agent: $(grep 198.51.100.14 "$work/demo.site")"
grep -q '^#   203.0.113.70: could be unity or powerstore' "$work/demo.site" ||
	fail "the PowerStore NAS server is not left out with both names"
grep -Eq '^# agent-[0-9]+ 198.51.100.10 \(confidence high: tcp/9(898|440) names its role\): serves tcp/9898 to 1 host' "$work/demo.site" ||
	fail "no evidence comment for the Nutanix agent: $(grep -B1 '198.51.100.10 role' "$work/demo.site" | head -1)"
jq -e '[.hosts[] | select(.addrs == ["198.51.100.11"]) | .confidence] == ["high"] and
	[.hosts[] | select(.addrs == ["203.0.113.23"]) | .confidence] == ["low"]' "$work/inferred.json" >/dev/null ||
	fail "confidence: the FPolicy agent high, the SMB server (an ONTAP data LIF or another storage) low"
"$bin" audit -r "$top/pcaps/demo.pcap" -o "$work/demo.txt" 2>/dev/null
grep -q "against a site inferred from the capture" "$work/demo.txt" || fail "the text report does not say the site was inferred"
"$bin" audit -r "$top/pcaps/demo.pcap" --format html -o "$work/demo.html" 2>/dev/null
grep -q "against a site inferred from the capture" "$work/demo.html" &&
	grep -q "No attempt was seen, and the site was inferred" "$work/demo.html" ||
	fail "the HTML report does not say the site was inferred, or gives a not-seen path the advice of another"

# Refusals
cat >"$work/smb.scenario" <<EOF
link ethernet
time 1763971200
tcp 198.51.100.10 -> 203.0.113.10:445 ok
tcp 198.51.100.11 -> 203.0.113.10:445 ok
EOF
"$mk" "$work/smb.scenario" "$work/smb.pcap" >/dev/null || fail "mkpcap"
"$bin" audit -r "$work/smb.pcap" -o "$work/smb.txt" 2>"$work/err"
[ $? -eq 2 ] || fail "SMB alone: exit status"
grep -q "none could be inferred" "$work/err" || fail "SMB alone: $(cat "$work/err")"
[ ! -e "$work/smb.txt" ] || fail "SMB alone: a report was written"
"$bin" audit -r "$top/pcaps/demo.pcap" -s "$site" --write-site "$work/x.site" 2>/dev/null
[ $? -eq 2 ] || fail "--write-site with -s"
cp "$top/pcaps/demo.pcap" "$work/in.pcap"
"$bin" audit -r "$work/in.pcap" --write-site "$work/in.pcap" 2>/dev/null
[ $? -eq 2 ] || fail "--write-site naming the capture"
cmp -s "$work/in.pcap" "$top/pcaps/demo.pcap" || fail "the capture was written"
echo "e2e infer: ok"
