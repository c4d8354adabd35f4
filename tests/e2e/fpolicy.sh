#!/bin/sh
# fpolicy.sh: both ends of NetApp FPolicy's negotiation, from its public framing ('"', a 4-byte
# big-endian length, '"', an XML header, a blank line, an XML body), for tests/e2e/app.sh; run by socat
# with the connection on standard input and output.
#   node           the storage node: sends NEGO_REQ, reads for a second
#   engine         the agent's engine: reads the request, answers NEGO_RESP
#   engine-silent  an engine that reads and never answers
# Usage: fpolicy.sh node|engine|engine-silent

frame() { # TYPE BODY: one frame on standard output, in one write as ONTAP sends it (printf writes piecemeal)
	t=$(mktemp)
	piece "$1" "$2" >"$t"
	cat "$t"
	rm -f "$t"
}

piece() {
	msg=$(printf '<?xml version="1.0"?><Header><NotfType>%s</NotfType><ContentLen>%s</ContentLen><DataFormat>XML</DataFormat></Header>\n\n%s' \
		"$1" "${#2}" "$2")
	len=$((${#msg} + 1)) # command substitution dropped the newline ending the body: one more byte below
	printf '"'
	for shift in 24 16 8 0; do
		printf "\\$(printf %03o $(((len >> shift) & 255)))"
	done
	printf '"%s\n' "$msg"
}

case "$1" in
node)
	frame NEGO_REQ '<?xml version="1.0"?><Handshake><VsUUID>0a1b2c3d</VsUUID><PolicyName>peer</PolicyName><SessionId>1</SessionId><ProtVersions><Vers>1.2</Vers></ProtVersions></Handshake>'
	sleep 1
	;;
engine)
	head -c 64 >/dev/null
	frame NEGO_RESP '<?xml version="1.0"?><HandshakeResp><VsUUID>0a1b2c3d</VsUUID><PolicyName>peer</PolicyName><SessionId>1</SessionId><ProtVersion>1.2</ProtVersion></HandshakeResp>'
	sleep 1
	;;
engine-silent)
	cat >/dev/null
	;;
esac
