#!/bin/sh
# cee.sh: the CEE side of Dell's CEPA over HTTP, from its public framing (an HTTP response whose XML body
# is a CheckFileResponse with a status), for tests/e2e/app.sh; run by socat with the connection on
# standard input and output. Usage: cee.sh STATUS (0x0: events taken; 0x16: no consumer registered)
dd bs=65536 count=1 2>/dev/null >/dev/null # the request (headers and XML body arrive together)
body="<CheckFileResponse status=\"$1\" ceeVersion=\"8.7.0.0\"/>"
printf 'HTTP/1.1 200 OK\r\nServer: EMC CEE Server\r\nContent-Type: text/xml\r\nContent-Length: %s\r\n\r\n%s' "${#body}" "$body"
