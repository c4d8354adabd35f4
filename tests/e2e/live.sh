#!/bin/sh
# live.sh: flowaudit on a real router with a real nftables firewall. Four network namespaces (agent,
# broker, storage, router; RFC 5737 and 2001:db8:: addresses only, no route out), veth pairs created
# inside them, real servers (openssl s_server, socat) and real clients. The router's ruleset lets one
# required path through and blocks four others, each its own way; flowaudit captures live on the router
# (-i any), is stopped with SIGINT, and must report exactly those outcomes; its own -w copy of the
# traffic must give the same report offline. Twice: with one capture worker and with two. Skipped, saying why, without root or network namespaces.
# Last, two workers started while traffic already flows (tcpreplay of a tools/mkpcap capture): what they
# report must equal their own -w copy audited offline, no packet counted by both.
# Usage: live.sh FLOWAUDIT MKPCAP
set -u
e2e_name=live; . "$(dirname "$0")/lib.sh"
mkpcap=$(realpath "$2")

tag=$$
A=fa-agent-$tag B=fa-broker-$tag S=fa-storage-$tag R=fa-router-$tag
e2e_netns $A $B $S $R
chmod 755 "$work"
mkdir "$work/out" && chmod 777 "$work/out" # flowaudit writes here after dropping to nobody
# ... and reads the rules and site again on SIGHUP: copies it can read, wherever the checkout lies (a
# private 0700 folder included).
cp "$top/rules/peergfs.rules" "$here/e2e.site" "$work/" && chmod 644 "$work/peergfs.rules" "$work/e2e.site"

for ns in $A $B $S $R; do ip netns add $ns || fail "netns add $ns"; done
# Every veth pair is created inside the namespaces; nothing touches the machine's own namespace.
ip -n $R link add r-a type veth peer name a-r netns $A
ip -n $R link add r-b type veth peer name b-r netns $B
ip -n $R link add r-s type veth peer name s-r netns $S
for ns in $A $B $S $R; do ip -n $ns link set lo up; done
addr() { # ns dev v4/len v6/len
	ip -n $1 link set $2 up
	ip -n $1 addr add $3 dev $2
	ip -n $1 -6 addr add $4 dev $2 nodad
}
addr $R r-a 192.0.2.1/26 2001:db8:a::1/64
addr $R r-b 198.51.100.1/26 2001:db8:b::1/64
addr $R r-s 203.0.113.1/26 2001:db8:c::1/64
addr $A a-r 192.0.2.10/26 2001:db8:a::10/64
addr $B b-r 198.51.100.10/26 2001:db8:b::10/64
addr $S s-r 203.0.113.10/26 2001:db8:c::10/64
ip -n $A route add default via 192.0.2.1
ip -n $B route add default via 198.51.100.1
ip -n $S route add default via 203.0.113.1
ip -n $A -6 route add default via 2001:db8:a::1
ip -n $B -6 route add default via 2001:db8:b::1
ip -n $S -6 route add default via 2001:db8:c::1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# The firewall: four required paths blocked, four different ways.
ip netns exec $R nft -f - <<'NFT' || fail "nft ruleset"
table inet fw {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ip saddr 203.0.113.10 ip daddr 192.0.2.10 tcp dport 9883 drop
		ip daddr 203.0.113.10 tcp dport 443 reject with tcp reset
		ip daddr 203.0.113.10 tcp dport 445 reject with icmp type admin-prohibited
		ip6 daddr 2001:db8:b::10 tcp dport 61617 reject with icmpv6 type admin-prohibited
	}
}
NFT

# Servers: TLS broker (self-signed), ONTAP REST and SMB, the agent's FPolicy listener.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=broker1 -keyout "$work/key.pem" -out "$work/cert.pem" \
	>/dev/null 2>&1 || fail "openssl req"
ip netns exec $B openssl s_server -quiet -accept 61617 -cert "$work/cert.pem" -key "$work/key.pem" \
	</dev/null >/dev/null 2>&1 &
ip netns exec $S socat TCP6-LISTEN:443,ipv6only=0,fork,reuseaddr SYSTEM:true >/dev/null 2>&1 &
ip netns exec $S socat TCP6-LISTEN:445,ipv6only=0,fork,reuseaddr SYSTEM:true >/dev/null 2>&1 &
ip netns exec $A socat TCP6-LISTEN:9883,ipv6only=0,fork,reuseaddr SYSTEM:true >/dev/null 2>&1 &
sleep 1

# One round: the sensor live on the router with $1 capture workers, the clients, the checks.
round() {
	workers=$1
	rm -f "$work/out/live.json" "$work/out/live.pcap"
	# The sensor, live on the router.
	ip netns exec $R "$bin" audit -i any --workers $workers -s "$work/e2e.site" -R "$work/peergfs.rules" --format json \
		-o "$work/out/live.json" -w "$work/out/live.pcap" 2>"$work/sensor.err" &
	sensor=$!
	sleep 2
	kill -0 $sensor 2>/dev/null || fail "flowaudit did not start: $(cat "$work/sensor.err")"

	# Clients.
	ip netns exec $A sh -c 'echo Q | timeout 5 openssl s_client -connect 198.51.100.10:61617 -quiet' >/dev/null 2>&1
	ip netns exec $A timeout 3 socat -u /dev/null TCP:203.0.113.10:443 >/dev/null 2>&1
	ip netns exec $A timeout 3 socat -u /dev/null TCP:203.0.113.10:445 >/dev/null 2>&1
	ip netns exec $A timeout 3 socat -u /dev/null 'TCP6:[2001:db8:b::10]:61617' >/dev/null 2>&1
	ip netns exec $S timeout 4 socat -u /dev/null TCP:192.0.2.10:9883 >/dev/null 2>&1
	sleep 1

	# SIGUSR1: an interim report now; SIGHUP: rules and site read again, flow state kept.
	kill -USR1 $sensor
	sleep 1
	[ -s "$work/out/live.json" ] || fail "SIGUSR1 wrote no interim report"
	jq -e '.edges[] | select(.port == 9883 and .status == "blocked")' "$work/out/live.json" >/dev/null ||
		fail "the interim report lacks the blocked FPolicy path"
	kill -HUP $sensor
	sleep 1
	grep -q "rules and site reloaded" "$work/sensor.err" || fail "SIGHUP did not reload: $(cat "$work/sensor.err")"

	kill -INT $sensor
	wait $sensor
	rc=$?
	[ $rc -eq 1 ] || fail "flowaudit exited $rc (expected 1: findings); stderr: $(cat "$work/sensor.err")"
	report="$work/out/live.json"
	[ -s "$report" ] || fail "no report written"

	# Exactly the configured outcomes: "client_addr server_addr port status reason".
	expect() {
		got=$(jq -r --arg c "$1" --arg s "$2" --argjson p "$3" \
			'.edges[] | select(.client_addr == $c and .server_addr == $s and .port == $p) | "\(.status) \(.reason)"' "$report")
		[ "$got" = "$4 $5" ] || fail "$1 -> $2:$3: expected '$4 $5', got '$got'"
		echo "e2e live ($workers worker(s)): $1 -> $2:$3 $4 $5"
	}
	expect 192.0.2.10 198.51.100.10 61617 ok null
	expect 192.0.2.10 203.0.113.10 443 blocked reset
	expect 192.0.2.10 203.0.113.10 445 blocked icmp-prohibited
	expect 2001:db8:a::10 2001:db8:b::10 61617 blocked icmp-prohibited
	expect 203.0.113.10 192.0.2.10 9883 blocked no-reply
	# Nothing else was attempted, and nothing unexpected was seen (the sensor saw each packet twice).
	others=$(jq '[.edges[] | select(.attempts > 0)] | length' "$report")
	[ "$others" -eq 5 ] || fail "expected 5 edges with attempts, got $others"
	[ "$(jq '.unexpected | length' "$report")" -eq 0 ] || fail "unexpected flows: $(jq -c .unexpected "$report")"
	[ "$(jq '.capture.duplicates' "$report")" -gt 0 ] || fail "-i any should have shown SPAN-like duplicates"
	[ "$(jq '.capture.workers' "$report")" -eq "$workers" ] || fail "the report does not say $workers worker(s)"

	# The same traffic, from flowaudit's own -w capture, offline.
	"$bin" audit -r "$work/out/live.pcap" -s "$work/e2e.site" -R "$work/peergfs.rules" --format json \
		-o "$work/offline.json"
	[ $? -eq 1 ] || fail "offline audit of the -w capture"
	a=$(jq -S '[.edges, .unexpected, .summary]' "$report")
	b=$(jq -S '[.edges, .unexpected, .summary]' "$work/offline.json")
	[ "$a" = "$b" ] || fail "the -w capture audited offline gives a different report:
$(echo "$a" >"$work/a.json"; echo "$b" >"$work/b.json"; diff "$work/a.json" "$work/b.json" | head -40)"
	echo "e2e live ($workers worker(s)): offline audit of the -w capture gives the same report"
}

round 1
# Two workers: the kernel spreads the packets by flow (fanout.c); the ICMP errors must still find
# the worker holding the connection they refuse.
round 2

# Workers started under load. Until every socket has joined the fanout group, each sees every packet;
# those must not be counted twice (they were, once: 61 packets in 3 s at 100,000 packets/s).
"$mkpcap" --bench 40000 8500 0 96 "$work/load.pcap" "$work/load.site" || fail "mkpcap --bench"
ip netns exec $A tcpreplay -q -i a-r --pps=100000 "$work/load.pcap" >/dev/null 2>&1 &
replay=$!
sleep 0.5
ip netns exec $R "$bin" audit -i r-a --workers 2 -s "$work/load.site" --format json \
	-o "$work/out/load.json" -w "$work/out/load.pcap" 2>"$work/sensor.err" &
sensor=$!
sleep 1.5
kill -INT $sensor
wait $sensor
kill $replay 2>/dev/null
wait $replay 2>/dev/null
"$bin" audit -r "$work/out/load.pcap" -s "$work/load.site" --format json -o "$work/offline.json"
n=$(jq '.capture.packets' "$work/out/load.json")
[ "$n" -gt 10000 ] || fail "under load: only $n packets captured: $(cat "$work/sensor.err")"
[ "$(jq '.capture.duplicates' "$work/offline.json")" -eq 0 ] ||
	fail "under load: the -w copy holds packets that reached both workers"
a=$(jq -S '[.edges, .unexpected, .summary]' "$work/out/load.json")
b=$(jq -S '[.edges, .unexpected, .summary]' "$work/offline.json")
[ "$a" = "$b" ] || fail "under load: the -w capture audited offline gives a different report:
$(echo "$a" >"$work/a.json"; echo "$b" >"$work/b.json"; diff "$work/a.json" "$work/b.json" | head -40)"
echo "e2e live (2 workers started under load): $n packets, the same report offline"
echo "e2e live: passed"
