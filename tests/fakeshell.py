"""A fake of hpcdask's shell seam: canned batch-system replies, and a record of every call."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hpcdask.shell import CommandError, CommandResult

#: (exit code, stdout, stderr), or a function of (command, stdin) returning one.
Reply = tuple[int, str, str] | Callable[[tuple[str, ...], str | None], tuple[int, str, str]]


@dataclass
class Call:
    command: tuple[str, ...]
    stdin: str | None


@dataclass
class FakeShell:
    """Answers each program from its queue of replies; the last reply repeats."""

    replies: dict[str, list[Reply]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def reply(self, program: str, stdout: str = "", stderr: str = "", code: int = 0) -> None:
        self.replies.setdefault(program, []).append((code, stdout, stderr))

    def answer(self, program: str, function: Reply) -> None:
        self.replies.setdefault(program, []).append(function)

    def called(self, program: str) -> list[Call]:
        return [call for call in self.calls if call.command[0] == program]

    async def run(
        self,
        command: Sequence[str],
        *,
        timeout: float,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> CommandResult:
        argv = tuple(command)
        self.calls.append(Call(argv, stdin))
        queue = self.replies.get(argv[0])
        if not queue:
            raise CommandError(argv, 127, "", f"cannot run {argv[0]}: No such file or directory")
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        code, out, err = reply(argv, stdin) if callable(reply) else reply
        if check and code != 0:
            raise CommandError(argv, code, out, err)
        return CommandResult(argv, code, out, err)
