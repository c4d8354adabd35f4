#!/bin/sh
# reload.sh: a live sensor that never loses a flow or a stop. Two network namespaces on one link (clients:
# an agent and an admin; servers: the PMC/broker, an ONTAP system and an address not yet in the site),
# real servers and clients (socat), flowaudit live on the servers' side of the link.
# - Reloads: 18 SIGHUPs with the same files, then one with a changed site (TLS now required, a new host,
#   the agent switched to data=nfs, a per-host web UI port): every reload is taken; flows settled before
#   the reload are judged again by the new site; the kernel filter follows the new graph (a tcpdump on the
#   same link is the oracle); answered UDP on a port outside the graph is seen live; the final report
#   equals an offline audit of the -w copy with the final site.
# - Stops: SIGINT 10, 50 and 100 ms after start, and during a slow start (a large site), each ends the
#   sensor with its report; three connections made just before SIGINT are all in the report (the ring is
#   drained).
# - The interface removed under the sensor: the report of what was captured is still written (exit 2).
# Skipped, saying why, without root or network namespaces.
# Usage: reload.sh FLOWAUDIT
set -u
e2e_name=reload; . "$(dirname "$0")/lib.sh"

C=fa-cli-$$ S=fa-srv-$$
e2e_netns $C $S
# The sensor drops to nobody once the capture is open: it must read the files of a reload and write its
# reports, wherever the checkout lies (a 0700 folder included).
chmod 1777 "$work"
rules="$work/peergfs.rules"
cp "$top/rules/peergfs.rules" "$rules"
chmod 644 "$rules"

setup_link() {
	ip -n $S link add s-c type veth peer name c-s netns $C || fail "veth"
	ip -n $C link set c-s up
	ip -n $S link set s-c up
	ip -n $C addr add 192.0.2.10/24 dev c-s
	ip -n $C addr add 192.0.2.20/24 dev c-s
	ip -n $S addr add 192.0.2.100/24 dev s-c
	ip -n $S addr add 192.0.2.101/24 dev s-c
	ip -n $S addr add 192.0.2.102/24 dev s-c
}
for ns in $C $S; do ip netns add $ns || fail "netns add $ns"; ip -n $ns link set lo up; done
setup_link

# Servers: the broker (plain and TLS ports as plain TCP), the web UI on its new port, ONTAP's UDP 2049
# and an application's UDP 5000 (both answer). Nothing listens on 192.0.2.102:443: the kernel resets.
for p in 61616 61617 9443; do
	ip netns exec $S socat TCP-LISTEN:$p,bind=192.0.2.100,fork,reuseaddr SYSTEM:'head -c 20000 /dev/zero' \
		>/dev/null 2>&1 &
done
for p in 2049 5000; do
	ip netns exec $S socat UDP-LISTEN:$p,bind=192.0.2.101,fork,reuseaddr SYSTEM:'echo answer' >/dev/null 2>&1 &
done
sleep 0.5

cat >"$work/v1.site" <<'SITE'
host pmc1    192.0.2.100 role=pmc,broker
host ontap1  192.0.2.101 role=ontap-node,ontap-mgmt,ontap-data system=ontap1
host agent1  192.0.2.10  role=agent partner=ontap1
host admins  192.0.2.20  role=client
SITE
cat >"$work/v2.site" <<'SITE'
set tls required
host pmc1    192.0.2.100 role=pmc,broker webui_port=9443
host ontap1  192.0.2.101 role=ontap-node,ontap-mgmt,ontap-data system=ontap1
host ontap1b 192.0.2.102 role=ontap-mgmt system=ontap1
host agent1  192.0.2.10  role=agent partner=ontap1 data=nfs
host admins  192.0.2.20  role=client
SITE
"$bin" lint -R "$rules" "$work/v1.site" "$work/v2.site" >/dev/null || fail "the test's sites do not lint"

tcp() { ip netns exec $C timeout 3 socat -u "TCP:$1,bind=$2${3:+,sourceport=$3}" /dev/null >/dev/null 2>&1; }
udp() { echo q | ip netns exec $C timeout 1 socat -t 0.5 - "UDP:$1,bind=$2" >/dev/null 2>&1; }
sensor_start() { # extra args; returns once the sensor catches SIGINT, or has ended
	ip netns exec $S "$bin" audit -i s-c -R "${pack:-$rules}" --format json "$@" 2>"$work/sensor.err" &
	sensor=$!
	# A background job of a script starts with SIGINT ignored, so one sent before the sensor's handler is
	# in place (some milliseconds of loading, more under ASan) is lost: stops are timed from that moment,
	# as a service manager's stop comes after the start. SigCgt's last hex digit holds SIGINT's bit (2).
	i=0
	while [ $i -lt 200 ] && kill -0 $sensor 2>/dev/null; do
		case $(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/$sensor/status 2>/dev/null) in
		*[2367abef]) break ;;
		esac
		sleep 0.01
		i=$((i + 1))
	done
}
sensor_stop() { # wait for the sensor, at most 20 s; its exit status in $rc
	kill -INT $sensor 2>/dev/null
	i=0
	while kill -0 $sensor 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 $sensor 2>/dev/null && { kill -9 $sensor; fail "the sensor ignored SIGINT for 20 s: $(cat "$work/sensor.err")"; }
	wait $sensor
	rc=$?
}

# --- Reloads -----------------------------------------------------------------------------------------
cp "$work/v1.site" "$work/site"
ip netns exec $S tcpdump -i s-c -w "$work/oracle.pcap" -U 'tcp port 40943' 2>/dev/null &
oracle=$!
sensor_start -s "$work/site" -o "$work/live.json" -w "$work/live.pcap"
sleep 2
kill -0 $sensor 2>/dev/null || fail "the sensor did not start: $(cat "$work/sensor.err")"
tcp 192.0.2.100:61616 192.0.2.10          # plain broker link: fine in v1, forbidden in v2
tcp 192.0.2.102:443 192.0.2.10            # reset by an address that only v2 knows
udp 192.0.2.101:2049 192.0.2.10           # NFS over UDP: only data=nfs (v2) expects it
udp 192.0.2.101:5000 192.0.2.10           # answered UDP outside the graph
sleep 1
# Each SIGHUP once the one before was taken (signals sent faster coalesce, as the kernel's do): the
# generation before the current one must be freed at every reload, never more than two held.
reloaded() { grep -c 'rules and site reloaded' "$work/sensor.err"; }
i=0
while [ $i -lt 18 ]; do
	kill -HUP $sensor
	i=$((i + 1))
	t=0
	while [ "$(reloaded)" -lt $i ] && [ $t -lt 100 ]; do sleep 0.05; t=$((t + 1)); done
done
cp "$work/v2.site" "$work/site"
kill -HUP $sensor
sleep 1
tcp 192.0.2.100:9443 192.0.2.20 40943     # the new web UI port: its data packets must be captured now
udp 192.0.2.101:2049 192.0.2.10
sleep 1
sensor_stop
kill -INT $oracle; wait $oracle
[ $rc -eq 1 ] || fail "exit $rc after the reloads (expected 1: findings): $(cat "$work/sensor.err")"
n=$(grep -c 'rules and site reloaded' "$work/sensor.err")
[ "$n" -eq 19 ] || fail "$n of 19 reloads taken: $(cat "$work/sensor.err")"
echo "e2e reload: 19 reloads taken"
r="$work/live.json"
row() { jq -c --arg s "$1" --argjson p "$2" "[.$3[] | select(.server_addr == \$s and .port == \$p) | $4]" "$r"; }
[ "$(row 192.0.2.100 61616 unexpected '.attempts')" = "[1]" ] ||
	fail "the plain 61616 connection from before the reload is not an unexpected row: $(jq -c .unexpected "$r")"
row 192.0.2.100 61616 unexpected .why | grep -q 'plain-text broker link' || fail "61616 not judged by the new site"
[ "$(row 192.0.2.102 443 edges '[.status, .reason, .attempts]')" = '[["blocked","reset",1]]' ] ||
	fail "the earlier reset by the new host is not its path's: $(row 192.0.2.102 443 edges .)"
[ "$(row 192.0.2.102 443 unexpected .)" = "[]" ] || fail "the new host's reset is still unexpected"
echo "e2e reload: rows settled before the reload judged by the new site"
[ "$(jq '[.unexpected[] | select(.proto == "udp" and .port == 5000)] | length' "$r")" -eq 1 ] ||
	fail "answered UDP outside the graph not seen live: $(jq -c .unexpected "$r")"
echo "e2e reload: answered UDP outside the graph seen live"
a=$(tcpdump -r "$work/oracle.pcap" 2>/dev/null | wc -l)
b=$(tcpdump -r "$work/live.pcap" 'tcp port 40943' 2>/dev/null | wc -l)
[ "$a" -gt 6 ] && [ "$a" -eq "$b" ] || fail "tcp/9443 after the reload: tcpdump saw $a packets, the -w copy holds $b"
echo "e2e reload: the kernel filter follows the new graph ($a packets on the new port)"
"$bin" audit -r "$work/live.pcap" -s "$work/v2.site" -R "$rules" --format json -o "$work/offline.json"
a=$(jq -S '[.edges, .unexpected, .summary]' "$r")
b=$(jq -S '[.edges, .unexpected, .summary]' "$work/offline.json")
[ "$a" = "$b" ] || fail "the final report differs from the -w copy audited with the final site:
$(echo "$a" >"$work/a.json"; echo "$b" >"$work/b.json"; diff "$work/a.json" "$work/b.json" | head -40)"
echo "e2e reload: the final report equals the -w copy audited offline with the final site"

# --- Stops -------------------------------------------------------------------------------------------
for d in 0.01 0.05 0.1; do
	rm -f "$work/stop.json"
	sensor_start -s "$work/v1.site" -o "$work/stop.json"
	sleep $d
	sensor_stop
	[ $rc -le 1 ] && [ -s "$work/stop.json" ] || fail "SIGINT after ${d}s: exit $rc, report: $(ls -l "$work/stop.json" 2>&1)"
done
echo "e2e reload: SIGINT at 10, 50 and 100 ms ends the sensor with its report"
# A slow start: 3,000 hosts with a web UI port each (a filter too large for the kernel, then the compact one).
{
	echo "host agent1 192.0.2.10 role=agent"
	echo "host admins 192.0.2.20 role=client"
	i=0
	while [ $i -lt 3000 ]; do
		echo "host pmc$i 10.$((i / 250)).$((i % 250)).1 role=pmc webui_port=$((20000 + i * 2))"
		i=$((i + 1))
	done
} >"$work/big.site"
rm -f "$work/stop.json"
sensor_start -s "$work/big.site" -o "$work/stop.json"
sleep 0.3
sensor_stop
[ $rc -le 1 ] && [ -s "$work/stop.json" ] || fail "SIGINT during a slow start: exit $rc: $(cat "$work/sensor.err")"
echo "e2e reload: SIGINT during a slow start ends the sensor with its report"
# Per-host ports never push the filter into user space: 3,000 ports give the compact filter, said so; 50
# give a kernel filter of ranges.
! grep -q 'Kernel filter failed' "$work/sensor.err" || fail "3,000 web UI ports: libpcap filters in user space"
jq -r '.capture.warnings[]' "$work/stop.json" | grep -q 'too many ports for a kernel filter' ||
	fail "3,000 web UI ports: the compact filter is not reported"
head -52 "$work/big.site" >"$work/fifty.site"
rm -f "$work/stop.json"
sensor_start -s "$work/fifty.site" -o "$work/stop.json"
sleep 1
sensor_stop
[ $rc -le 1 ] && ! grep -q 'Kernel filter failed' "$work/sensor.err" || fail "50 web UI ports: $(cat "$work/sensor.err")"
echo "e2e reload: per-host ports keep the filter in the kernel"
# A report folder the sensor's user cannot write is found before the capture starts, not at the end.
mkdir -m 700 "$work/private"
sensor_start -s "$work/v1.site" -o "$work/private/r.json"
i=0
while kill -0 $sensor 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $sensor 2>/dev/null && { sensor_stop; fail "-o unwritable after -Z nobody: the sensor started"; }
wait $sensor
rc=$?
[ $rc -eq 2 ] && grep -q 'cannot be written' "$work/sensor.err" || fail "-o unwritable after -Z nobody: exit $rc: $(cat "$work/sensor.err")"
echo "e2e reload: a report that nobody can write stops the sensor at start"
# Rules in a private (0700) folder, as in a checkout under /root: the sensor says at start that a SIGHUP
# could not read them once it runs as nobody, and a SIGHUP keeps what it has.
cp "$rules" "$work/private/pack.rules"
pack="$work/private/pack.rules"
sensor_start -s "$work/v1.site" -o "$work/priv.json"
pack=
sleep 1.5
kill -HUP $sensor
sleep 0.5
sensor_stop
grep -q 'private/pack.rules: not readable by the user the sensor runs as' "$work/sensor.err" &&
	grep -q 'keeping the old ones' "$work/sensor.err" && [ -s "$work/priv.json" ] ||
	fail "rules nobody can read: $(cat "$work/sensor.err")"
echo "e2e reload: rules in a 0700 folder: said at start, kept on SIGHUP"
# The drain: three connections, then SIGINT at once.
sensor_start -s "$work/v1.site" -o "$work/drain.json" -w "$work/drain.pcap"
sleep 2
for sp in 41001 41002 41003; do tcp 192.0.2.100:61617 192.0.2.10 $sp; done
sensor_stop
got=$(jq -c '[.edges[] | select(.port == 61617 and .attempts > 0) | [.attempts, .established]]' "$work/drain.json")
[ "$got" = "[[3,3]]" ] || fail "connections just before SIGINT lost: $got; packets $(jq .capture.packets "$work/drain.json")"
echo "e2e reload: three connections just before SIGINT are all in the report"

# Signals while a large report goes into a slow pipe: the write goes on (SA_RESTART), the report is whole.
# (SIGHUP only: a SIGUSR1 report would go into the FIFO too, and its end is the reader's end of file.)
{
	echo "host admins 192.0.2.0/28 role=client"
	i=0
	while [ $i -lt 400 ]; do echo "host pmc$i 10.1.$((i / 200)).$((i % 200 + 1)) role=pmc"; i=$((i + 1)); done
} >"$work/many.site"
mkfifo -m 666 "$work/slow.fifo"
sensor_start -s "$work/many.site" -o "$work/slow.fifo"
sleep 1.5
kill -INT $sensor
timeout 60 sh -c '
	while :; do
		n=$(dd bs=4096 count=1 status=none | tee -a "$1" | wc -c)
		[ "$n" -eq 0 ] && break
		sleep 0.01
	done <"$2"' - "$work/slow.json" "$work/slow.fifo" &
reader=$!
i=0
while kill -0 $sensor 2>/dev/null && [ $i -lt 1500 ]; do
	kill -HUP $sensor 2>/dev/null
	sleep 0.02
	i=$((i + 1))
done
kill -0 $sensor 2>/dev/null && { kill -9 $sensor; fail "signals during a report into a slow pipe: the sensor hangs"; }
wait $sensor
rc=$?
wait $reader
[ $rc -eq 1 ] || fail "signals during a report into a slow pipe: exit $rc: $(cat "$work/sensor.err")"
[ "$(stat -c %s "$work/slow.json")" -gt 100000 ] && jq -e '.summary.missing > 1000' "$work/slow.json" >/dev/null ||
	fail "signals during a report into a slow pipe: the report is cut ($(stat -c %s "$work/slow.json") bytes)"
echo "e2e reload: signals during a large report into a slow pipe: the report is whole ($(stat -c %s "$work/slow.json") bytes)"

# --- The interface goes away -------------------------------------------------------------------------
sensor_start -s "$work/v1.site" -o "$work/gone.json"
sleep 2
tcp 192.0.2.100:61617 192.0.2.10
sleep 0.5
ip -n $S link del s-c
i=0
while kill -0 $sensor 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $sensor 2>/dev/null && sensor_stop
wait $sensor
rc=$?
[ $rc -eq 2 ] || fail "interface removed: exit $rc (expected 2)"
[ "$(jq '[.edges[] | select(.port == 61617 and .established == 1)] | length' "$work/gone.json" 2>/dev/null)" = 1 ] ||
	fail "interface removed: no report of what was captured: $(cat "$work/sensor.err")"
jq -r '.capture.warnings[]' "$work/gone.json" | grep -q 'capture on s-c ended' || fail "interface removed: no warning"
echo "e2e reload: the interface removed, the report of what was captured is written"
echo "e2e reload: passed"
