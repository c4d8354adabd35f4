# bench-mix.sh, sourced by bench.sh and bench-ir.sh.
# bench_gen BUILD_DIR DIR NAME FLOWS RATE FLOOD SNAPLEN SITE: DIR/NAME.pcap written by mkpcap --bench (or
# --spread when BENCH_KIND=spread), unless it is there already from the same arguments and the same mix
# (BENCH_MIX: raise it whenever mkpcap --bench or --spread changes what it writes).
BENCH_MIX=3 # 3: handshakes of 0.5 ms (2: of 2 ms; completed connections answered in 3 to 7 segments; 1: in one)
bench_gen() {
	local b=$1 d=$2 name=$3 stamp="$2/$3.args"
	local kind=${BENCH_KIND:-bench}
	local args="mix $BENCH_MIX $kind: $4 $5 $6 $7 $8"
	if [ -s "$d/$name.pcap" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$args" ]; then
		return 0
	fi
	rm -f "$stamp"
	"$b/mkpcap" "--$kind" "$4" "$5" "$6" "$7" "$d/$name.pcap" "$8" >/dev/null || return 2
	echo "$args" >"$stamp"
}
