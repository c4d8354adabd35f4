#!/bin/sh
# live-bench.sh: how fast a live flowaudit takes packets without kernel drops. Two network namespaces
# joined by a veth pair created inside them; tcpreplay --topspeed (or at --pps RATE) sends a benchmark
# capture into one end, flowaudit captures on the other, and its report's capture.dropped says whether
# the kernel had to drop. Prints numbers; tears everything down. Needs root, iproute2 and tcpreplay.
# With INTERVAL, an interim report every INTERVAL seconds while the capture runs (written to a file each
# time): whether writing reports over many rows stalls the capture shows as kernel drops.
# Usage: live-bench.sh FLOWAUDIT CAPTURE SITE [WORKERS [PPS [INTERVAL]]]
set -u
bin=$(realpath "$1") cap=$(realpath "$2") site=$(realpath "$3") workers=${4:-1} pps=${5:-} interval=${6:-}
[ "$(id -u)" -eq 0 ] || { echo "live-bench: needs root"; exit 0; }
command -v tcpreplay >/dev/null || { echo "live-bench: tcpreplay is not installed"; exit 0; }
tag=$$ S=fa-send-$tag R=fa-sense-$tag
work=$(mktemp -d); chmod 777 "$work"
trap 'ip netns del $S 2>/dev/null; ip netns del $R 2>/dev/null; rm -rf "$work"' EXIT INT TERM
ip netns add $S && ip netns add $R || exit 1
ip -n $S link add send0 type veth peer name sense0 netns $R
ip -n $S link set send0 up mtu 9000; ip -n $R link set sense0 up mtu 9000
ip netns exec $R "$bin" audit -i sense0 -B 512 --workers "$workers" -s "$site" --format json -o "$work/r.json" \
	${interval:+--interval "$interval"} 2>"$work/err" &
sensor=$!
sleep 2
if [ -n "$pps" ]; then rate="--pps=$pps"; else rate="--topspeed"; fi
ip netns exec $S tcpreplay -q -i send0 $rate "$cap" 2>&1 | grep -E "Actual|Rated" | sed 's/^/tcpreplay: /'
sleep 2
# CPU the sensor spent (all its threads), read before it stops: tcpreplay is the slower side here, so
# this says what rate the sensor itself could take. System time also holds the kernel's delivery of
# packets into the ring (softirq work is charged to whatever runs on that core), so user time is the
# figure for flowaudit's own work.
hz=$(getconf CLK_TCK)
utime=$(awk '{print $14}' /proc/$sensor/stat) stime=$(awk '{print $15}' /proc/$sensor/stat)
kill -INT $sensor; wait $sensor
printf 'sensor (%s worker(s)): ' "$workers"; sed -n 's/.*"capture": {"packets": \([0-9]*\).*"dropped": \([0-9]*\).*/\1 packets captured, \2 dropped by the kernel/p' "$work/r.json"
pk=$(sed -n 's/.*"capture": {"packets": \([0-9]*\).*/\1/p' "$work/r.json")
awk -v u="$utime" -v s="$stime" -v hz="$hz" -v p="${pk:-0}" 'BEGIN { if (p > 0 && u > 0)
	printf "sensor CPU: user %.2f s (%.0f ns/packet: about %.1f Mpps per core), system %.2f s\n",
		u / hz, u / hz * 1e9 / p, p / (u / hz) / 1e6, s / hz }'
cat "$work/err" | grep -v '^$' | sed 's/^/sensor stderr: /'
