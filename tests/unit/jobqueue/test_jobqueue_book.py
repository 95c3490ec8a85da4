"""The job book through a faked shell: submissions, refusals, polling, cancelling."""

from __future__ import annotations

import asyncio
import time

import pytest
from fakeshell import FakeShell

from hpcdask.backends.jobqueue.book import JobBook, Retry
from hpcdask.backends.jobqueue.systems.lsf import LSFDialect
from hpcdask.backends.jobqueue.systems.sge import SGEDialect
from hpcdask.backends.jobqueue.systems.slurm import SlurmDialect
from hpcdask.jobs import JobInfo, JobState, JobSubmissionError
from hpcdask.shell import CommandError

P, R, F, C, U = (JobState.PENDING, JobState.RUNNING, JobState.FINISHED, JobState.CANCELLED,
                 JobState.UNKNOWN)  # fmt: skip
REFUSED = (
    "sbatch: error: invalid partition specified: nope\n"
    "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
)


def slurm(shell: FakeShell) -> JobBook:
    return JobBook(SlurmDialect(), shell)


def squeue(**jobs: str) -> str:
    return "".join(f"{job_id.lstrip('j')}|{line}\n" for job_id, line in jobs.items())


def test_submit_feeds_the_script_and_records_a_pending_job() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "101\n")
    book = slurm(shell)
    assert asyncio.run(book.submit("c-0", "#!/bin/sh\necho hi\n")) == "101"
    assert shell.calls[0].command == ("sbatch", "--parsable")
    assert shell.calls[0].stdin == "#!/bin/sh\necho hi\n"
    assert book.jobs() == {"101": JobInfo("101", P, "submitted", name="c-0")}
    assert book.live() == ["101"]


def test_refusal_carries_the_batch_systems_words() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "", REFUSED, 1)
    with pytest.raises(JobSubmissionError) as caught:
        asyncio.run(slurm(shell).submit("c-0", "#!/bin/sh\n"))
    error = caught.value
    assert str(error) == (
        "Slurm refused the worker job: sbatch: error: invalid partition specified: nope; "
        "sbatch: error: Batch job submission failed: Invalid partition name specified"
    )
    assert "\n" not in str(error)
    assert (error.command, error.returncode, error.stderr) == (("sbatch", "--parsable"), 1, REFUSED)


def test_refusals_back_off_until_cleared() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "", REFUSED, 1)
    shell.reply("sbatch", "102\n")
    book = slurm(shell)

    async def twice() -> None:
        for _ in range(2):
            with pytest.raises(JobSubmissionError, match="invalid partition"):
                await book.submit("c-0", "#!/bin/sh\n")

    asyncio.run(twice())
    assert len(shell.called("sbatch")) == 1  # the second refusal came from the back-off
    book.clear_backoff()
    assert asyncio.run(book.submit("c-0", "#!/bin/sh\n")) == "102"


def test_missing_command_and_garbled_output_are_refusals() -> None:
    with pytest.raises(JobSubmissionError, match="cannot run sbatch: No such file"):
        asyncio.run(slurm(FakeShell()).submit("c-0", "#!/bin/sh\n"))
    shell = FakeShell()
    shell.reply("sbatch", "Submitted nothing\n")
    with pytest.raises(JobSubmissionError, match="no job id in the output of sbatch"):
        asyncio.run(slurm(shell).submit("c-0", "#!/bin/sh\n"))


def test_lsf_without_stdin_submits_a_temporary_file() -> None:
    shell = FakeShell()
    seen: list[str] = []

    def bsub(command: tuple[str, ...], stdin: str | None) -> tuple[int, str, str]:
        with open(command[1]) as script:
            seen.append(script.read())
        return 0, "Job <7> is submitted to queue <normal>.\n", ""

    shell.answer("bsub", bsub)
    book = JobBook(LSFDialect(use_stdin=False), shell)
    assert asyncio.run(book.submit("c-0", "#!/bin/sh\n#BSUB -n 1\n")) == "7"
    assert seen == ["#!/bin/sh\n#BSUB -n 1\n"]
    assert shell.calls[0].stdin is None


def test_poll_updates_states_and_reasons() -> None:
    shell = FakeShell()
    for job_id in ("101", "102", "103"):
        shell.reply("sbatch", f"{job_id}\n")
    shell.reply("squeue", squeue(j101="PENDING|Priority|", j102="RUNNING|None|n2",
                                 j103="TIMEOUT|TimeLimit|n3"))  # fmt: skip
    book = slurm(shell)

    async def run() -> dict[str, JobInfo]:
        for n in range(3):
            await book.submit(f"c-{n}", "#!/bin/sh\n")
        return await book.poll()

    jobs = asyncio.run(run())
    assert {k: (v.state, v.reason, v.nodes, v.name) for k, v in jobs.items()} == {
        "101": (P, "Priority", "", "c-0"),
        "102": (R, "", "n2", "c-1"),
        "103": (JobState.TIMEOUT, "TimeLimit", "n3", "c-2"),
    }
    assert shell.called("squeue")[0].command[-1] == "--jobs=101,102,103"
    assert book.live() == ["101", "102"]


def test_jobs_that_left_the_queue() -> None:
    shell = FakeShell()
    for job_id in ("101", "102", "103"):
        shell.reply("sbatch", f"{job_id}\n")
    shell.reply("squeue", "", "slurm_load_jobs error: Invalid job id specified\n", 1)
    shell.reply("scancel", "")
    book = slurm(shell)

    async def run() -> dict[str, JobInfo]:
        for n in range(3):
            await book.submit(f"c-{n}", "#!/bin/sh\n")
        book.worker_joined("c-1")  # its worker came and retired
        book.worker_left("c-1")
        book._records["103"].cancelled = True  # cancelled, but the command's answer was lost
        return await book.poll()

    jobs = asyncio.run(run())
    assert {k: (v.state, v.reason) for k, v in jobs.items()} == {
        "101": (U, "left the queue; the batch system no longer reports its final state"),
        "102": (F, "its workers retired"),
        "103": (C, "by hpcdask"),
    }
    assert book.failed_in_a_row == 1  # c-0 ended before any worker connected


def test_poll_failure_raises_and_keeps_states() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "101\n")
    shell.reply("squeue", "", "squeue: error: Unable to contact slurm controller\n", 1)
    book = slurm(shell)

    async def run() -> None:
        await book.submit("c-0", "#!/bin/sh\n")
        with pytest.raises(CommandError, match="Unable to contact slurm controller"):
            await book.poll()

    asyncio.run(run())
    assert book.jobs()["101"].state is P


def test_sge_poll_ignores_other_jobs_of_the_user() -> None:
    shell = FakeShell()
    shell.reply("qsub", "8\n")
    shell.reply("qstat", "<job_info><queue_info><job_list><JB_job_number>8</JB_job_number>"
                "<state>r</state><queue_name>all.q@vm</queue_name></job_list><job_list>"
                "<JB_job_number>999</JB_job_number><state>r</state></job_list></queue_info>"
                "</job_info>")  # fmt: skip
    book = JobBook(SGEDialect(), shell)

    async def run() -> dict[str, JobInfo]:
        await book.submit("c-0", "#!/bin/sh\n")
        return await book.poll()

    assert asyncio.run(run()) == {"8": JobInfo("8", R, "", "vm", "c-0")}


def test_workers_joining_and_leaving() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "101\n")
    shell.reply("sbatch", "102\n")
    book = slurm(shell)

    async def run() -> None:
        await book.submit("c-0", "#!/bin/sh\n")
        await book.submit("c-1", "#!/bin/sh\n")

    asyncio.run(run())
    book.worker_joined("c-0-0")  # a group of two worker processes
    book.worker_joined("c-0-1")
    assert book.jobs()["101"].state is R  # a connected worker proves it runs
    assert book.handover_in("101", 10.0) == pytest.approx(10.0, abs=0.5)
    assert book.handover_in("102", 10.0) is None  # not started: no successor yet
    assert book.worker_left("c-0-0") == "101"
    assert not book.is_done("101", grace=0.0)  # one of its workers is still there
    book.worker_left("c-0-1")
    assert not book.is_done("101", grace=60.0)
    time.sleep(0.01)
    assert book.is_done("101", grace=0.0)
    book.handed_over("101")
    assert book.handover_in("101", 10.0) is None
    assert book.worker_left("unknown") is None


def test_cancels_in_one_turn_share_one_command() -> None:
    shell = FakeShell()
    for job_id in ("101", "102", "103"):
        shell.reply("sbatch", f"{job_id}\n")
    shell.reply("scancel", "")
    book = slurm(shell)

    async def run() -> None:
        for n in range(3):
            await book.submit(f"c-{n}", "#!/bin/sh\n")
        await asyncio.gather(*(book.cancel([job_id]) for job_id in ("101", "102", "103")))
        await book.cancel_all()  # nothing left to cancel: no command

    asyncio.run(run())
    assert [call.command for call in shell.called("scancel")] == [("scancel", "101", "102", "103")]
    assert {info.state for info in book.jobs().values()} == {C}


def test_failed_cancel_leaves_the_state_to_the_next_poll() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "101\n")
    shell.reply("scancel", "", "scancel: error: Kill job error on job id 101\n", 1)
    book = slurm(shell)

    async def run() -> None:
        await book.submit("c-0", "#!/bin/sh\n")
        await book.cancel(["101"])

    asyncio.run(run())
    assert book.jobs()["101"].state is P


def test_only_failures_count_towards_giving_up() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "101\n")
    shell.reply("sbatch", "102\n")
    shell.reply("squeue", squeue(j101="CANCELLED|None|n1", j102="FAILED|NonZeroExitCode|n1"))
    book = slurm(shell)

    async def run() -> None:
        await book.submit("c-0", "#!/bin/sh\n")
        await book.submit("c-1", "#!/bin/sh\n")
        await book.poll()

    asyncio.run(run())
    assert book.failed_in_a_row == 1  # the job someone else cancelled is no crash


BUSY = "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n"
FAST = Retry(initial=0.01, maximum=0.02, give_up=5.0, cancel_give_up=1.0)


def test_transient_submit_failures_are_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    shell = FakeShell()
    shell.reply("sbatch", "", BUSY, 1)
    shell.reply("sbatch", "", BUSY, 1)
    shell.reply("sbatch", "102\n")
    book = JobBook(SlurmDialect(), shell, retry=FAST)
    with caplog.at_level("WARNING"):
        assert asyncio.run(book.submit("c-0", "#!/bin/sh\n")) == "102"
    assert len(shell.called("sbatch")) == 3
    assert book.unanswered is None
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2  # once when it stops answering, once when it answers again
    assert said[0].startswith("Slurm is not answering (")
    assert said[1].startswith("Slurm answers again after 2 failed tries")


def test_refusal_is_not_tried_again() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "", REFUSED, 1)
    book = JobBook(SlurmDialect(), shell, retry=FAST)
    with pytest.raises(JobSubmissionError, match="Invalid partition name specified"):
        asyncio.run(book.submit("c-0", "#!/bin/sh\n"))
    assert len(shell.called("sbatch")) == 1


def test_a_batch_system_that_never_answers_gives_up_with_its_words() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "", BUSY, 1)
    book = JobBook(SlurmDialect(), shell, retry=Retry(initial=0.01, maximum=0.01, give_up=0.2))
    with pytest.raises(JobSubmissionError, match="Socket timed out"):
        asyncio.run(book.submit("c-0", "#!/bin/sh\n"))
    assert len(shell.called("sbatch")) > 2
    assert book.unanswered is not None and book.unanswered.tries >= 2


def test_a_failed_poll_leaves_every_job_as_it_was() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "101\n")
    shell.reply("squeue", "", "slurm_load_jobs error: Unable to contact slurm controller\n", 1)
    shell.reply("squeue", squeue(j101="RUNNING|None|n1"))
    book = JobBook(SlurmDialect(), shell, retry=FAST)
    asyncio.run(book.submit("c-0", "#!/bin/sh\n"))
    with pytest.raises(CommandError):
        asyncio.run(book.poll())
    assert book.jobs()["101"].state is P and book.live() == ["101"]
    assert book.unanswered is not None and book.unanswered.tries == 1
    assert asyncio.run(book.poll())["101"].state is R
    assert book.unanswered is None


def test_transient_cancel_failures_are_tried_again() -> None:
    shell = FakeShell()
    shell.reply("sbatch", "101\n")
    shell.reply("scancel", "", "scancel: error: Socket timed out on send/recv operation\n", 1)
    shell.reply("scancel", "")
    book = JobBook(SlurmDialect(), shell, retry=FAST)
    asyncio.run(book.submit("c-0", "#!/bin/sh\n"))
    asyncio.run(book.cancel(["101"]))
    assert [c.command for c in shell.called("scancel")] == [("scancel", "101")] * 2
    assert book.jobs()["101"].state is C
