#!/bin/bash
# apps.sh: the recognisers against Zeek's application labels of the public corpus
# (CORPUS/apps/labels.tsv: one row per connection). Each labelled trace is audited once with --flows; a
# connection is matched by its 5-tuple either way round. A label we recognise (tls, smb1/smb2/smb, nfs,
# mount, portmapper, syslog, http, ssh) must be what the flow's app says; any other label is a negative
# that no recogniser may claim (unknown or none is right). "a+b" labels (STARTTLS, websocket) accept either
# part or unknown. Prints agreement per label; fails when below 95% on the rows where tshark agrees
# with Zeek. Usage: apps.sh FLOWAUDIT CORPUS
set -u
bin=$(realpath "$1")
corpus=$(realpath "$2")
labels="$corpus/apps/labels.tsv"
top=$(cd "$(dirname "$0")/.." && pwd)
[ -r "$labels" ] || { echo "apps: skipped: no $labels"; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ours LABEL: the app protocol a flow of that label must carry ("-" for a negative)
ours() {
	case "$1" in
	tls) echo tls ;;
	smb|smb1|smb2) echo smb ;;
	nfs|mount|portmapper) echo onc-rpc ;;
	syslog) echo syslog ;;
	http) echo http ;;
	ssh) echo ssh ;;
	*) echo - ;;
	esac
}

# one line per flow of every labelled trace: pcap proto a aport b bport app
cut -f1 "$labels" | tail -n +2 | sort -u | while read -r pcap; do
	"$bin" audit -r "$corpus/$pcap" -s "$top/rules/demo.site" --flows --format json 2>/dev/null |
		jq -r --arg p "$pcap" '.flows[]? | [$p, (.proto | ascii_upcase), .client_addr, .client_port, .server_addr, .server_port, (.app.protocol // "none")] | @tsv'
done >"$work/flows"

awk -F'\t' -v out="$work/result" '
function ours(l) {
	if (l == "tls") return "tls"
	if (l == "smb" || l == "smb1" || l == "smb2") return "smb"
	if (l == "nfs" || l == "mount" || l == "portmapper") return "onc-rpc"
	if (l == "syslog" || l == "http" || l == "ssh") return l
	return "-"
}
function known(p) { return p == "tls" || p == "smb" || p == "onc-rpc" || p == "syslog" || p == "http" || p == "ssh" || p == "openwire" || p == "fpolicy" || p == "fpolicy-protobuf" }
FNR == NR { k = $1 "|" $2 "|" $3 "|" $4 "|" $5 "|" $6; app[k] = $7; k = $1 "|" $2 "|" $5 "|" $6 "|" $3 "|" $4; app[k] = $7; next }
FNR == 1 { next }
{
	k = $1 "|" $2 "|" $3 "|" $4 "|" $5 "|" $6
	got = (k in app) ? app[k] : "missing"
	label = $8; agrees = ($13 ~ /^yes/)
	if (label ~ /\+/) {
		n = split(label, part, "+"); ok = (got == "unknown" || got == "none")
		for (i = 1; i <= n; i++) if (ours(part[i]) == got) ok = 1
	} else if (ours(label) != "-") {
		ok = (got == ours(label))
	} else {
		ok = !known(got)
	}
	total[label]++; good[label] += ok
	if (agrees) { at++; ag += ok }
	if (!ok) print $1 "\t" $3 ":" $4 " -> " $5 ":" $6 "\t" label "\t" got "\t" $13 > out
}
END {
	for (l in total) printf "%-16s %4d/%-4d\n", l, good[l], total[l] | "sort"
	close("sort")
	printf "where tshark agrees with Zeek: %d/%d (%.1f%%)\n", ag, at, at ? 100 * ag / at : 0
	exit (at && ag / at < 0.95) ? 1 : 0
}' "$work/flows" "$labels"
rc=$?
if [ -s "$work/result" ]; then
	echo "disagreements:"
	cat "$work/result"
fi
[ $rc -eq 0 ] && echo "apps: passed" || echo "apps: FAIL: below 95%"
exit $rc
