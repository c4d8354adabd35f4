# lib.sh: how every end-to-end test starts, sourced once its name is set (the test's first argument is
# the flowaudit binary):
#	e2e_name=NAME; . "$(dirname "$0")/lib.sh"
# It sets bin, here (tests/e2e), top (the checkout) and a fresh work folder (removed at the end; KEEP=1
# keeps it and names it), fail and skip. e2e_netns NS... says the test runs in network namespaces it
# creates: without root, ip netns or the e2e tools it is skipped (saying why), and at the end every
# process in them is killed and they are deleted.
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
e2e_ns=""
e2e_cleanup() {
	for ns in $e2e_ns; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap e2e_cleanup EXIT INT TERM
fail() { echo "e2e $e2e_name: FAIL: $*"; exit 1; }
skip() { echo "e2e $e2e_name: skipped: $*"; exit 0; }
e2e_netns() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, packet capture)"
	ip netns list >/dev/null 2>&1 || skip "ip netns is not available"
	"$top/tools/deps.sh" e2e >/dev/null 2>&1 || skip "could not install the e2e tools (tools/deps.sh e2e)"
	ip netns add "fa-probe-$$" 2>/dev/null || skip "cannot create a network namespace here"
	ip netns del "fa-probe-$$"
	e2e_ns="$*"
}
