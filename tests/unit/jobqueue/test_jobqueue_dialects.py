"""Each batch system's commands and what hpcdask reads from their output (canned, no batch
system needed)."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from hpcdask.backends.jobqueue.dialect import Dialect
from hpcdask.backends.jobqueue.systems.htcondor import HTCondorDialect, HTCondorWorkerJob
from hpcdask.backends.jobqueue.systems.lsf import LSFDialect, LSFWorkerJob
from hpcdask.backends.jobqueue.systems.moab import MoabDialect, MoabWorkerJob
from hpcdask.backends.jobqueue.systems.oar import OARDialect, OARWorkerJob
from hpcdask.backends.jobqueue.systems.pbs import PBSDialect, PBSWorkerJob
from hpcdask.backends.jobqueue.systems.sge import SGEDialect, SGEWorkerJob
from hpcdask.backends.jobqueue.systems.slurm import SlurmDialect, SlurmWorkerJob
from hpcdask.jobs import JobInfo, JobState
from hpcdask.shell import CommandError, CommandResult, CommandTimeout

P, R, F = JobState.PENDING, JobState.RUNNING, JobState.FINISHED
X, T, C, U = JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED, JobState.UNKNOWN


def out(stdout: str, stderr: str = "", code: int = 0, command: str = "x") -> CommandResult:
    return CommandResult((command,), code, stdout, stderr)


def states(dialect: Dialect, stdout: str) -> dict[str, tuple[JobState, str, str]]:
    jobs = dialect.parse_status([out(stdout)])
    return {job_id: (info.state, info.reason, info.nodes) for job_id, info in jobs.items()}


# --- submitting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "stdout", "job_id"),
    [
        (SlurmDialect(), "4321\n", "4321"),
        (SlurmDialect(), "4321;cluster2\n", "4321"),
        (PBSDialect(), "1234.pbs-server.example.org\n", "1234.pbs-server.example.org"),
        (MoabDialect(), "\n5678\n", "5678"),
        (SGEDialect(), "77\n", "77"),
        (LSFDialect(), "Job <4242> is submitted to queue <normal>.\n", "4242"),
        (HTCondorDialect(), "Submitting job(s).\n1 job(s) submitted to cluster 77.\n", "77.0"),
        (OARDialect(), "[ADMISSION RULE] Set default walltime to 7200.\nOAR_JOB_ID=1200\n", "1200"),
    ],
)
def test_job_id_from_submit_output(dialect: Dialect, stdout: str, job_id: str) -> None:
    assert dialect.job_id(out(stdout)) == job_id


def test_no_job_id_is_an_error() -> None:
    with pytest.raises(ValueError, match="no job id in the output of sbatch: sbatch: weird"):
        SlurmDialect().job_id(out("", "sbatch: weird", command="sbatch"))


@pytest.mark.parametrize(
    ("dialect", "stderr", "said"),
    [
        (
            SlurmDialect(),
            "sbatch: error: invalid partition specified: nope\n"
            "sbatch: error: Batch job submission failed: Invalid partition name specified\n",
            "sbatch: error: invalid partition specified: nope; "
            "sbatch: error: Batch job submission failed: Invalid partition name specified",
        ),
        (
            SGEDialect(),
            'Unable to run job: Job was rejected because job requests unknown queue "nope".\n'
            "Exiting.\n",
            'Unable to run job: Job was rejected because job requests unknown queue "nope".',
        ),
        (PBSDialect(), "qsub: Unknown queue\n", "qsub: Unknown queue"),
        (LSFDialect(), "nope: No such queue. Job not submitted.\n",
         "nope: No such queue. Job not submitted."),
    ],
)  # fmt: skip
def test_refusal_quotes_the_batch_system(dialect: Dialect, stderr: str, said: str) -> None:
    assert dialect.refusal(CommandError(["submit"], 1, "", stderr)) == said


def test_submissions_feed_the_script_on_stdin() -> None:
    for dialect, command in [
        (SlurmDialect(), ["sbatch", "--parsable"]),
        (PBSDialect(), ["qsub"]),
        (MoabDialect(), ["msub"]),
        (SGEDialect(), ["qsub", "-terse"]),
        (LSFDialect(), ["bsub"]),
        (HTCondorDialect(), ["condor_submit", "-"]),
    ]:
        assert dialect.submission("#!/bin/sh\n") == (command, "#!/bin/sh\n")
        assert not dialect.needs_file()


@pytest.mark.parametrize(
    ("dialect", "job_class", "options"),
    [
        (SlurmDialect(), SlurmWorkerJob, ("--parsable",)),
        (PBSDialect(), PBSWorkerJob, ()),
        (MoabDialect(), MoabWorkerJob, ()),
        (SGEDialect(), SGEWorkerJob, ("-terse",)),
        (LSFDialect(), LSFWorkerJob, ()),
        (HTCondorDialect(), HTCondorWorkerJob, ("-",)),
        (OARDialect(), OARWorkerJob, ()),
    ],
)
def test_commands_are_dask_jobqueues_plus_hpcdasks_options(
    dialect: Dialect, job_class: Any, options: tuple[str, ...]
) -> None:
    """Cancelling is dask-jobqueue's command; submitting adds only the options named here."""
    assert dialect.submit == (*shlex.split(job_class.submit_command), *options)
    assert dialect.cancel == tuple(shlex.split(job_class.cancel_command))


def test_lsf_without_stdin_submits_a_file() -> None:
    dialect = LSFDialect(use_stdin=False)
    assert dialect.needs_file()
    assert dialect.submission("#!/bin/sh\n", "/tmp/job.sh") == (["bsub", "/tmp/job.sh"], None)


def test_oar_turns_directives_into_options() -> None:
    script = (
        "#!/usr/bin/env bash\n\n#OAR -n dask\n#OAR -q default\n"
        "#OAR -l /nodes=1/core=4,walltime=01:00:00\n#OAR -p 'memcore>=1000'\n"
        "export A=1\npython -m distributed.cli.dask_worker tcp://x:1\n"
    )
    command, stdin = OARDialect().submission(script)
    assert stdin is None
    assert command == [
        "oarsub", "-n", "dask", "-q", "default", "-l", "/nodes=1/core=4,walltime=01:00:00",
        "-p", "memcore>=1000", "export A=1\npython -m distributed.cli.dask_worker tcp://x:1\n",
    ]  # fmt: skip


# --- polling -------------------------------------------------------------------------------


def test_slurm_states() -> None:
    stdout = (
        "12|PENDING|Resources|\n"
        "13|RUNNING|None|n1\n"
        "14|TIMEOUT|TimeLimit|n2\n"
        "15|FAILED|NonZeroExitCode|n3\n"
        "16|CANCELLED|None|n4\n"
        "17|COMPLETED|None|n1\n"
        "18|OUT_OF_MEMORY|OutOfMemory|n2\n"
        "19|PENDING|JobHeldUser|\n"
        "20|COMPLETING|None|n3\n"
        "21|NODE_FAIL|None|n4\n"
    )
    assert states(SlurmDialect(), stdout) == {
        "12": (P, "Resources", ""),
        "13": (R, "", "n1"),
        "14": (T, "TimeLimit", "n2"),
        "15": (X, "FAILED: NonZeroExitCode", "n3"),
        "16": (C, "", "n4"),
        "17": (F, "", "n1"),
        "18": (X, "OUT_OF_MEMORY: OutOfMemory", "n2"),
        "19": (P, "JobHeldUser", ""),
        "20": (R, "COMPLETING", "n3"),
        "21": (X, "NODE_FAIL", "n4"),
    }


def test_slurm_status_command_and_unknown_ids() -> None:
    dialect = SlurmDialect()
    assert dialect.status_commands(["3", "4"]) == [
        ["squeue", "--noheader", "--states=all", "--format=%i|%T|%r|%N", "--jobs=3,4"]
    ]
    gone = out("", "slurm_load_jobs error: Invalid job id specified\n", 1)
    assert dialect.parse_status([gone]) == {}
    down = out("", "squeue: error: Unable to contact slurm controller (connect failure)\n", 1)
    with pytest.raises(CommandError, match="Unable to contact slurm controller"):
        dialect.parse_status([down])


def test_pbs_states() -> None:
    stdout = """Job Id: 1234.server
    Job_Name = dask
    job_state = Q
    comment = Not Running: Insufficient amount of resource: ncpus
Job Id: 1235.server
    job_state = R
    exec_host = node7/0*8
Job Id: 1236.server
    job_state = F
    Exit_status = -29
Job Id: 1237.server
    job_state = F
    Exit_status = 0
Job Id: 1238.server
    job_state = C
    Exit_status = 1
Job Id: 1239.server
    job_state = H
"""
    assert states(PBSDialect(), stdout) == {
        "1234.server": (P, "Not Running: Insufficient amount of resource: ncpus", ""),
        "1235.server": (R, "", "node7"),
        "1236.server": (T, "exit status -29", ""),
        "1237.server": (F, "", ""),
        "1238.server": (X, "exit status 1", ""),
        "1239.server": (P, "held", ""),
    }
    unknown = out("", "qstat: Unknown Job Id 1240.server\n", 153)
    assert PBSDialect().parse_status([unknown]) == {}


def test_moab_states_one_command_per_job() -> None:
    dialect = MoabDialect()
    assert dialect.status_commands(["1", "2"]) == [["checkjob", "1"], ["checkjob", "2"]]
    idle = "job 5678\n\nAName: dask\nState: Idle\nCreds:  user:alice  group:users\n"
    failed = "job 5679\n\nState: Completed\nCompletion Code: 1  Time: Mon Jan 1\n"
    gone = out("ERROR:  cannot locate job '5680'\n", "", 1)
    jobs = dialect.parse_status([out(idle), out(failed), gone])
    assert jobs == {
        "5678": JobInfo("5678", P, "Idle"),
        "5679": JobInfo("5679", X, "completion code 1"),
    }


def test_sge_states() -> None:
    stdout = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>7</JB_job_number>
      <state>r</state>
      <queue_name>all.q@vm</queue_name>
    </job_list>
    <job_list state="running">
      <JB_job_number>11</JB_job_number>
      <state>dr</state>
      <queue_name>all.q@vm</queue_name>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending"><JB_job_number>8</JB_job_number><state>qw</state></job_list>
    <job_list state="pending"><JB_job_number>9</JB_job_number><state>hqw</state></job_list>
    <job_list state="pending"><JB_job_number>10</JB_job_number><state>Eqw</state></job_list>
  </job_info>
</job_info>
"""
    assert states(SGEDialect(), stdout) == {
        "7": (R, "", "vm"),
        "8": (P, "", ""),
        "9": (P, "held (hqw)", ""),
        "10": (X, "error state Eqw (see qstat -j 10)", ""),
        "11": (R, "being deleted", "vm"),
    }
    assert SGEDialect().status_commands(["7", "8"]) == [["qstat", "-xml"]]


def test_lsf_states() -> None:
    stdout = (
        "4242|PEND|-|-|-|New job is waiting for scheduling\n"
        "4243|RUN|-|-|8*node01|-\n"
        "4244|EXIT|140|TERM_RUNLIMIT: job killed after reaching LSF run time limit|node02|-\n"
        "4245|DONE|-|-|node03|-\n"
        "4246|EXIT|1|-|node04|-\n"
        "4247|EXIT|130|TERM_OWNER: job killed by owner|node05|-\n"
        "4248|PSUSP|-|-|-|The job was suspended by user\n"
    )
    assert states(LSFDialect(), stdout) == {
        "4242": (P, "New job is waiting for scheduling", ""),
        "4243": (R, "", "node01"),
        "4244": (T, "TERM_RUNLIMIT: job killed after reaching LSF run time limit", "node02"),
        "4245": (F, "", "node03"),
        "4246": (X, "exit code 1", "node04"),
        "4247": (C, "TERM_OWNER: job killed by owner", "node05"),
        "4248": (P, "The job was suspended by user", ""),
    }
    assert LSFDialect().parse_status([out("", "Job <4249> is not found\n", 255)]) == {}


def test_htcondor_states() -> None:
    stdout = (
        "77.0 1 undefined undefined\n"
        "78.0 2 slot1@node1.example.org undefined\n"
        "79.0 5 undefined Job was held by user alice\n"
        "80.0 4 slot2@node2 undefined\n"
        "81.0 3 undefined undefined\n"
    )
    assert states(HTCondorDialect(), stdout) == {
        "77.0": (P, "", ""),
        "78.0": (R, "", "node1.example.org"),
        "79.0": (P, "held: Job was held by user alice", ""),
        "80.0": (F, "", "node2"),
        "81.0": (C, "removed", ""),
    }
    assert HTCondorDialect().status_commands(["77.0"]) == [
        ["condor_q", "77.0", "-af:j", "JobStatus", "RemoteHost", "HoldReason"]
    ]


def test_oar_states() -> None:
    dialect = OARDialect()
    assert dialect.status_commands(["1", "2"]) == [
        ["oarstat", "-s", "-j", "1"],
        ["oarstat", "-s", "-j", "2"],
    ]
    results = [out(f"{n}: {word}\n") for n, word in
               [(1200, "Waiting"), (1201, "Running"), (1202, "Terminated"), (1203, "Error"),
                (1204, "Hold")]]  # fmt: skip
    jobs = {k: (v.state, v.reason) for k, v in dialect.parse_status(results).items()}
    assert jobs == {
        "1200": (P, "Waiting"),
        "1201": (R, ""),
        "1202": (F, "Terminated"),
        "1203": (X, "Error"),
        "1204": (P, "Hold"),
    }


@pytest.mark.parametrize(
    ("dialect", "command"),
    [
        (SlurmDialect(), ["scancel", "1", "2"]),
        (PBSDialect(), ["qdel", "1", "2"]),
        (MoabDialect(), ["canceljob", "1", "2"]),
        (SGEDialect(), ["qdel", "1", "2"]),
        (LSFDialect(), ["bkill", "1", "2"]),
        (HTCondorDialect(), ["condor_rm", "1", "2"]),
        (OARDialect(), ["oardel", "1", "2"]),
    ],
)
def test_cancel_commands(dialect: Dialect, command: list[str]) -> None:
    assert dialect.cancel_command(["1", "2"]) == command
    assert dialect.commands()[2] == command[0]


#: What each batch system's clients say when it is busy or unreachable (transient), and when
#: it refuses (not transient).
SAID: list[tuple[Dialect, list[str], list[str]]] = [
    (
        SlurmDialect(),
        [
            "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation",
            "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying.",
            "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
        ],
        [
            "sbatch: error: Batch job submission failed: Invalid partition name specified",
            "sbatch: error: Batch job submission failed: Invalid account or "
            "account/partition combination specified",
            "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy "
            "(job submit limit, user's size and/or time limits)",
        ],
    ),
    (
        PBSDialect(),
        ["qstat: cannot connect to server pbs01 (errno=111)",
         "qsub: cannot connect to server pbs01 (errno=15010)"],
        ["qsub: Unknown queue",
         "qsub: Job exceeds queue resource limits MSG=cannot satisfy queue max walltime"],
    ),
    (
        MoabDialect(),
        ["ERROR:    cannot connect to Moab server 'head' (communication error)"],
        ["ERROR:    cannot submit job - invalid class specified"],
    ),
    (
        SGEDialect(),
        ['error: unable to contact qmaster using port 6444 on host "head"',
         "error: commlib error: got select error (Connection refused)"],
        ['Unable to run job: Job was rejected because job requests unknown queue "nope".',
         'Unable to run job: unknown resource "gpu".'],
    ),
    (
        LSFDialect(),
        ["LSF is processing your request. Please wait ...",
         "Batch system daemon not responding ... still trying",
         "LSF is down. Please wait ..."],
        ["nope: No such queue. Job not submitted."],
    ),
    (
        HTCondorDialect(),
        ["ERROR: Can't find address of local schedd",
         "Failed to connect to local queue manager\nCEDAR:6001:Failed to connect to <10.0.0.1>"],
        ["ERROR: Parse error in expression: request_memory = ="],
    ),
    (
        OARDialect(),
        ["DBI connect('dbname=oar','oar',...) failed: could not connect to server: "
         "Connection refused"],
        ["[ADMISSION RULE] Error: There are not enough resources for your request"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("dialect", "busy", "refused"), SAID, ids=[type(d).__name__ for d, *_ in SAID]
)
def test_busy_is_transient_and_refusal_is_not(
    dialect: Dialect, busy: list[str], refused: list[str]
) -> None:
    command = list(dialect.submit)
    for text in busy:
        assert dialect.transient(CommandError(command, 1, "", text)), text
    for text in refused:
        assert not dialect.transient(CommandError(command, 1, "", text)), text
    assert dialect.transient(CommandTimeout(command, None, "", ""))
