#!/bin/sh
# app.sh: the application recognisers against real speakers. Two network namespaces (a broker and an
# ONTAP node on one side, an agent on the other; RFC 5737 addresses, no route out), tcpdump capturing
# in the agent's namespace, then flowaudit auditing the capture:
#   TLS on 61617: openssl s_server and s_client (TLS 1.3 with SNI: complete; a TLS 1.2-only client
#   against a TLS 1.3-only server: a protocol_version alert, the path degraded with tls-alert);
#   FPolicy on 9883: a node speaking the public framing (tests/e2e/fpolicy.sh) to an engine that never
#   answers NEGO_REQ (degraded, app-no-handshake), then to one that answers NEGO_RESP (complete);
#   the wrong application on a port: openssl's TLS on the broker's plain OpenWire port, and logger's plain
#   syslog on 6514 where PowerScale must speak syslog over TLS (both degraded, wrong-protocol);
#   SMB: Samba's smbd (its own configuration in a temporary folder) and smbclient: SMB 3.1.1, SMB 2.1
#   (-m SMB2_10) and NT1, which is degraded (smb1) when the site sets smb_min 2;
#   ONC RPC: rpcbind, and rpcinfo's DUMP over TCP and GETPORT over UDP (program 100000, accepted);
#   ActiveMQ: its console producer over OpenWire (61616) and SSL (61617), and crossed (wrong-protocol);
#   syslog over TLS: rsyslog forwarding through gtls to rsyslog on 6514 (complete);
#   NFS v3: nfs-ganesha's mountd, its port learnt from rpcbind's reply to showmount (a required path, ok;
#   blocked once the server's nftables drops it);
#   Dell CEE on 12228: curl's PUT of a OneFS CheckFileRequest to a CEE answering status 0x16 (no consumer:
#   degraded app-failed), then 0x0 (complete);
#   partner placement: the node on the agent's subnet (0 hops, handshakes well under 1 ms on veth), and a
#   second node behind a router namespace (its packets arrive with one hop less: routed, a finding).
# Skipped, saying why, without root or network namespaces.
# Usage: app.sh FLOWAUDIT (KEEP=1: the work folder, captures and reports, is kept and named)
set -u
e2e_name=app; . "$(dirname "$0")/lib.sh"

tag=$$
A=fa-aa-$tag S=fa-as-$tag R=fa-ar-$tag N=fa-an-$tag
e2e_netns $A $S $R $N
checks=0
pass() { checks=$((checks + 1)); echo "e2e app: $*"; }

for ns in $A $S $R $N; do ip netns add $ns || fail "netns add $ns"; ip -n $ns link set lo up; done
# link NS1 DEV1 ADDR1 NS2 DEV2 ADDR2: a veth pair made in NS1, its ends up with an address each
link() {
	ip -n $1 link add $2 type veth peer name $5 netns $4 || fail "veth $2"
	ip -n $1 link set $2 up
	ip -n $4 link set $5 up
	ip -n $1 addr add $3 dev $2
	ip -n $4 addr add $6 dev $5
}
link $A a-s 192.0.2.20/24 $S s-a 192.0.2.10/24
ip -n $S addr add 192.0.2.30/24 dev s-a
# the second node, behind a router: agent a-r 203.0.113.1 -- 203.0.113.2 r-a [R] r-n 198.51.100.1 -- 198.51.100.40
link $A a-r 203.0.113.1/24 $R r-a 203.0.113.2/24
link $R r-n 198.51.100.1/24 $N n-r 198.51.100.40/24
ip -n $A route add 198.51.100.0/24 via 203.0.113.2 src 192.0.2.20
ip -n $R route add 192.0.2.20/32 via 203.0.113.1
ip -n $N route add default via 198.51.100.1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1

cat >"$work/app.site" <<'EOF'
set tls required
host broker1   192.0.2.10 role=broker
host agent1    192.0.2.20 role=agent brokers=broker1 partner=ontap1
host ontap1-n1 192.0.2.30 role=ontap-node system=ontap1
host ontap1-n2 198.51.100.40 role=ontap-node system=ontap1
EOF
site="$work/app.site"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=broker1 -days 1 \
	-keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1 || fail "openssl could not make a certificate"

# capture NAME: tcpdump in the agent's namespace until stop_capture. It is started once it says it listens,
# with a ring large enough that a busy moment of the machine loses no packet (each packet takes a frame as
# large as the snaplen: the default 2 MB held 8 of -s 0's).
capture() {
	cap="$1"
	ip netns exec $A tcpdump -i any --immediate-mode -U -B 131072 -s 65535 -w "$work/$cap.pcap" \
		>/dev/null 2>"$work/$cap.tcpdump" &
	dump=$!
	for _ in $(seq 100); do
		grep -q "listening on" "$work/$cap.tcpdump" && return
		kill -0 $dump 2>/dev/null || break
		sleep 0.1
	done
	fail "capture $cap: tcpdump did not start: $(cat "$work/$cap.tcpdump")"
}
# stop_capture: once the capture file stops growing (tcpdump writes each packet as it reads it), tcpdump is
# stopped; a packet the kernel dropped would make the test's verdict about the capture, not the product.
stop_capture() {
	last=-1
	for _ in $(seq 50); do
		sleep 0.3
		size=$(stat -c %s "$work/$cap.pcap")
		[ "$size" = "$last" ] && break
		last=$size
	done
	kill -INT $dump
	wait $dump 2>/dev/null
	grep -q "^0 packets dropped by kernel" "$work/$cap.tcpdump" ||
		fail "capture $cap: tcpdump lost packets: $(tr '\n' ' ' <"$work/$cap.tcpdump")"
}
# row NAME PORT: the JSON row of the agent's path on PORT in the audit of capture NAME
row() {
	"$bin" audit -r "$work/$1.pcap" -s "$site" --format json >"$work/$1.json" 2>/dev/null
	[ $? -le 1 ] || fail "$1: audit failed"
	jq -c "[.edges[] | select(.port == $2 and .attempts > 0)][0]" "$work/$1.json"
}
# expect NAME PORT JQ WHAT: that row satisfies the jq expression, or the test fails saying WHAT and showing it
expect() {
	r=$(row "$1" "$2")
	echo "$r" | jq -e "$3" >/dev/null || fail "$4: $r"
}

# 1. TLS 1.3 with SNI, completed.
ip netns exec $S setsid openssl s_server -accept 61617 -cert "$work/cert.pem" -key "$work/key.pem" -quiet \
	>/dev/null 2>&1 </dev/null &
sleep 0.5
capture tls
echo Q | ip netns exec $A timeout 3 openssl s_client -connect 192.0.2.10:61617 -servername broker1 -quiet >"$work/client.log" 2>&1
stop_capture
expect tls 61617 '.status == "ok" and .app.protocol == "tls" and .app.handshake == "complete" and
	.app.facts.sni == "broker1" and .app.facts.server_version == "TLS 1.3"' "tls"
pass "tls: openssl 1.3 handshake complete, SNI broker1"
ip netns pids $S | xargs -r kill 2>/dev/null
sleep 0.3

# 2. A TLS 1.2-only client against a TLS 1.3-only server: a fatal alert, twice.
ip netns exec $S setsid openssl s_server -accept 61617 -cert "$work/cert.pem" -key "$work/key.pem" -quiet -tls1_3 \
	>/dev/null 2>&1 </dev/null &
sleep 0.5
capture alert
for i in 1 2; do
	echo Q | ip netns exec $A timeout 3 openssl s_client -connect 192.0.2.10:61617 -tls1_2 -quiet >/dev/null 2>&1
done
stop_capture
expect alert 61617 '.status == "degraded" and .reason == "tls-alert" and .app.handshake == "failed" and
	.app.facts.alert == 70 and .app.flows == 2' "alert"
pass "tls: a protocol_version alert degrades the path (tls-alert)"
ip netns pids $S | xargs -r kill 2>/dev/null

# 3. FPolicy: the agent's engine never answers NEGO_REQ; the node tries twice.
ip netns exec $A setsid socat TCP-LISTEN:9883,reuseaddr,fork SYSTEM:"sh $here/fpolicy.sh engine-silent" \
	>/dev/null 2>&1 </dev/null &
sleep 0.5
capture fpolicy
for i in 1 2; do
	ip netns exec $S timeout 2 socat -t 1 SYSTEM:"sh $here/fpolicy.sh node" TCP:192.0.2.20:9883,bind=192.0.2.30 \
		>/dev/null 2>&1
done
stop_capture
expect fpolicy 9883 '.status == "degraded" and .reason == "app-no-handshake" and .app.protocol == "fpolicy" and
	.app.facts.nego_req == 1 and .app.facts.nego_resp == 0' "fpolicy silent"
grep -q "fpolicy incomplete over 2 flows: nego_req 1, nego_resp 0" <<EOF || fail "fpolicy silent: the text report does not say it"
$("$bin" audit -r "$work/fpolicy.pcap" -s "$site" 2>/dev/null)
EOF
pass "fpolicy: NEGO_REQ never answered degrades the path (app-no-handshake), said in words"
ip netns pids $A | xargs -r kill 2>/dev/null
sleep 0.3

# 4. The engine answers NEGO_RESP.
ip netns exec $A setsid socat TCP-LISTEN:9883,reuseaddr,fork SYSTEM:"sh $here/fpolicy.sh engine" \
	>/dev/null 2>&1 </dev/null &
sleep 0.5
capture nego
ip netns exec $S timeout 3 socat -t 1 SYSTEM:"sh $here/fpolicy.sh node" TCP:192.0.2.20:9883,bind=192.0.2.30 \
	>/dev/null 2>&1
stop_capture
expect nego 9883 '.status == "ok" and .app.handshake == "complete" and .app.facts.nego_resp == 1' "fpolicy answered"
"$bin" audit -r "$work/nego.pcap" -s "$site" --format json --flows 2>/dev/null |
	jq -e '[.flows[] | select(.server_port == 9883)][0].app | .protocol == "fpolicy" and .handshake == "complete"' \
		>/dev/null || fail "fpolicy answered: the flow does not carry its app"
pass "fpolicy: NEGO_RESP completes the handshake; the flow of --flows carries it"

# 5. Placement: ontap1-n1 on the agent's subnet; ontap1-n2 one router away.
capture place
for node in "$S 192.0.2.30" "$N 198.51.100.40"; do
	set -- $node
	ip netns exec $1 timeout 3 socat -t 1 SYSTEM:"sh $here/fpolicy.sh node" TCP:192.0.2.20:9883,bind=$2 >/dev/null 2>&1
done
stop_capture
"$bin" audit -r "$work/place.pcap" -s "$site" --format json >"$work/place.json" 2>/dev/null
jq -e '[.placement[] | select(.hosts | index("ontap1-n1"))][0] | .hops == [0, 0] and .rtt_p95_ms < 1 and
	(has("routed") | not) and (has("slow") | not)' "$work/place.json" >/dev/null ||
	fail "placement on one subnet: $(jq -c .placement "$work/place.json")"
jq -e '[.placement[] | select(.hosts | index("ontap1-n2"))][0] | .hops[0] == 1 and .routed == true' "$work/place.json" \
	>/dev/null || fail "placement across a router: $(jq -c .placement "$work/place.json")"
jq -e '.summary.placement_findings == 1' "$work/place.json" >/dev/null || fail "placement: not one finding"
"$bin" audit -r "$work/place.pcap" -s "$site" 2>/dev/null | grep -q "FINDING ontap1-n2 <-> agent1: 1 handshake.*hops 1 from ontap1-n2, 0 from agent1: routed" ||
	fail "placement: the text report does not say it"
pass "placement: same subnet and sub-millisecond on veth; one hop through a router is a finding"
# 6. The wrong application on a port: TLS to 61616 (plain OpenWire), plain syslog to 6514 (syslog over TLS).
cat >"$work/ports.site" <<'EOF'
host broker1 192.0.2.30 role=broker
host agent1  192.0.2.20 role=agent brokers=broker1 partner=ps1
host ps1-n1  192.0.2.10 role=powerscale system=ps1 notify=syslog
EOF
ip netns exec $S setsid socat TCP-LISTEN:61616,reuseaddr,fork SYSTEM:"cat >/dev/null" >/dev/null 2>&1 </dev/null &
ip netns exec $A setsid socat TCP-LISTEN:6514,reuseaddr,fork SYSTEM:"cat >/dev/null" >/dev/null 2>&1 </dev/null &
sleep 0.5
capture ports
echo Q | ip netns exec $A timeout 2 openssl s_client -connect 192.0.2.30:61616 -quiet >/dev/null 2>&1
# logger cannot choose its source address: it sends from the namespace's first, ps1-n1's
ip netns exec $S timeout 3 logger -n 192.0.2.20 -P 6514 -T -t isi_audit "plain audit event" 2>/dev/null
stop_capture
site="$work/ports.site"
expect ports 61616 '.status == "degraded" and .reason == "wrong-protocol" and .app.protocol == "tls"' "tls on the plain port"
expect ports 6514 '.status == "degraded" and .reason == "wrong-protocol" and .app.protocol == "syslog"' "plain syslog on 6514"
pass "wrong-protocol: openssl TLS on 61616, logger's plain syslog on 6514"
# 7. SMB with Samba: the dialect the server chose, and SMB 1 where the site asks for SMB 2 or later.
mkdir -p "$work/smb/private" "$work/smb/lock" "$work/smb/state" "$work/smb/cache" "$work/smb/run" "$work/share"
echo hello >"$work/share/file.txt"
chmod 755 "$work" "$work/share" # the guest is nobody
cat >"$work/smb.conf" <<EOF
[global]
	server role = standalone server
	workgroup = WORKGROUP
	netbios name = ONTAPDATA
	map to guest = Bad User
	smb ports = 445
	interfaces = 192.0.2.30
	bind interfaces only = yes
	server min protocol = NT1
	private dir = $work/smb/private
	lock directory = $work/smb/lock
	state directory = $work/smb/state
	cache directory = $work/smb/cache
	pid directory = $work/smb/run
	ncalrpc dir = $work/smb/run/ncalrpc
	log file = $work/smb/log
	load printers = no
	disable spoolss = yes
[share]
	path = $work/share
	guest ok = yes
	read only = yes
EOF
ip netns exec $S setsid smbd --foreground --no-process-group -s "$work/smb.conf" >"$work/smbd.out" 2>&1 </dev/null &
for i in 1 2 3 4 5 6 7 8 9 10; do
	ip netns exec $S ss -ltn 2>/dev/null | grep -q "192.0.2.30:445" && break
	sleep 0.5
done
ip netns exec $S ss -ltn | grep -q "192.0.2.30:445" || fail "smbd did not listen: $(tail -5 "$work/smbd.out")"
cat >"$work/smb.site" <<'EOF'
host agent1      192.0.2.20 role=agent partner=ontap1
host ontap1-data 192.0.2.30 role=ontap-data system=ontap1
EOF
site="$work/smb.site"
smb() { # NAME smbclient-options...: one listing of the share, captured as NAME
	name=$1
	shift
	capture $name
	ip netns exec $A timeout 10 smbclient -N //192.0.2.30/share -c ls "$@" >"$work/$name.out" 2>&1 ||
		fail "smbclient $*: $(tail -3 "$work/$name.out")"
	stop_capture
}
smb smb3
expect smb3 445 '.status == "ok" and .app.protocol == "smb" and .app.handshake == "complete" and
	.app.facts.server == "smb2" and .app.facts.dialect == "0x0311"' "smb3"
smb smb21 -m SMB2_10
expect smb21 445 '.app.facts.dialect == "0x0210"' "smb 2.1"
smb nt1 -m NT1 --option="client min protocol=NT1"
expect nt1 445 '.status == "ok" and .app.facts.client == "smb1" and .app.facts.server == "smb1"' "nt1"
printf 'set smb_min 2\n' | cat - "$work/smb.site" >"$work/smb2.site"
site="$work/smb2.site"
expect nt1 445 '.status == "degraded" and .reason == "smb1"' "nt1 under smb_min 2"
pass "smb: Samba chose 3.1.1 and 2.1 as asked; NT1 is degraded (smb1) under smb_min 2"
# 8. ONC RPC with rpcbind: rpcinfo -p (a DUMP over TCP 111), rpcinfo -u (GETPORT, then a NULL call, over UDP).
ip netns exec $S setsid rpcbind -f >"$work/rpcbind.out" 2>&1 </dev/null &
sleep 1
cat >"$work/nfs.site" <<'EOF'
host agent1      192.0.2.20 role=agent partner=ontap1 data=nfs
host ontap1-data 192.0.2.30 role=ontap-data system=ontap1
EOF
site="$work/nfs.site"
capture rpc
ip netns exec $A timeout 5 rpcinfo -p 192.0.2.30 >"$work/rpcinfo.out" 2>&1 || fail "rpcinfo -p: $(cat "$work/rpcinfo.out")"
ip netns exec $A timeout 5 rpcinfo -u 192.0.2.30 100000 2 >>"$work/rpcinfo.out" 2>&1 || fail "rpcinfo -u: $(cat "$work/rpcinfo.out")"
stop_capture
"$bin" audit -r "$work/rpc.pcap" -s "$site" --format json >"$work/rpc.json" 2>/dev/null
jq -e '[.edges[] | select(.port == 111 and .proto == "tcp")][0] | .status == "ok" and .app.protocol == "onc-rpc" and
	.app.handshake == "complete" and .app.facts.program == 100000' "$work/rpc.json" >/dev/null ||
	fail "rpc over tcp: $(jq -c '.edges[] | select(.port == 111)' "$work/rpc.json")"
jq -e '[.edges[] | select(.port == 111 and .proto == "udp")][0] | .app.protocol == "onc-rpc" and .app.facts.reply == "accepted"' \
	"$work/rpc.json" >/dev/null || fail "rpc over udp: $(jq -c '.edges[] | select(.port == 111)' "$work/rpc.json")"
pass "onc-rpc: rpcbind's portmapper over TCP (record marking) and UDP, calls accepted"
# 9. Dell CEE: a PowerScale node's PUT of a CheckFileRequest (curl), the CEE on the agent answering.
cat >"$work/cee.site" <<'EOF'
host agent1 192.0.2.20 role=agent partner=ps1
host ps1-n1 192.0.2.10 role=powerscale system=ps1 notify=cee cee=agent1
EOF
site="$work/cee.site"
printf '<?xml version="1.0" encoding="UTF-8"?><CheckFileRequest><Args action="9"/></CheckFileRequest>' >"$work/heartbeat.xml"
for status in 0x16 0x0; do
	ip netns pids $A | xargs -r kill 2>/dev/null
	sleep 0.3
	ip netns exec $A setsid socat TCP-LISTEN:12228,reuseaddr,fork SYSTEM:"sh $here/cee.sh $status" \
		>/dev/null 2>&1 </dev/null &
	sleep 0.5
	capture cee$status
	for i in 1 2; do
		ip netns exec $S curl -s --max-time 3 --interface 192.0.2.10 -X PUT -H "Content-Type: text/xml" \
			--data-binary @"$work/heartbeat.xml" http://192.0.2.20:12228/cee >/dev/null ||
			fail "curl to the CEE"
	done
	stop_capture
done
expect cee0x16 12228 '.status == "degraded" and .reason == "app-failed" and .app.protocol == "http" and
	.app.facts.cee == "CheckFileRequest" and .app.facts.cee_status == "0x16"' "cee 0x16"
expect cee0x0 12228 '.status == "ok" and .app.handshake == "complete" and .app.facts.cee_status == "0x00"' "cee 0x0"
pass "cee: curl's CheckFileRequest answered 0x16 (no consumer) is degraded, app-failed; 0x0 completes"
# 10. NFS v3 with nfs-ganesha (registered with the rpcbind of 8): showmount asks rpcbind where mountd
# listens (GETADDR), then asks mountd for the exports. The port learnt is a required path of ONTAP NFS v3;
# with that port dropped by the server's nftables, the path is blocked.
mkdir -p "$work/export" "$work/recovery"
cat >"$work/ganesha.conf" <<EOF
NFS_CORE_PARAM { Protocols = 3; Enable_NLM = true; Enable_RQUOTA = false; }
NFSV4 { RecoveryRoot = $work/recovery; }
EXPORT { Export_Id = 1; Path = $work/export; Pseudo = /export; Access_Type = RO; Protocols = 3;
	Transports = TCP, UDP; SecType = sys; FSAL { Name = VFS; } }
EOF
ip netns exec $S setsid ganesha.nfsd -F -f "$work/ganesha.conf" -L "$work/ganesha.log" -p "$work/ganesha.pid" \
	>"$work/ganesha.out" 2>&1 </dev/null &
mountd=""
for _ in $(seq 50); do
	mountd=$(ip netns exec $A rpcinfo -p 192.0.2.30 2>/dev/null | awk '$1 == 100005 && $3 == "tcp" { print $4; exit }')
	[ -n "$mountd" ] && break
	sleep 0.2
done
[ -n "$mountd" ] || fail "ganesha registered no mountd: $(tail -3 "$work/ganesha.log" 2>/dev/null)"
site="$work/nfs.site"
capture nfs
ip netns exec $A timeout 10 showmount -e 192.0.2.30 >"$work/showmount.out" 2>&1 || fail "showmount: $(cat "$work/showmount.out")"
stop_capture
"$bin" audit -r "$work/nfs.pcap" -s "$site" --format json >"$work/nfs.json" 2>/dev/null
r=$(jq -c '[.edges[] | select(.learnt.program == 100005)][0]' "$work/nfs.json")
echo "$r" | jq -e --argjson p "$mountd" '.port == $p and .proto == "tcp" and .status == "ok" and .level == "required" and
	.requirement == "ONTAP NFS v3" and .learnt.name == "mountd" and .app.protocol == "onc-rpc"' >/dev/null ||
	fail "mountd learnt: $r"
[ "$(jq '.unexpected | length' "$work/nfs.json")" = 0 ] || fail "nfs: unexpected $(jq -c .unexpected "$work/nfs.json")"
# The same capture with the mountd connection's start cut away (a sensor that began midstream): showmount's
# reserved port would make it the server, but the portmapper named mountd's port to the agent.
tcpdump -r "$work/nfs.pcap" -w "$work/nfsmid.pcap" "not (tcp port $mountd and tcp[tcpflags] & tcp-syn != 0)" 2>/dev/null
"$bin" audit -r "$work/nfsmid.pcap" -s "$site" --format json --flows >"$work/nfsmid.json" 2>/dev/null
jq -e --argjson p "$mountd" '[.flows[] | select((.server_port == $p or .client_port == $p) and .state == "midstream")] | length == 1' \
	"$work/nfsmid.json" >/dev/null || fail "nfs midstream: the cut capture has no midstream mountd flow"
# --flows logs it the way the rows took it: mountd's port is the server's
jq -e --argjson p "$mountd" '[.flows[] | select(.server_port == $p and .state == "midstream")] | length == 1' \
	"$work/nfsmid.json" >/dev/null ||
	fail "nfs midstream: --flows has mountd's flow the other way round: $(jq -c --argjson p "$mountd" '.flows[] | select(.client_port == $p)' "$work/nfsmid.json")"
jq -e --argjson p "$mountd" '([.edges[] | select(.learnt.program == 100005)][0] | .port == $p and .status == "ok") and
	(.unexpected | length == 0)' "$work/nfsmid.json" >/dev/null ||
	fail "nfs midstream: $(jq -c '[.edges[] | select(.learnt)], .unexpected' "$work/nfsmid.json")"
ip netns exec $S nft -f - <<EOF || fail "nft"
table inet fa_nfs {
	chain input { type filter hook input priority 0; tcp dport $mountd drop; }
}
EOF
capture nfsblocked
ip netns exec $A timeout -s KILL 6 showmount -e 192.0.2.30 >/dev/null 2>&1 && fail "showmount through a dropped mountd"
stop_capture
"$bin" audit -r "$work/nfsblocked.pcap" -s "$site" >"$work/nfsblocked.txt" 2>/dev/null
[ $? -eq 1 ] || fail "nfs blocked: exit status"
grep -q "blocked .*ONTAP NFS v3 .*tcp/$mountd .*mountd (RPC 100005): port learnt from the portmapper (tcp/111)" \
	"$work/nfsblocked.txt" || fail "nfs blocked: $(cat "$work/nfsblocked.txt")"
pass "nfs v3: ganesha's mountd port, learnt from rpcbind's GETADDR reply to showmount: ok (midstream too), then blocked when dropped"
# 11. ActiveMQ (the broker of the Debian package, its own configuration here; OpenJDK): the producer of
# activemq's console over OpenWire on 61616 and over SSL on 61617, then the two crossed: plain OpenWire
# to the SSL connector, TLS to the plain one.
amq="$work/amq"
mkdir -p "$amq"
keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -dname CN=broker1 -validity 2 -keystore "$amq/broker.ks" \
	-storepass password -keypass password -noprompt >/dev/null 2>&1 || fail "keytool"
keytool -exportcert -alias broker -keystore "$amq/broker.ks" -storepass password -file "$amq/broker.cer" >/dev/null 2>&1
keytool -importcert -alias broker -file "$amq/broker.cer" -keystore "$amq/client.ts" -storepass password -noprompt \
	>/dev/null 2>&1 || fail "keytool import"
cat >"$amq/activemq.xml" <<EOF
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="broker1" persistent="false"
          dataDirectory="$amq/data">
    <sslContext><sslContext keyStore="file:$amq/broker.ks" keyStorePassword="password"/></sslContext>
    <transportConnectors>
      <transportConnector name="openwire" uri="tcp://192.0.2.10:61616"/>
      <transportConnector name="ssl" uri="ssl://192.0.2.10:61617"/>
    </transportConnectors>
  </broker>
</beans>
EOF
ip netns pids $S | xargs -r kill 2>/dev/null # the listeners of the cases before (61616 among them)
sleep 0.5
jvm="-Xmx128m -Dactivemq.home=/usr/share/activemq -Dactivemq.base=$amq -Dactivemq.conf=$amq -Dactivemq.data=$amq/data"
# shellcheck disable=SC2086
ip netns exec $S setsid java $jvm -jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$amq/activemq.xml" \
	>"$amq/broker.log" 2>&1 </dev/null &
up=""
for _ in $(seq 120); do
	ip netns exec $S ss -ltn | grep -q ':61617 ' && up=1 && break
	sleep 0.5
done
[ -n "$up" ] || fail "activemq did not listen: $(tail -5 "$amq/broker.log")"
cat >"$work/amq.site" <<'EOF'
host broker1 192.0.2.10 role=broker
host agent1  192.0.2.20 role=agent brokers=broker1
EOF
site="$work/amq.site"
# produce NAME URL: one message from the agent's namespace, the capture named NAME
produce() {
	capture "$1"
	# shellcheck disable=SC2086
	ip netns exec $A timeout 30 java $jvm -Djavax.net.ssl.trustStore="$amq/client.ts" \
		-Djavax.net.ssl.trustStorePassword=password -jar /usr/share/activemq/bin/activemq.jar producer \
		--brokerUrl "$2" --messageCount 1 --destination queue://flowaudit >"$amq/$1.out" 2>&1
	echo $? >"$amq/$1.rc"
	stop_capture
}
produce amqplain tcp://192.0.2.10:61616
produce amqssl "ssl://192.0.2.10:61617?socket.verifyHostName=false"
produce amqcross1 tcp://192.0.2.10:61617
produce amqcross2 "ssl://192.0.2.10:61616?socket.verifyHostName=false"
[ "$(cat "$amq/amqplain.rc")$(cat "$amq/amqssl.rc")" = 00 ] || fail "activemq producer: $(grep -m3 -i exception "$amq"/amq*.out)"
expect amqplain 61616 '.status == "ok" and .app.protocol == "openwire" and .app.handshake == "complete"' "openwire on 61616"
expect amqssl 61617 '.status == "ok" and .app.protocol == "tls" and .app.handshake == "complete"' "ssl on 61617"
expect amqcross1 61617 '.status == "degraded" and .reason == "wrong-protocol" and .app.protocol == "openwire"' "plain on 61617"
expect amqcross2 61616 '.status == "degraded" and .reason == "wrong-protocol"' "tls on 61616"
pass "activemq: OpenWire on 61616 and SSL on 61617 complete; plain on the SSL port and TLS on the plain one are wrong-protocol"
# 12. Syslog over TLS (RFC 5425) with rsyslog: the PowerScale node's rsyslogd forwards through gtls to the
# agent's rsyslogd listening on 6514 (each with its own configuration and state here).
ip netns pids $A | xargs -r kill 2>/dev/null
ip netns pids $S | xargs -r kill 2>/dev/null
sleep 0.3
rs="$work/rsyslog"
mkdir -p "$rs/agent" "$rs/node"
cat >"$rs/agent.conf" <<EOF
global(workDirectory="$rs/agent" defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="$work/cert.pem"
	defaultNetstreamDriverCertFile="$work/cert.pem" defaultNetstreamDriverKeyFile="$work/key.pem")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" port="6514" address="192.0.2.20")
action(type="omfile" file="$rs/agent/received.log")
EOF
cat >"$rs/node.conf" <<EOF
global(workDirectory="$rs/node" defaultNetstreamDriverCAFile="$work/cert.pem")
module(load="imuxsock" sysSock.use="off")
input(type="imuxsock" socket="$rs/node/log.sock")
action(type="omfwd" target="192.0.2.20" port="6514" protocol="tcp" streamDriver="gtls" streamDriverMode="1"
	streamDriverAuthMode="anon")
EOF
ip netns exec $A setsid rsyslogd -n -f "$rs/agent.conf" -i "$rs/agent.pid" >"$rs/agent.out" 2>&1 </dev/null &
for _ in $(seq 50); do ip netns exec $A ss -ltn | grep -q ':6514 ' && break; sleep 0.1; done
capture rsyslog
ip netns exec $S setsid rsyslogd -n -f "$rs/node.conf" -i "$rs/node.pid" >"$rs/node.out" 2>&1 </dev/null &
for _ in $(seq 50); do [ -S "$rs/node/log.sock" ] && break; sleep 0.1; done
logger -u "$rs/node/log.sock" -t isi_audit "audit event over tls"
for _ in $(seq 50); do grep -q "audit event over tls" "$rs/agent/received.log" 2>/dev/null && break; sleep 0.1; done
grep -q "audit event over tls" "$rs/agent/received.log" 2>/dev/null ||
	fail "rsyslog: nothing arrived: $(cat "$rs/agent.out" "$rs/node.out")"
stop_capture
site="$work/ports.site"
expect rsyslog 6514 '.status == "ok" and .app.protocol == "tls" and .app.handshake == "complete"' "syslog over tls"
pass "syslog over tls: rsyslog's gtls forwarding from the node to the agent's rsyslog on 6514 completes"
echo "e2e app: passed ($checks checks)"
