#!/usr/bin/env bash
# Tear down the hpcdask integration testbed started by tests/infra/up.sh (run as root).
# Stops every daemon through its pid file, kills what is left inside the namespace hosts,
# removes the namespaces and the bridge, and deletes the runtime state under $HPCDASK_TESTBED.
# Idempotent: safe to run when nothing (or only part of it) is up.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/netns.sh
source "$HERE/lib/netns.sh"
# shellcheck source=lib/slurm.sh
source "$HERE/lib/slurm.sh"
# shellcheck source=lib/sge.sh
source "$HERE/lib/sge.sh"
LOG_TAG=down

require_root
check_base
take_lock
T0=$(now)

netns_check_owner # another base dir's testbed is up: touch nothing
# The pytest fixtures treat a missing testbed.json as "not up": remove it first.
rm -f "$BASE/testbed.json" "$BASE/env.sh"

if [[ -d $BASE ]]; then
    sge_down
    slurm_down
    stop_pidfiles "$RUN"/*.pid # sshd and anything else still listed
fi
# Ours but without a pid file (e.g. a slurmstepd whose slurmd is gone, or daemons whose base
# directory was deleted under them).
mapfile -t leftover < <(marked_pids)
if ((${#leftover[@]})); then
    log "killing leftover testbed processes: ${leftover[*]}"
    kill -KILL "${leftover[@]}" 2>/dev/null || true
    wait_until 5 "leftover processes to die" procs_gone "${leftover[@]}" || true
fi

netns_down

if [[ -d $BASE ]]; then
    # Only what up.sh creates; never a blanket rm -rf of $BASE.
    rm -rf "${BASE:?}/run" "${BASE:?}/log" "${BASE:?}/ssh" "${BASE:?}/munge" \
        "${BASE:?}/slurm" "${BASE:?}/sge" "${BASE:?}/settings" "${BASE:?}/testbed.json.tmp"
    rmdir "$BASE" 2>/dev/null || log "left $BASE in place (it holds files the testbed did not create)"
fi
log "down ($(elapsed "$T0") s)"
