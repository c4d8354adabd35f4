#!/bin/sh
# live-bench.sh: how fast a live flowaudit takes packets without kernel drops. Two network namespaces
# joined by a veth pair created inside them; tcpreplay --topspeed (or at --pps RATE) sends a benchmark
# capture into one end, flowaudit captures on the other, and its report's capture.dropped says whether
# the kernel had to drop. Prints numbers; tears everything down. Needs root, iproute2 and tcpreplay.
# Usage: live-bench.sh FLOWAUDIT CAPTURE SITE [PPS]
set -u
bin=$(realpath "$1") cap=$(realpath "$2") site=$(realpath "$3") pps=${4:-}
[ "$(id -u)" -eq 0 ] || { echo "live-bench: needs root"; exit 0; }
command -v tcpreplay >/dev/null || { echo "live-bench: tcpreplay is not installed"; exit 0; }
tag=$$ S=fa-send-$tag R=fa-sense-$tag
work=$(mktemp -d); chmod 777 "$work"
trap 'ip netns del $S 2>/dev/null; ip netns del $R 2>/dev/null; rm -rf "$work"' EXIT INT TERM
ip netns add $S && ip netns add $R || exit 1
ip -n $S link add tx type veth peer name rx netns $R
ip -n $S link set tx up mtu 9000; ip -n $R link set rx up mtu 9000
ip netns exec $R "$bin" audit -i rx -B 512 -s "$site" --format json -o "$work/r.json" 2>"$work/err" &
sensor=$!
sleep 2
if [ -n "$pps" ]; then rate="--pps=$pps"; else rate="--topspeed"; fi
ip netns exec $S tcpreplay -q -i tx $rate "$cap" 2>&1 | grep -E "Actual|Rated" | sed 's/^/tcpreplay: /'
sleep 2
kill -INT $sensor; wait $sensor
printf 'sensor: '; sed -n 's/.*"capture": {"packets": \([0-9]*\).*"dropped": \([0-9]*\).*/\1 packets captured, \2 dropped by the kernel/p' "$work/r.json"
cat "$work/err" | grep -v '^$' | sed 's/^/sensor stderr: /'
