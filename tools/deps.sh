#!/bin/sh
# Install the Debian packages flowaudit needs to build and test, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
set -eu

# pkg-config module or header -> Debian package that provides it
need=""
have_pc() { pkg-config --exists "$1" 2>/dev/null; }
have_h() { [ -f "/usr/include/$1" ]; }
have_cmd() { command -v "$1" >/dev/null 2>&1; }

have_cmd cc || need="$need gcc libc6-dev"
have_cmd make || need="$need make"
have_cmd pkg-config || need="$need pkg-config"
for pair in libpcap:libpcap-dev libnftnl:libnftnl-dev libmnl:libmnl-dev libnftables:libnftables-dev jansson:libjansson-dev cunit:libcunit1-dev; do
    mod=${pair%%:*}; pkg=${pair#*:}
    if ! have_cmd pkg-config || ! have_pc "$mod"; then need="$need $pkg"; fi
done
have_h uthash.h || need="$need uthash-dev"

# Optional extras: "tools/deps.sh check" also wants what make check and make fuzz use; "e2e" what the
# live end-to-end test uses (namespaces, a real nftables firewall, real servers and clients, a replayer).
if [ "${1:-}" = e2e ]; then
    have_cmd ip || need="$need iproute2"
    have_cmd nft || need="$need nftables"
    have_cmd socat || need="$need socat"
    have_cmd openssl || need="$need openssl"
    have_cmd jq || need="$need jq"
    have_cmd tcpreplay || need="$need tcpreplay"
    have_cmd tcpdump || need="$need tcpdump"
    have_cmd smbd || need="$need samba"
    have_cmd smbclient || need="$need smbclient"
    have_cmd logger || need="$need bsdutils"
    have_cmd rpcbind || need="$need rpcbind"
    have_cmd ganesha.nfsd || need="$need nfs-ganesha nfs-ganesha-vfs"
    [ -x /sbin/showmount ] || need="$need nfs-common"
    [ -f /usr/share/activemq/bin/activemq.jar ] || need="$need activemq"
    have_cmd keytool || need="$need default-jre-headless"
    have_cmd rsyslogd || need="$need rsyslog"
    [ -n "$(ls /usr/lib/*/rsyslog/lmnsd_gtls.so 2>/dev/null)" ] || need="$need rsyslog-gnutls"
fi
if [ "${1:-}" = bench ]; then
    have_cmd tcpdump || need="$need tcpdump"
    have_cmd argus || need="$need argus-server"
    have_cmd nfpcapd || need="$need nfdump"
    have_cmd softflowd || need="$need softflowd"
    [ -x /usr/bin/time ] || need="$need time"
fi
if [ "${1:-}" = check ]; then
    have_cmd clang || need="$need clang"
    have_cmd chromium || need="$need chromium"
    [ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] || need="$need libclang-rt-14-dev"
fi

[ -z "$need" ] && exit 0
if [ "$(id -u)" -eq 0 ] && have_cmd apt-get; then
    echo "deps.sh: installing:$need" >&2
    apt-get update -qq >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
    exit 0
fi
echo "deps.sh: missing build dependencies; as root run:" >&2
echo "    apt-get install$need" >&2
exit 1
