# shellcheck shell=bash
# Grid Engine 8.1.9 (Debian's gridengine-*) on this host, with a private SGE_ROOT and spool
# under $BASE/sge: qmaster + one execd, queue all.q with 4 slots. Optional
# (HPCDASK_TESTBED_SGE=1). The four fixes it needs to run non-interactively here:
#   1. host_aliases makes the short host name and "localhost" one host (127.0.0.1 resolves
#      back to "localhost", else "client IP resolved to host name localhost ... not identical");
#   2. min_uid 0 / min_gid 0 in the global configuration, so root may run jobs;
#   3. a queue with pe_list NONE (the default template names PEs that do not exist);
#   4. schedule_interval 0:0:1 (default 15 s).

SGE_DIR=$BASE/sge
SGE_ROOT_DIR=$SGE_DIR/root
SGE_PKG_ROOT=/var/lib/gridengine # the package's SGE_ROOT: bin/, lib/, utilbin/ symlinks
SGE_QUEUE=all.q
SGE_SLOTS=4

sge_export() {
    export SGE_ROOT=$SGE_ROOT_DIR SGE_CELL=default
    export SGE_QMASTER_PORT SGE_EXECD_PORT
}

sge_write_cell() {
    local host common=$SGE_ROOT_DIR/default/common d
    host=$(short_hostname)
    mkdir -p "$common" "$SGE_DIR/spooldb" "$SGE_DIR/qmaster/job_scripts" "$SGE_DIR/execd"
    for d in bin lib utilbin; do ln -sfn "$SGE_PKG_ROOT/$d" "$SGE_ROOT_DIR/$d"; done
    ln -sfn /usr/share/gridengine/util "$SGE_ROOT_DIR/util"
    cat >"$common/bootstrap" <<EOF
# Version: 8.1.9
admin_user              root
default_domain          none
ignore_fqdn             true
spooling_method         berkeleydb
spooling_lib            libspoolb
spooling_params         $SGE_DIR/spooldb
binary_path             /usr/sbin
qmaster_spool_dir       $SGE_DIR/qmaster
security_mode           none
listener_threads        2
worker_threads          2
scheduler_threads       1
EOF
    echo "$host" >"$common/act_qmaster"
    if [[ $host != localhost ]]; then echo "$host localhost" >"$common/host_aliases"; fi
    printf 'SGE_ROOT=%s; export SGE_ROOT\nSGE_CELL=default; export SGE_CELL\n' "$SGE_ROOT_DIR" \
        >"$common/settings.sh"
    printf 'SGE_QMASTER_PORT=%s; export SGE_QMASTER_PORT\n' "$SGE_QMASTER_PORT" >>"$common/settings.sh"
    printf 'SGE_EXECD_PORT=%s; export SGE_EXECD_PORT\n' "$SGE_EXECD_PORT" >>"$common/settings.sh"
    sed -e "s|^execd_spool_dir .*|execd_spool_dir        $SGE_DIR/execd|" \
        -e 's|^min_uid .*|min_uid                0|' -e 's|^min_gid .*|min_gid                0|' \
        -e 's|^mailer .*|mailer                 /bin/true|' \
        -e 's|^load_report_time .*|load_report_time       00:00:05|' \
        /usr/share/gridengine/default-configuration >"$SGE_DIR/global.conf"
}

sge_init_spool() {
    local u=/usr/share/gridengine/util/resources
    quiet /usr/lib/gridengine/spoolinit berkeleydb libspoolb "$SGE_DIR/spooldb" init
    quiet /usr/lib/gridengine/spooldefaults configuration "$SGE_DIR/global.conf"
    quiet /usr/lib/gridengine/spooldefaults complexes "$u/centry"
    quiet /usr/lib/gridengine/spooldefaults usersets "$u/usersets"
    quiet /usr/lib/gridengine/spooldefaults managers root
}

sge_configure() {
    local host
    host=$(short_hostname)
    printf '%s\n' "hostname $host" "load_scaling NONE" "complex_values NONE" "user_lists NONE" \
        "xuser_lists NONE" "projects NONE" "xprojects NONE" "usage_scaling NONE" \
        "report_variables NONE" >"$SGE_DIR/exechost.conf"
    quiet qconf -Ae "$SGE_DIR/exechost.conf"
    quiet qconf -as "$host"
    qconf -ssconf | sed -e 's/^schedule_interval .*/schedule_interval 0:0:1/' \
        -e 's/^flush_submit_sec .*/flush_submit_sec 1/' \
        -e 's/^flush_finish_sec .*/flush_finish_sec 1/' >"$SGE_DIR/sched.conf"
    quiet qconf -Msconf "$SGE_DIR/sched.conf"
    cat >"$SGE_DIR/queue.conf" <<EOF
qname                 $SGE_QUEUE
hostlist              $host
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               NONE
rerun                 FALSE
slots                 $SGE_SLOTS
tmpdir                /tmp
shell                 /bin/sh
prolog                NONE
epilog                NONE
shell_start_mode      posix_compliant
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
EOF
    quiet qconf -Aq "$SGE_DIR/queue.conf"
}

sge_execd_pidfile() { # the execd spools under the name it resolves itself to (e.g. localhost)
    local f
    for f in "$SGE_DIR"/execd/*/execd.pid; do
        [[ -e $f ]] && { echo "$f"; return 0; }
    done
    return 1
}

sge_queue_ready() { # the queue instance reports load and has no state flags (e.g. "au")
    qstat -f -q "$SGE_QUEUE" 2>/dev/null | awk -v q="$SGE_QUEUE@" \
        'index($1, q) == 1 { found = 1; if ($4 == "-NA-" || NF > 5) bad = 1 } END { exit !(found && !bad) }'
}

sge_up() {
    port_in_use 0.0.0.0 "$SGE_QMASTER_PORT" && die "port $SGE_QMASTER_PORT in use (HPCDASK_TESTBED_SGE_QMASTER_PORT)"
    port_in_use 0.0.0.0 "$SGE_EXECD_PORT" && die "port $SGE_EXECD_PORT in use (HPCDASK_TESTBED_SGE_EXECD_PORT)"
    getent hosts "$(short_hostname)" >/dev/null ||
        die "Grid Engine needs the host name '$(short_hostname)' to resolve (add it to /etc/hosts)"
    sge_export
    sge_write_cell
    sge_init_spool
    daemon_env /usr/sbin/sge_qmaster || die "sge_qmaster did not start, see $SGE_DIR/qmaster/messages"
    ln -sfn "$SGE_DIR/qmaster/qmaster.pid" "$RUN/sge_qmaster.pid"
    wait_until 20 "sge_qmaster to answer" qstat || die "sge_qmaster does not answer, see $SGE_DIR/qmaster/messages"
    sge_configure
    daemon_env /usr/sbin/sge_execd || die "sge_execd did not start"
    local f
    wait_until 10 "sge_execd pid file" sge_execd_pidfile || die "sge_execd did not start, see $SGE_DIR/execd/*/messages"
    f=$(sge_execd_pidfile)
    ln -sfn "$f" "$RUN/sge_execd.pid"
    wait_until 20 "queue $SGE_QUEUE to be ready" sge_queue_ready ||
        die "queue $SGE_QUEUE not ready: $(qstat -f 2>&1 | tr '\n' ' ')"
}

sge_check_running() {
    pid_alive "$RUN/sge_qmaster.pid" && pid_alive "$RUN/sge_execd.pid"
}

sge_verify() {
    sge_export
    local out
    out=$(cd "$SGE_DIR" && timeout 30 qsub -sync y -b y -j y -o /dev/null true 2>&1) ||
        { log "qsub -sync y failed: $out"; return 1; }
}

SGE_STOP_GRACE=${HPCDASK_TESTBED_SGE_STOP_GRACE:-3}

sge_down() {
    [[ -d $SGE_ROOT_DIR/default/common ]] || return 0
    sge_export
    local f pid pids=()
    for f in "$RUN/sge_execd.pid" "$RUN/sge_qmaster.pid"; do
        pid=$(pid_of "$f") && pids+=("$(basename "$f" .pid) $pid")
    done
    if pid_alive "$RUN/sge_qmaster.pid"; then
        if [[ -n $(qstat -u '*' 2>/dev/null) ]]; then
            log "deleting Grid Engine jobs"
            qdel -f -u '*' >/dev/null 2>&1 || true
        fi
        quiet qconf -ke all || true
        quiet qconf -km || true
    fi
    # After -km (or SIGTERM) qmaster spends ~9 s in its "controlled shutdown" waiting for
    # threads that never run here. Its spool is deleted right after, so that buys nothing:
    # give it a moment, then SIGKILL.
    local entry name
    for entry in "${pids[@]}"; do
        read -r name pid <<<"$entry"
        if WAIT_QUIET=1 wait_until "$SGE_STOP_GRACE" "$name to shut down" procs_gone "$pid"; then
            log "stopped $name($pid) with qconf"
        elif pid_is_ours "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_until 5 "$name to die" procs_gone "$pid" || true
            log "stopped $name($pid) with qconf, then SIGKILL (its ~9 s controlled shutdown is not needed)"
        fi
    done
    stop_pidfiles "$RUN/sge_execd.pid" "$RUN/sge_qmaster.pid"
}

sge_json() {
    printf '  "sge": {\n'
    printf '    "root": %s,\n    "cell": "default",\n' "$(json_str "$SGE_ROOT_DIR")"
    printf '    "qmaster_port": %s,\n    "execd_port": %s,\n' "$SGE_QMASTER_PORT" "$SGE_EXECD_PORT"
    printf '    "host": "%s",\n    "queue": "%s",\n    "slots": %s,\n' \
        "$(short_hostname)" "$SGE_QUEUE" "$SGE_SLOTS"
    printf '    "settings": %s\n  }' "$(json_str "$SGE_ROOT_DIR/default/common/settings.sh")"
}
