"""The one seam through which hpcdask runs commands (sbatch, squeue, qsub, …).

Everything that talks to a batch system goes through a :class:`Shell`, so unit tests replace
the batch system with a fake that returns canned output. The default, :class:`SubprocessShell`,
runs the command on this machine with a timeout and never leaves it running.

Examples
--------
>>> import asyncio
>>> asyncio.run(SubprocessShell().run(["echo", "hello"], timeout=10)).stdout
'hello\\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from hpcdask.errors import HpcdaskError

__all__ = ["CommandError", "CommandResult", "CommandTimeout", "Shell", "SubprocessShell"]


@dataclass(frozen=True)
class CommandResult:
    """What a finished command printed, and how it exited."""

    command: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandError(HpcdaskError):
    """A command failed, could not be started, or ran out of time.

    The message is one line; the attributes keep everything the command printed.
    """

    def __init__(
        self,
        command: Sequence[str],
        returncode: int | None,
        stdout: str = "",
        stderr: str = "",
        message: str | None = None,
    ) -> None:
        self.command = tuple(command)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(message or self._describe())

    def _describe(self) -> str:
        said = one_line(self.stderr) or one_line(self.stdout) or "no output"
        return f"`{shlex.join(self.command)}` failed (exit code {self.returncode}): {said}"


class CommandTimeout(CommandError):
    """A command did not finish within its timeout; it was killed."""


def one_line(text: str) -> str:
    """Return the non-blank lines of ``text`` joined by ``"; "``.

    Examples
    --------
    >>> one_line("sbatch: error: bad\\n\\nExiting.\\n")
    'sbatch: error: bad; Exiting.'
    """
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


class Shell(Protocol):
    """Runs one command and returns its output; the seam that tests fake."""

    async def run(
        self,
        command: Sequence[str],
        *,
        timeout: float,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run ``command`` (no shell involved) and return what it printed.

        Raises
        ------
        CommandError
            When ``check`` is true and the command exits non-zero, or when it cannot be
            started (exit code 127 for a missing command).
        CommandTimeout
            When it runs longer than ``timeout`` seconds (it is killed first).
        """
        ...


class SubprocessShell:
    """Run commands as local subprocesses (the default :class:`Shell`)."""

    async def run(
        self,
        command: Sequence[str],
        *,
        timeout: float,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> CommandResult:
        """Run ``command``; see :meth:`Shell.run`."""
        argv = tuple(command)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=dict(env) if env is not None else None,
            )
        except OSError as error:
            code = 127 if isinstance(error, FileNotFoundError) else 126
            raise CommandError(argv, code, "", f"cannot run {argv[0]}: {error.strerror}") from None
        data = stdin.encode() if stdin is not None else None
        try:
            out, err = await asyncio.wait_for(process.communicate(data), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError) as stop:
            await _kill(process)
            if isinstance(stop, asyncio.CancelledError):
                raise
            message = f"`{shlex.join(argv)}` did not finish within {timeout:g} s (killed)"
            raise CommandTimeout(argv, None, message=message) from None
        result = CommandResult(argv, _returncode(process), out.decode(), err.decode())
        if check and result.returncode != 0:
            raise CommandError(argv, result.returncode, result.stdout, result.stderr)
        return result


def _returncode(process: asyncio.subprocess.Process) -> int:
    assert process.returncode is not None
    return process.returncode


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(process.wait(), 5)
