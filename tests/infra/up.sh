#!/usr/bin/env bash
# Bring up the hpcdask integration testbed on this machine (run as root):
#   - sshd on 127.0.0.1:$HPCDASK_TESTBED_SSH_PORT (host hpcd-lo) and three network-namespace
#     hosts hpcd-h1..3 (10.200.0.11-13, bridge hpcd-br0 at 10.200.0.1), each with its own sshd;
#   - Slurm: munge, slurmctld, partition debug (n1..n4 on loopback), partition ns (one slurmd
#     inside each namespace host);  HPCDASK_TESTBED_SLURM=0 leaves it out;
#   - Grid Engine (qmaster + execd on this host) only with HPCDASK_TESTBED_SGE=1.
# State lives under $HPCDASK_TESTBED (default /tmp/hpcdask-testbed); the pytest fixtures read
# $HPCDASK_TESTBED/testbed.json. A second run while everything is up and healthy is a no-op;
# otherwise (or with --restart) it tears down what is there and starts afresh.
#
# Usage: sudo tests/infra/up.sh [--restart | --check]
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=lib/ssh.sh
source "$HERE/lib/ssh.sh"
# shellcheck source=lib/slurm.sh
source "$HERE/lib/slurm.sh"
# shellcheck source=lib/sge.sh
source "$HERE/lib/sge.sh"
LOG_TAG=up

MODE=up
case ${1:-} in
    "") ;;
    --restart) MODE=restart ;;
    --check) MODE=check ;;
    -h | --help)
        sed -n '2,14p' "$0"
        exit 0
        ;;
    *) die "unknown argument '$1' (use --restart or --check)" ;;
esac

enabled() { [[ $1 == 1 || $1 == yes || $1 == true ]]; }

settings() { # what this run asks for; a running testbed with other settings is restarted
    local s
    s="host=$(short_hostname) ssh=$SSH_PORT"
    enabled "$SLURM_ENABLED" && s+=" slurm=$SLURMCTLD_PORT,$SLURMD_PORT,$SLURMD_LO_PORT"
    enabled "$SGE_ENABLED" && s+=" sge=$SGE_QMASTER_PORT,$SGE_EXECD_PORT"
    echo "$s"
}

# --- packages --------------------------------------------------------------------------------

missing_packages() {
    local need=()
    [[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
    if ! command -v ssh-keygen >/dev/null || ! command -v ssh >/dev/null; then
        need+=(openssh-client)
    fi
    if ! command -v ip >/dev/null || ! command -v ss >/dev/null; then need+=(iproute2); fi
    command -v ps >/dev/null || need+=(procps)
    if enabled "$SLURM_ENABLED"; then
        command -v slurmctld >/dev/null || need+=(slurmctld)
        command -v slurmd >/dev/null || need+=(slurmd)
        command -v sbatch >/dev/null || need+=(slurm-client)
        command -v munged >/dev/null || need+=(munge)
    fi
    if enabled "$SGE_ENABLED"; then
        [[ -x /usr/sbin/sge_qmaster ]] || need+=(gridengine-master)
        [[ -x /usr/sbin/sge_execd ]] || need+=(gridengine-exec)
        [[ -x /usr/lib/gridengine/qsub ]] || need+=(gridengine-client)
    fi
    echo "${need[@]}"
}

install_packages() {
    local need policy=/usr/sbin/policy-rc.d made_policy=0 aptlog
    need=$(missing_packages)
    [[ -n $need ]] || return 0
    log "installing: $need"
    # Never let the packages start their system daemons (sshd on :22, munge, slurm, an MTA):
    # the testbed starts its own. Debian images usually have this policy already.
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    # We make our own Grid Engine cell; skip the package's cluster initialisation.
    echo "gridengine-common shared/gridengineconfig boolean false" | debconf-set-selections
    local rc=0
    aptlog=$(mktemp /tmp/hpcdask-testbed-apt.XXXXXX)
    apt-get update -qq >"$aptlog" 2>&1 || rc=$?
    if ((rc == 0)); then
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Use-Pty=0 $need >>"$aptlog" 2>&1 || rc=$?
    fi
    ((made_policy)) && rm -f "$policy"
    ((rc == 0)) || die "apt-get failed (exit $rc), see $aptlog"
    rm -f "$aptlog"
    need=$(missing_packages)
    [[ -z $need ]] || die "still missing after install: $need"
}

# --- state -----------------------------------------------------------------------------------

all_running() {
    netns_check && ssh_check_running || return 1
    if enabled "$SLURM_ENABLED"; then slurm_check_running || return 1; fi
    if enabled "$SGE_ENABLED"; then sge_check_running || return 1; fi
}

verify_all() {
    local t
    t=$(now)
    ssh_verify || { log "ssh check failed"; return 1; }
    log "ssh: ${LO_HOST} and ${NS_HOSTS[*]} answer with their own host names ($(elapsed "$t") s)"
    if enabled "$SLURM_ENABLED"; then
        t=$(now)
        slurm_verify || { log "Slurm check failed (logs: $LOG/slurm*.log)"; return 1; }
        log "slurm: srun on debug (${LO_NODES[*]}) and ns (${NS_HOSTS[*]}), sbatch ok ($(elapsed "$t") s)"
    fi
    if enabled "$SGE_ENABLED"; then
        t=$(now)
        sge_verify || { log "Grid Engine check failed (logs: $SGE_DIR/*/messages)"; return 1; }
        log "sge: qsub -sync y ok ($(elapsed "$t") s)"
    fi
}

write_testbed_files() {
    {
        printf '{\n  "base": %s,\n' "$(json_str "$BASE")"
        printf '  "bridge_address": "%s",\n' "$BRIDGE_ADDR"
        ssh_json
        printf ',\n'
        if enabled "$SLURM_ENABLED"; then slurm_json; else printf '  "slurm": null'; fi
        printf ',\n'
        if enabled "$SGE_ENABLED"; then sge_json; else printf '  "sge": null'; fi
        printf '\n}\n'
    } >"$BASE/testbed.json.tmp"
    mv "$BASE/testbed.json.tmp" "$BASE/testbed.json"
    {
        echo "# source me: hpcdask testbed environment (generated by tests/infra/up.sh)"
        echo "export HPCDASK_TESTBED=$BASE"
        if enabled "$SLURM_ENABLED"; then echo "export SLURM_CONF=$SLURM_CONF"; fi
        if enabled "$SGE_ENABLED"; then
            echo "export SGE_ROOT=$SGE_ROOT_DIR SGE_CELL=default"
            echo "export SGE_QMASTER_PORT=$SGE_QMASTER_PORT SGE_EXECD_PORT=$SGE_EXECD_PORT"
        fi
    } >"$BASE/env.sh"
    chmod 644 "$BASE/testbed.json" "$BASE/env.sh"
}

# --- main ------------------------------------------------------------------------------------

require_root
check_base
take_lock
T0=$(now)

if [[ $MODE == check ]]; then
    [[ -f $BASE/testbed.json && -f $BASE/settings ]] || die "not up (no $BASE/testbed.json)"
    # check what is up, whatever this shell's HPCDASK_TESTBED_SLURM/SGE say
    if grep -q ' slurm=' "$BASE/settings"; then SLURM_ENABLED=1; else SLURM_ENABLED=0; fi
    if grep -q ' sge=' "$BASE/settings"; then SGE_ENABLED=1; else SGE_ENABLED=0; fi
    all_running || die "some testbed daemon is not running"
    verify_all || die "testbed is up but not healthy"
    log "testbed is up and healthy ($(elapsed "$T0") s)"
    exit 0
fi

if [[ $MODE == up && -f $BASE/testbed.json && -f $BASE/settings &&
    $(<"$BASE/settings") == "$(settings)" ]] && all_running; then
    if verify_all; then
        log "already up, nothing to do ($(elapsed "$T0") s)"
        exit 0
    fi
    log "testbed is up but not healthy: restarting"
fi

netns_check_owner
T=$(now)
install_packages
T_INSTALL=$(elapsed "$T")

if [[ -e $BASE || -e /run/netns/${NS_HOSTS[0]} ]] || ip link show "$BRIDGE" >/dev/null 2>&1; then
    log "stopping the previous testbed first"
    "$HERE/down.sh"
fi

T=$(now)
mkdir -p "$BASE" "$RUN" "$LOG"
chmod 755 "$BASE"
settings >"$BASE/settings"
netns_up
ssh_up
log "network namespaces and sshd up ($(elapsed "$T") s)"
if enabled "$SLURM_ENABLED"; then
    T=$(now)
    slurm_up
    log "slurm up: ${#LO_NODES[@]} loopback + ${#NS_HOSTS[@]} namespace nodes idle ($(elapsed "$T") s)"
fi
if enabled "$SGE_ENABLED"; then
    T=$(now)
    sge_up
    log "grid engine up ($(elapsed "$T") s)"
fi
verify_all || die "the testbed did not come up healthy; logs in $LOG; tear down with $HERE/down.sh"
write_testbed_files
log "up in $(elapsed "$T0") s (package install $T_INSTALL s). Details: $BASE/testbed.json"
log "shell: source $BASE/env.sh; ssh -F $SSH_DIR/config hpcd-h1"
