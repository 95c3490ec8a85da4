# shellcheck shell=bash
# Namespace "hosts" on a bridge: hpcd-br0 (10.200.0.1/24) in the root namespace, one network
# namespace per host with a veth into the bridge. No default route inside: only the bridge
# subnet is reachable from a host, which is all tests need.

veth_of() { echo "${1}-v"; } # root-side end of a host's veth pair (<= 15 characters)

# The bridge's alias records which base directory owns the namespace hosts: their names are
# machine-wide, so only one testbed can be up at a time.
netns_owner() { cat "/sys/class/net/$BRIDGE/ifalias" 2>/dev/null || true; }

netns_check_owner() {
    local owner
    owner=$(netns_owner)
    [[ -z $owner || $owner == "$BASE" ]] ||
        die "the namespace hosts belong to the testbed in $owner: run HPCDASK_TESTBED=$owner $HERE/down.sh first"
}

netns_up() {
    netns_check_owner
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link add "$BRIDGE" type bridge
    fi
    ip link set dev "$BRIDGE" alias "$BASE"
    ip addr replace "$BRIDGE_ADDR/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    local h veth
    for h in "${NS_HOSTS[@]}"; do
        veth=$(veth_of "$h")
        [[ -e /run/netns/$h ]] || ip netns add "$h"
        if ! ip link show "$veth" >/dev/null 2>&1; then
            ip link add "$veth" type veth peer name eth0 netns "$h"
        fi
        ip link set "$veth" master "$BRIDGE" up
        ip -n "$h" link set lo up
        ip -n "$h" addr replace "${NS_ADDR[$h]}/24" dev eth0
        ip -n "$h" link set eth0 up
    done
}

# Kill whatever still runs inside a host's network namespace (our daemons are gone by now;
# this catches processes started over ssh or by jobs, e.g. a leaked dask worker).
netns_kill_processes() {
    local h=$1 pids
    [[ -e /run/netns/$h ]] || return 0
    mapfile -t pids < <(ip netns pids "$h" 2>/dev/null)
    ((${#pids[@]})) || return 0
    log "killing processes still inside $h: ${pids[*]}"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait_until 5 "processes in $h to die" procs_gone "${pids[@]}" || true
}

netns_down() {
    netns_check_owner
    local h veth removed=()
    for h in "${NS_HOSTS[@]}"; do
        veth=$(veth_of "$h")
        netns_kill_processes "$h"
        if ip link show "$veth" >/dev/null 2>&1; then
            ip link del "$veth"
        fi
        if [[ -e /run/netns/$h ]]; then
            ip netns del "$h"
            removed+=("$h")
        fi
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link del "$BRIDGE"
        removed+=("$BRIDGE")
    fi
    if ((${#removed[@]})); then log "removed ${removed[*]}"; fi
    return 0
}

netns_check() {
    ip link show "$BRIDGE" >/dev/null 2>&1 || return 1
    local h
    for h in "${NS_HOSTS[@]}"; do
        [[ -e /run/netns/$h ]] || return 1
    done
}
