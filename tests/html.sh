#!/bin/bash
# html.sh: the HTML report of 200,000 connection attempts spread over prefix hosts (nearly every attempt
# a new address pair) opened in headless Chromium, as a person would open it: the page must load (within
# a generous 60 s; the seconds it took are printed), be no wider than a 1280-pixel window, and list the
# paths of many address pairs as one row each. A screenshot at 1280 px is left in the build directory for
# a look. Usage: html.sh FLOWAUDIT MKPCAP OUTDIR
set -u
bin=$1 mk=$2 keep=$3
command -v chromium >/dev/null || { echo "html: chromium is not installed (tools/deps.sh check)"; exit 1; }
work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
fail() { echo "html: FAIL: $*"; exit 1; }

"$mk" --spread 200000 1000 0 96 "$work/s.pcap" "$work/s.site" >/dev/null || fail "mkpcap --spread"
"$bin" audit -r "$work/s.pcap" -s "$work/s.site" --format json -o "$work/r.json"
[ $? -le 1 ] || fail "the JSON audit"
rows=$(grep -c '^    {"requirement"\|^    {"client_addr"' "$work/r.json")
[ "$rows" -ge 100000 ] || fail "only $rows address pairs in the capture"
"$bin" audit -r "$work/s.pcap" -s "$work/s.site" --format html -o "$work/r.html"
[ $? -le 1 ] || fail "the HTML audit"

# The page measures itself once loaded: its width and its table rows, into its title.
sed 's#</body>#<script>document.title = "width " + document.documentElement.scrollWidth + " rows " + document.querySelectorAll("tr").length;</script></body>#' \
	"$work/r.html" >"$work/probe.html"
chrome() { timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile" "$@" 2>/dev/null; }
start=$(date +%s%N)
chrome --window-size=1280,1000 --dump-dom "file://$work/probe.html" >"$work/dom.html" || fail "chromium did not load the page"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
read -r width trs < <(sed -n 's#.*<title>width \([0-9]*\) rows \([0-9]*\)</title>.*#\1 \2#p' "$work/dom.html")
[ -n "${width:-}" ] || fail "the page did not run its measuring script"
[ "$width" -le 1280 ] || fail "the page is $width px wide in a 1280 px window"
[ "$trs" -lt 1000 ] || fail "$trs table rows for $rows address pairs: paths are not grouped"
chrome --window-size=1280,2400 --screenshot="$work/shot.png" "file://$work/r.html" >/dev/null
[ -s "$work/shot.png" ] || fail "no screenshot"
mkdir -p "$keep" && cp "$work/shot.png" "$keep/html-report.png"
echo "html: $rows address pairs, a page of $(( $(stat -c %s "$work/r.html") / 1024 )) KB and $trs table rows," \
	"loaded in $ms ms, $width px wide at 1280; screenshot in $keep/html-report.png"
