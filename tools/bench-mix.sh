# bench-mix.sh, sourced by bench.sh and bench-ir.sh: bench_mix DIR TAG drops DIR's captures when they
# were written by another version of the mix (BENCH_MIX: raise it when mkpcap --bench changes what it
# writes) or for another TAG (the number of flows), so that they are written again.
BENCH_MIX=2 # 2: 1 million flows, completed connections answered in 3 to 7 segments (1: 1.7 million, one)
bench_mix() {
	local stamp="$1/mix.$2"
	if [ "$(cat "$stamp" 2>/dev/null)" != "$BENCH_MIX" ]; then
		if [ "$2" = small ]; then rm -f "$1/small.pcap" "$1/small.site"; else
			rm -f "$1"/full.pcap "$1"/snap96.pcap "$1"/steady1.pcap "$1"/steady10.pcap "$1"/flood.pcap "$1"/mix.[0-9]*; fi
		echo "$BENCH_MIX" >"$stamp"
	fi
}
