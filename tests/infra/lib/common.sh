# shellcheck shell=bash disable=SC2034 # the settings below are used by the sourcing scripts
# Shared settings and helpers for tests/infra/up.sh and down.sh (sourced, not executed).
#
# Everything the testbed creates lives under one base directory, $HPCDASK_TESTBED
# (default /tmp/hpcdask-testbed). Every daemon writes a pid file into $BASE/run and is
# stopped through it; every daemon also carries HPCDASK_TESTBED_OWNER=$BASE in its
# environment, so down.sh can find stragglers (e.g. slurmstepd) by that marker, never by name.

BASE=${HPCDASK_TESTBED:-/tmp/hpcdask-testbed}
SSH_PORT=${HPCDASK_TESTBED_SSH_PORT:-2222}
SLURM_ENABLED=${HPCDASK_TESTBED_SLURM:-1}
SLURMCTLD_PORT=${HPCDASK_TESTBED_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${HPCDASK_TESTBED_SLURMD_PORT:-6818}         # slurmd inside each namespace host
SLURMD_LO_PORT=${HPCDASK_TESTBED_SLURMD_LO_PORT:-17001}  # first of four loopback slurmds
SGE_ENABLED=${HPCDASK_TESTBED_SGE:-0}
SGE_QMASTER_PORT=${HPCDASK_TESTBED_SGE_QMASTER_PORT:-6444}
SGE_EXECD_PORT=${HPCDASK_TESTBED_SGE_EXECD_PORT:-6445}

# The namespace "hosts". Fixed on purpose: 10.200.0.0/24 is the only network tests may use.
BRIDGE=hpcd-br0
BRIDGE_ADDR=10.200.0.1
NS_HOSTS=(hpcd-h1 hpcd-h2 hpcd-h3)
declare -A NS_ADDR=([hpcd-h1]=10.200.0.11 [hpcd-h2]=10.200.0.12 [hpcd-h3]=10.200.0.13)
LO_HOST=hpcd-lo
LO_NODES=(n1 n2 n3 n4)
NODE_CPUS=4
NODE_MEMORY_MB=4000

RUN=$BASE/run
LOG=$BASE/log

export SLURM_CONF=$BASE/slurm/slurm.conf

log() { printf '[%s] %s\n' "${LOG_TAG:-testbed}" "$*"; }
die() { printf '[%s] ERROR: %s\n' "${LOG_TAG:-testbed}" "$*" >&2; exit 1; }

now() { echo "${EPOCHREALTIME/,/.}"; }
# elapsed START -> seconds since START with one decimal
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

check_base() {
    case $BASE in
        /*) ;;
        *) die "HPCDASK_TESTBED must be an absolute path, got '$BASE'" ;;
    esac
    [[ $BASE =~ ^/[A-Za-z0-9._/-]+$ ]] || die "HPCDASK_TESTBED may only contain [A-Za-z0-9._/-]: '$BASE'"
    [[ $BASE != / && $BASE != /tmp && $BASE != /root && $BASE != /home ]] ||
        die "refusing to use '$BASE' as the testbed directory"
    local port
    for port in "$SSH_PORT" "$SLURMCTLD_PORT" "$SLURMD_PORT" "$SLURMD_LO_PORT" \
        "$SGE_QMASTER_PORT" "$SGE_EXECD_PORT"; do
        if ! [[ $port =~ ^[0-9]+$ ]] || ((port == 0 || port > 65535)); then
            die "bad port number '$port'"
        fi
    done
}

quiet() { # quiet CMD...: run CMD, show its output only if it fails
    local out
    out=$("$@" 2>&1) || { log "failed: $* :: $out"; return 1; }
}

require_root() { [[ $(id -u) == 0 ]] || die "run as root (sudo $0)"; }

# One up/down at a time: namespace and bridge names are machine-wide. down.sh run by up.sh
# inherits the lock.
take_lock() {
    [[ ${HPCDASK_TESTBED_LOCKED:-} == 1 ]] && return 0
    { exec 9>/run/lock/hpcdask-testbed.lock; } 2>/dev/null || exec 9>/tmp/hpcdask-testbed.lock
    flock -w 120 9 || die "another tests/infra/up.sh or down.sh is still running"
    export HPCDASK_TESTBED_LOCKED=1
}

# wait_until SECONDS DESCRIPTION CMD... : poll CMD every 0.1 s until it succeeds
# (WAIT_QUIET=1: no message on time-out).
wait_until() {
    local timeout=$1 what=$2 deadline
    shift 2
    deadline=$(awk -v t="$(now)" -v d="$timeout" 'BEGIN { printf "%.3f", t + d }')
    until "$@" >/dev/null 2>&1; do
        if awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t > d) }'; then
            [[ ${WAIT_QUIET:-} == 1 ]] || log "timed out after ${timeout}s waiting for: $what"
            return 1
        fi
        sleep 0.1
    done
}

# --- pid files -----------------------------------------------------------------------------

pid_of() { # pid_of PIDFILE -> prints the pid if the file names a live process
    local pid
    [[ -r $1 ]] || return 1
    read -r pid <"$1" || true
    [[ $pid =~ ^[0-9]+$ ]] && proc_running "$pid" || return 1
    echo "$pid"
}

# proc_running PID: exists and is not a zombie. Daemons are re-parented to pid 1, which may
# take its time to reap them, so a zombie counts as gone.
proc_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

procs_gone() { # procs_gone PID...: none of them is running
    local pid
    for pid in "$@"; do
        proc_running "$pid" && return 1
    done
    return 0
}

pid_alive() { pid_of "$1" >/dev/null; }

# A process is ours if it carries the owner marker for this base dir in its environment, or
# names a file under the base dir on its command line (sshd rewrites its process title over
# the environment, so its marker is gone).
pid_is_ours() {
    grep -qzx "HPCDASK_TESTBED_OWNER=$BASE" "/proc/$1/environ" 2>/dev/null ||
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$BASE/"
}

# stop_pidfiles PIDFILE...: SIGTERM all of them at once, wait up to $STOP_GRACE s, SIGKILL
# the rest. Only signals a pid that is still one of our daemons (pid_is_ours), so a recycled
# pid is never hit.
STOP_GRACE=${STOP_GRACE:-10}
stop_pidfiles() {
    local f pid pids=() names=()
    for f in "$@"; do
        [[ -e $f || -L $f ]] || continue
        if pid=$(pid_of "$f"); then
            if pid_is_ours "$pid"; then
                kill -TERM "$pid" 2>/dev/null || true
                pids+=("$pid")
                names+=("$(basename "$f" .pid)($pid)")
            else
                log "pid file $f names pid $pid, which is not a testbed process: left alone"
            fi
        fi
        rm -f "$f"
    done
    ((${#pids[@]})) || return 0
    if ! wait_until "$STOP_GRACE" "${names[*]} to exit" procs_gone "${pids[@]}"; then
        log "SIGKILL to what ignored SIGTERM"
        kill -KILL "${pids[@]}" 2>/dev/null || true
        wait_until 5 "${names[*]} to die" procs_gone "${pids[@]}" || true
    fi
    log "stopped ${names[*]}"
}

# Our processes found without pid files: those that carry the owner marker in their environment
# (daemons and what they fork, e.g. slurmstepd) and sshds running one of our configs.
marked_pids() {
    local dir pid
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        if grep -qzx "HPCDASK_TESTBED_OWNER=$BASE" "$dir/environ" 2>/dev/null ||
            tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -qF -- "-f $BASE/ssh/"; then
            proc_running "$pid" && echo "$pid"
        fi
    done
    return 0
}

# daemon_env: prefix for commands that start daemons.
# fd 9 (the up/down lock) is closed so that no daemon keeps holding the lock. Each daemon gets
# a session of its own (setsid): sge_execd does not detach itself, and would otherwise die
# with the terminal or job that ran up.sh. The daemons fork themselves and write their own
# pid files, so setsid's own fork (when the caller leads its process group) changes nothing.
daemon_env() { env "HPCDASK_TESTBED_OWNER=$BASE" "SLURM_CONF=$SLURM_CONF" setsid "$@" 9>&-; }

# ns_daemon NS CMD...: start daemon CMD (with daemon_env) in the network namespace NS, in its
# own UTS namespace whose hostname is NS. nsenter, not `ip netns exec`: the latter makes a new
# mount namespace and remounts /sys, and slurmd then dies on "No filesystem mounted on
# /sys/fs/cgroup".
ns_daemon() {
    local ns=$1
    shift
    # shellcheck disable=SC2016 # $0/$@ belong to the inner shell
    daemon_env nsenter "--net=/run/netns/$ns" -- unshare --uts -- \
        /bin/sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
}

port_in_use() { # port_in_use ADDRESS PORT (root network namespace)
    ss -Hltn "sport = :$2" 2>/dev/null | awk -v a="$1" '{ split($4, p, ":"); if (p[1] == a || p[1] == "*" || p[1] == "0.0.0.0" || $4 ~ /^\[::\]/) f = 1 } END { exit !f }'
}

# run_checks "FUNC ARGS"...: run check functions concurrently; show the output of those that
# fail; return non-zero if any failed.
run_checks() {
    local tmp check i rc=0 pids=()
    tmp=$(mktemp -d)
    i=0
    for check in "$@"; do
        # shellcheck disable=SC2086 # "FUNC ARGS" is split on purpose
        $check >"$tmp/$i" 2>&1 &
        pids+=($!)
        i=$((i + 1))
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            rc=1
            log "check failed: ${*:i+1:1}"
            sed 's/^/    /' "$tmp/$i"
        fi
    done
    rm -rf "$tmp"
    return "$rc"
}

json_str() { printf '"%s"' "$1"; } # values are validated to need no escaping

short_hostname() { hostname -s; }
