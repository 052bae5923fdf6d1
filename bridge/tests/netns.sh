#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# netns.sh - run one bridge_test scenario between two "hosts": two network
# namespaces joined by a veth pair, OUT in one, IN in the other.
#
#   bash bridge/tests/netns.sh path/to/bridge_test SCENARIO path/to/shmring
#
#   namespace shmring-test-a-PID: veth srb-a-PID 10.231.0.1/30   bridge out
#   namespace shmring-test-b-PID: veth srb-b-PID 10.231.0.2/30   bridge in (binds :5555)
#
# The addresses exist only inside the two namespaces made here, and the only
# traffic is OUT -> IN over that veth pair. The rings stay in the shared
# /dev/shm (a network namespace does not separate shared memory), so the
# producer and the consumer run where the test runs.
#
# Needs root and iproute2 (ip netns, veth); without them the test is skipped
# (exit 77, with the reason). The namespaces, and the veth pair with them,
# are removed when the test ends, however it ends; and namespaces that a run
# killed outright left behind are removed by the next run.
set -u

TEST=${1:?usage: $0 BRIDGE_TEST SCENARIO SHMRING}
SCENARIO=${2:?usage: $0 BRIDGE_TEST SCENARIO SHMRING}
SHMRING=${3:?usage: $0 BRIDGE_TEST SCENARIO SHMRING}

NS_A=shmring-test-a-$$
NS_B=shmring-test-b-$$
VETH_A=srb-a-$$
VETH_B=srb-b-$$
ADDR_A=10.231.0.1
ADDR_B=10.231.0.2

skip()
{
	echo "SKIPPED: bridge across network namespaces: $*"
	exit 77
}

made=()
cleanup()
{
	local ns p
	for ns in "${made[@]}"; do
		# Nothing of ours may outlive the test inside a namespace.
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	for ns in "${made[@]}"; do
		ip netns del "$ns" 2>/dev/null ||
			echo "netns.sh: could not remove namespace $ns" >&2
	done
	made=()
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

((EUID == 0)) || skip "needs root (ip netns add); run as root to include it"
command -v ip >/dev/null 2>&1 || skip "no ip command (Debian: iproute2)"
[[ -x $TEST && -x $SHMRING ]] || {
	echo "netns.sh: not executable: $TEST or $SHMRING" >&2
	exit 2
}

# Namespaces of an earlier run that was killed outright (SIGKILL leaves no
# trap to run): their script's pid is gone.
for ns in $(ip netns list 2>/dev/null | sed -n 's/^\(shmring-test-[ab]-[0-9]*\).*/\1/p'); do
	pid=${ns##*-}
	if ! kill -0 "$pid" 2>/dev/null; then
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null && echo "removed $ns, left by a killed run"
	fi
done

err=$(ip netns add "$NS_A" 2>&1) || skip "ip netns add failed: $err"
made+=("$NS_A")
err=$(ip netns add "$NS_B" 2>&1) || skip "ip netns add failed: $err"
made+=("$NS_B")
# Made directly inside the namespaces: the veth pair never appears in ours.
err=$(ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B" 2>&1) ||
	skip "cannot make a veth pair: $err"
ip -n "$NS_A" addr add "$ADDR_A/30" dev "$VETH_A" &&
	ip -n "$NS_B" addr add "$ADDR_B/30" dev "$VETH_B" &&
	ip -n "$NS_A" link set lo up &&
	ip -n "$NS_B" link set lo up &&
	ip -n "$NS_A" link set "$VETH_A" up &&
	ip -n "$NS_B" link set "$VETH_B" up || {
	echo "netns.sh: could not configure the veth pair" >&2
	exit 1
}
echo "namespaces $NS_A ($VETH_A $ADDR_A) and $NS_B ($VETH_B $ADDR_B)"

# Under our own time limit (the test's is 170 s), well inside ctest's, so
# that this script lives to remove the namespaces whatever the test does.
timeout -k 5 200 "$TEST" "$SCENARIO" netns "$SHMRING" "$NS_A" "$NS_B" "$ADDR_B"
rc=$?
# What crossed the veth pair, as IN's end of it counted it.
rx=$(ip netns exec "$NS_B" cat "/sys/class/net/$VETH_B/statistics/rx_bytes" 2>/dev/null)
pk=$(ip netns exec "$NS_B" cat "/sys/class/net/$VETH_B/statistics/rx_packets" 2>/dev/null)
echo "      veth $VETH_B received ${rx:-?} bytes in ${pk:-?} packets"
exit $rc
