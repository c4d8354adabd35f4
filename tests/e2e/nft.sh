#!/bin/sh
# nft.sh: `flowaudit nft check` against the kernel's own nftables. Three network namespaces (storage
# side C, router R, agent side S; RFC 5737 and 2001:db8:: addresses only, no route out), rulesets
# written the way admins and firewalld write them, a counter on every rule that decides. For each path
# nft check lists, a real connection attempt is made from the client's address; the oracle is the
# kernel: the rule nft check names must be one whose counter moved, and what the client saw (connected,
# refused, unreachable, nothing) must be the verdict's. Then nft render on the agent: the text loads with
# nft -f into the same table the batch of --apply makes, nft check accepts every path, and connections
# through it succeed. Skipped, saying why, without root or network namespaces.
# Usage: nft.sh FLOWAUDIT
set -u
e2e_name=nft; . "$(dirname "$0")/lib.sh"

tag=$$
C=fa-nc-$tag R=fa-nr-$tag S=fa-ns-$tag X=fa-nx-$tag
e2e_netns $C $R $S $X
chmod 755 "$work"
mkdir "$work/out" && chmod 777 "$work/out" # the live sensor writes here after dropping to nobody
cp "$top/rules/peergfs.rules" "$work/" && chmod 644 "$work/peergfs.rules"
checks=0
pass() { checks=$((checks + 1)); echo "e2e nft: $*"; }

for ns in $C $R $S $X; do ip netns add $ns || fail "netns add $ns"; ip -n $ns link set lo up; done
ip -n $R link add r-c type veth peer name c-r netns $C
ip -n $R link add r-s type veth peer name s-r netns $S
up() { # namespace device address...
	n=$1 d=$2
	shift 2
	ip -n $n link set $d up
	for a in "$@"; do
		case $a in
		*:*) ip -n $n -6 addr add $a dev $d nodad ;;
		*) ip -n $n addr add $a dev $d ;;
		esac
	done
}
up $R r-c 192.0.2.1/24 2001:db8:a::1/64
up $R r-s 198.51.100.1/24 2001:db8:b::1/64
up $C c-r 192.0.2.20/24 192.0.2.21/24 192.0.2.22/24 2001:db8:a::20/64
up $S s-r 198.51.100.10/24 2001:db8:b::10/64
ip -n $C route add default via 192.0.2.1
ip -n $S route add default via 198.51.100.1
ip -n $C -6 route add default via 2001:db8:a::1
ip -n $S -6 route add default via 2001:db8:b::1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

cat >"$work/nft.site" <<'EOF'
host agent1      198.51.100.10,2001:db8:b::10 role=agent partner=ontap1
host ontap1-n1   192.0.2.20,2001:db8:a::20    role=ontap-node system=ontap1
host ontap1-mgmt 192.0.2.21                   role=ontap-mgmt system=ontap1
host ontap1-data 192.0.2.22                   role=ontap-data system=ontap1
EOF
site="$work/nft.site"

# Servers: every TCP port of the site's paths on each server side, and UDP receivers counting datagrams.
for p in 443 445 137 139; do
	ip netns exec $C socat TCP-LISTEN:$p,fork,reuseaddr,ipv6only=0,pf=ip6 SYSTEM:true >/dev/null 2>&1 &
done
ip netns exec $S socat TCP-LISTEN:9883,fork,reuseaddr,ipv6only=0,pf=ip6 SYSTEM:true >/dev/null 2>&1 &
for p in 137 138; do
	ip netns exec $C socat -u UDP-RECV:$p OPEN:"$work/udp$p",creat,append >/dev/null 2>&1 &
done
sleep 0.5

# What the client sees: connected, refused, unreachable, or timeout (TCP); delivered or not (UDP).
attempt() { # proto client server port
	if [ "$1" = tcp ]; then
		cns=$C
		case "$2" in 198.51.100.*|2001:db8:b:*) cns=$S ;; esac
		dst=$3
		case "$3" in *:*) dst="[$3]" ;; esac
		err=$(ip netns exec $cns socat -T1 /dev/null TCP:$dst:$4,bind=[$2],connect-timeout=1.5 2>&1 >/dev/null)
		rc=$?
		case "$err" in
		*"refused"*) echo refused ;;
		*"No route to host"*|*"unreachable"*|*"prohibited"*|*"Permission denied"*) echo unreachable ;;
		*"timed out"*|*"Operation now in progress"*) echo timeout ;;
		*) [ $rc -eq 0 ] && echo connected || echo "other: $err" ;;
		esac
	else
		before=$(wc -c <"$work/udp$4" 2>/dev/null || echo 0)
		echo x | ip netns exec $S socat -u - UDP:$3:$4,bind=$2 2>/dev/null
		sleep 0.3
		after=$(wc -c <"$work/udp$4" 2>/dev/null || echo 0)
		[ "$after" -gt "$before" ] && echo delivered || echo lost
	fi
}

# Every rule's counter in the namespace: "family table chain handle packets" lines.
counters() {
	ip netns exec $1 nft -j list ruleset | jq -r '.nftables[] | select(.rule) | .rule |
		select([.expr[] | has("counter")] | any) |
		"\(.family) \(.table) \(.chain) \(.handle) \([.expr[] | select(has("counter")) | .counter.packets][0])"'
}

# Run nft check in namespace $1 (options after), then the oracle over every path it lists.
oracle() {
	ns=$1 name=$2
	shift 2
	ip netns exec $ns "$bin" nft check -s "$site" --format json "$@" >"$work/check.json"
	rc=$?
	[ $rc -le 1 ] || fail "$name: nft check exit $rc"
	n=$(jq '.paths | length' "$work/check.json")
	[ "$n" -gt 0 ] || fail "$name: no path crosses $ns"
	i=0
	while [ $i -lt "$n" ]; do
		jq -r ".paths[$i] | \"\(.proto) \(.client_addr) \(.server_addr) \(.port) \(.verdict) \(.rule.family // \"-\") \(.rule.table // \"-\") \(.rule.chain // \"-\") \(.rule.handle // .rule.policy // \"-\") \(.reject_with // \"-\")\"" \
			"$work/check.json" >"$work/path"
		read -r proto cl sv port verdict fam tab chn where rej <"$work/path"
		counters $ns >"$work/before"
		seen=$(attempt $proto $cl $sv $port)
		counters $ns >"$work/after"
		label="$name: $proto $cl -> $sv:$port $verdict at $fam $tab $chn $where"
		case "$verdict/$proto/$seen" in
		accept/tcp/connected|accept/udp/delivered|drop/tcp/timeout|drop/udp/lost|reject/udp/lost) ;;
		reject/tcp/refused) [ "$rej" = "tcp reset" ] || [ "${rej#*port-unreachable}" != "$rej" ] || fail "$label ($rej): the client saw $seen" ;;
		reject/tcp/unreachable) [ "$rej" != "tcp reset" ] || fail "$label: the client saw $seen" ;;
		*) fail "$label: the client saw $seen" ;;
		esac
		case "$where" in
		[0-9]*)
			b=$(awk -v k="$fam $tab $chn $where" '$1" "$2" "$3" "$4 == k { print $5 }' "$work/before")
			a=$(awk -v k="$fam $tab $chn $where" '$1" "$2" "$3" "$4 == k { print $5 }' "$work/after")
			[ -n "$a" ] || fail "$label: no counter on that rule"
			[ "$a" -gt "$b" ] || fail "$label: its counter did not move ($b -> $a)" ;;
		esac
		pass "$label; the client saw $seen"
		i=$((i + 1))
	done
	echo $rc >"$work/rc"
}

# 1. An admin's router: forward policy drop, ct state first, a concatenation, reject variants, a
#    jump/goto/return, named interval and plain sets, a verdict map. The IPv6 path falls to the policy.
ip netns exec $R nft -f - <<'EOF' || fail "ruleset 1 does not load"
table inet filter {
	set storage { type ipv4_addr; flags interval; elements = { 192.0.2.16/28 }; }
	set smb { type inet_service; elements = { 445, 4450 }; }
	chain rest { ip daddr 192.0.2.21 counter accept; counter reject with tcp reset; }
	chain agents {
		ip daddr @storage tcp dport @smb counter accept
		tcp dport 443 counter goto rest
		counter return
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related counter accept
		ip saddr . tcp dport { 192.0.2.20 . 9883 } counter reject with icmpx admin-prohibited
		tcp dport 139 counter reject with tcp reset
		ip saddr 198.51.100.0/24 counter jump agents
		meta l4proto udp counter udp dport vmap { 137 : drop, 138 : accept }
	}
}
EOF
oracle $R "router"
[ "$(cat "$work/rc")" = 1 ] || fail "router: nft check exit $(cat "$work/rc") with required paths blocked"
jq -e '[.paths[] | select(.port == 9883 and .client_addr == "2001:db8:a::20")][0] | .verdict == "drop" and .rule.policy == "drop" and .text == "policy drop"' "$work/check.json" >/dev/null ||
	fail "router: the IPv6 FPolicy path is not the policy's"
jq -e '[.paths[] | select(.port == 443)][0] | .rule.chain == "rest" and (.chains | length) == 1 and .chains[0].chain == "forward"' "$work/check.json" >/dev/null ||
	fail "router: the REST path is not decided in the chain goto led to"
pass "router: exit 1; the IPv6 path decided by the policy, the REST path in the chain reached by goto"

# audit --nft, live on the router: each blocked path names what this ruleset does to it.
chmod 644 "$site"
ip netns exec $R "$bin" audit -i any -s "$site" -R "$work/peergfs.rules" --nft --format json -o "$work/out/live.json" \
	2>"$work/sensor.err" &
sensor=$!
sleep 2
kill -0 $sensor 2>/dev/null || fail "audit --nft did not start: $(cat "$work/sensor.err")"
attempt tcp 192.0.2.20 198.51.100.10 9883 >/dev/null
attempt tcp 198.51.100.10 192.0.2.22 139 >/dev/null
attempt tcp 198.51.100.10 192.0.2.22 137 >/dev/null
attempt tcp 198.51.100.10 192.0.2.21 443 >/dev/null
sleep 1
kill -INT $sensor
wait $sensor
[ -s "$work/out/live.json" ] || fail "audit --nft wrote no report: $(cat "$work/sensor.err")"
h9883=$(jq -r '[.paths[] | select(.port == 9883 and .client_addr == "192.0.2.20")][0].rule.handle' "$work/check.json")
jq -e --arg h "$h9883" '[.edges[] | select(.port == 9883 and .client_addr == "192.0.2.20")][0] |
	.status == "blocked" and (.firewall | startswith("rejected here with icmpx admin-prohibited: inet filter forward handle \($h) `ip saddr . tcp dport"))' \
	"$work/out/live.json" >/dev/null || fail "audit --nft: the blocked FPolicy path does not name its rule: $(jq -c '.edges[] | select(.port == 9883)' "$work/out/live.json")"
jq -e '[.edges[] | select(.port == 137 and .proto == "tcp")][0] | .status == "blocked" and .firewall == "dropped here: inet filter forward policy drop"' \
	"$work/out/live.json" >/dev/null || fail "audit --nft: the policy drop is not named: $(jq -c '.edges[] | select(.port == 137)' "$work/out/live.json")"
jq -e '[.edges[] | select(.port == 443)][0] | .status == "ok" and (has("firewall") | not)' "$work/out/live.json" >/dev/null ||
	fail "audit --nft: an ok path carries a firewall note"
pass "audit --nft: blocked paths name the rule or policy that decides them here"

# 2. firewalld's shape: zones dispatched by interface with goto, allow chains, a final reject with
#    icmpx admin-prohibited; and a second table on the same hook at an earlier priority that drops.
ip netns exec $R nft flush ruleset
ip netns exec $R nft -f - <<'EOF' || fail "ruleset 2 does not load"
table ip early {
	chain screen { type filter hook forward priority -10; policy accept; udp dport 138 counter drop; }
}
table inet firewalld {
	chain filter_FORWARD {
		type filter hook forward priority filter + 10; policy accept;
		ct state { established, related } counter accept
		ct status dnat accept
		iifname "lo" accept
		ct state invalid drop
		counter jump filter_FORWARD_ZONES
		counter reject with icmpx admin-prohibited
	}
	chain filter_FORWARD_ZONES {
		iifname "r-s" goto filter_FWD_internal
		goto filter_FWD_public
	}
	chain filter_FWD_internal { jump filter_FWD_internal_allow; }
	chain filter_FWD_internal_allow { tcp dport { 443, 445 } ct state { new, untracked } counter accept; }
	chain filter_FWD_public { meta nfproto ipv4 tcp dport 9883 ct state new counter accept; }
}
EOF
oracle $R "firewalld"
jq -e '[.paths[] | select(.proto == "udp" and .port == 138)][0] | .verdict == "drop" and .rule.table == "early" and (.chains | length) == 1' "$work/check.json" >/dev/null ||
	fail "firewalld: the earlier table's drop is not the decision"
jq -e '[.paths[] | select(.proto == "udp" and .port == 137)][0] | (.chains | map(.table)) == ["early", "firewalld"]' "$work/check.json" >/dev/null ||
	fail "firewalld: both base chains are not listed in priority order"
pass "firewalld: two base chains on one hook met in priority order"

# 3. The agent host itself: input for the notification path, output for its own paths.
ip netns exec $R nft flush ruleset
ip netns exec $S nft -f - <<'EOF' || fail "ruleset 3 does not load"
table inet host {
	chain input { type filter hook input priority 0; policy drop; ct state established,related accept; iifname "lo" accept; }
	chain output { type filter hook output priority 0; policy accept; udp dport 137 counter drop; }
}
EOF
oracle $S "agent host" --host agent1
jq -e '[.paths[] | select(.port == 9883)] | all(.hook == "input" and .verdict == "drop")' "$work/check.json" >/dev/null ||
	fail "agent host: the notification path is not met on input"
pass "agent host: paths met on input and output"

# 4. nft render on the agent: the text as nft -f loads it, and the batch, make the same table; then
#    every path of the agent is accepted there, and connections through it succeed.
"$bin" nft render -s "$site" --host agent1 >"$work/render.nft" || fail "render exit $?"
ip netns exec $X nft -f "$work/render.nft" || fail "the rendered text does not load"
ip netns exec $X nft -f "$work/render.nft" || fail "the rendered text does not load twice"
ip netns exec $X nft list table inet flowaudit >"$work/from-text"
ip netns exec $X nft flush ruleset
ip netns exec $X "$bin" nft render -s "$site" --host agent1 --apply || fail "render --apply exit $?"
ip netns exec $X nft list table inet flowaudit >"$work/from-batch"
cmp -s "$work/from-text" "$work/from-batch" || { diff "$work/from-text" "$work/from-batch"; fail "the text and the batch make different tables"; }
pass "render: the text and the batch make the same table ($(grep -c accept "$work/from-batch") accept rules)"
ip netns exec $S nft flush ruleset
# Ruleset 3 dropped the router's neighbour advertisements: forget the failed entries it left.
for ns in $S $R; do ip -n $ns neigh flush all; done
ip netns exec $S "$bin" nft render -s "$site" --host agent1 --apply || fail "render --apply on the agent"
ip netns exec $S "$bin" nft render -s "$site" --host agent1 --apply || fail "render --apply again"
[ "$(ip netns exec $S nft list tables | grep -c flowaudit)" = 1 ] || fail "a second apply left two tables"
oracle $S "rendered" --host agent1
[ "$(cat "$work/rc")" = 0 ] || fail "rendered: nft check exit $(cat "$work/rc")"
jq -e '.paths | all(.verdict == "accept")' "$work/check.json" >/dev/null || fail "rendered: a path is not accepted"
pass "rendered: every path of agent1 accepted by the table and through it (exit 0)"
ip netns exec $S nft flush ruleset
ip netns exec $R "$bin" nft render -s "$site" --router --apply || fail "render --router --apply"
ip netns exec $R nft list chain inet flowaudit input >/dev/null 2>&1 && fail "render --router without --host made an input chain"
oracle $R "rendered router"
[ "$(cat "$work/rc")" = 0 ] || fail "rendered router: nft check exit $(cat "$work/rc")"
pass "rendered router: a forward chain only, every path accepted through it (exit 0)"

# 5. Bad use: no -s, an unknown host, render without --host; exit 2 and a reason.
"$bin" nft check >/dev/null 2>"$work/err"; [ $? = 2 ] && grep -q -- "-s SITE" "$work/err" || fail "nft check without -s"
"$bin" nft check -s "$site" --host nosuch >/dev/null 2>"$work/err"; [ $? = 2 ] && grep -q "nosuch" "$work/err" || fail "unknown host"
"$bin" nft render -s "$site" >/dev/null 2>"$work/err"; [ $? = 2 ] || fail "render without --host"
pass "bad use: exit 2 with the reason"
echo "e2e nft: passed ($checks checks)"
