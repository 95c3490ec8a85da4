"""The ssh backend's pure parts: placement, host plans, remote commands, version checks."""

from __future__ import annotations

import shlex
import sys

import pytest
from pydantic import ValidationError

from hpcdask.backends.ssh.connect import connect_options
from hpcdask.backends.ssh.placement import capacity, next_host
from hpcdask.backends.ssh.plan import HostPlan, host_plans
from hpcdask.backends.ssh.process import kill_command, shell_command
from hpcdask.backends.ssh.versions import mismatches
from hpcdask.models import SSHResource


def _place(slots: dict[str, int], n: int, unusable: tuple[str, ...] = ()) -> list[str | None]:
    placed: list[str] = []
    order: list[str | None] = []
    for _ in range(n):
        host = next_host(slots, placed, unusable)
        order.append(host)
        if host:
            placed.append(host)
    return order


def test_round_robin_over_hosts() -> None:
    assert _place({"a": 2, "b": 2, "c": 2}, 7) == ["a", "b", "c", "a", "b", "c", None]


def test_repeated_hosts_fill_in_proportion() -> None:
    assert _place({"a": 1, "b": 3}, 5) == ["a", "b", "b", "b", None]


def test_unusable_hosts_are_skipped() -> None:
    assert _place({"a": 2, "b": 1}, 3, unusable=("a",)) == ["b", None, None]
    assert capacity({"a": 2, "b": 1}, ["a"]) == 1


def test_host_plans_merge_resource_and_host_settings() -> None:
    resource = SSHResource(
        name="lab",
        hosts={
            "a": {"workers": 2, "cores": 4, "memory": "8GB", "python": "/p"},
            "b": {"user": "bob", "env": {"X": "2"}, "nice": 0},
        },
        user="alice",
        port=2200,
        prologue=["module load x"],
        worker={"cores": 8, "memory": "16GB", "env": {"X": "1", "Y": "1"}, "nice": 10},
    )
    a, b = host_plans(resource).values()
    assert (a.slots, a.user, a.port, a.python, a.nice) == (2, "alice", 2200, "/p", 10)
    assert (a.threads(None), a.memory_per_worker()) == (2, 4 * 10**9)  # capped by the host
    assert (b.user, b.python, b.nice, dict(b.env)) == (
        "bob",
        sys.executable,
        0,
        {"X": "2", "Y": "1"},
    )
    assert (b.threads(None), b.memory_per_worker()) == (8, 16 * 10**9)
    assert b.prologue == ("module load x",)


def test_threads_share_the_host_cpus_when_not_given() -> None:
    plan = HostPlan(host="a", slots=2)
    assert plan.threads(8) == 4
    assert plan.threads(None) is None
    assert plan.memory_per_worker() is None


def test_ssh_processes_must_be_one() -> None:
    with pytest.raises(ValidationError, match=r"worker\.processes: ssh workers are one"):
        SSHResource(name="x", hosts=["a"], worker={"processes": 2})


def test_shell_command_quotes_and_execs() -> None:
    plan = HostPlan(host="a", slots=1, env={"A": "it's"}, prologue=("cd /tmp",))
    line = shell_command(plan, ["/opt/python 3/bin/python", "-c", "print(1)"], {"B": "$HOME"})
    assert line == (
        "cd /tmp && export A='it'\"'\"'s' && export B='$HOME' && "
        "{ command -v '/opt/python 3/bin/python' >/dev/null || "
        "{ echo 'python not found: /opt/python 3/bin/python' >&2; exit 127; }; } && "
        "echo HPCDASK_PID=$$ >&2 && exec '/opt/python 3/bin/python' -c 'print(1)'"
    )


def test_kill_command_stops_the_whole_group() -> None:
    line = kill_command(1234, grace=0.5)
    assert line.startswith("kill -TERM -- -1234 2>/dev/null || exit 0;")
    assert "kill -KILL -- -1234" in line
    assert "[ $i -ge 5 ]" in line
    shlex.split(line)  # well-formed for a shell


def test_connect_options_leave_unset_keys_to_ssh_config() -> None:
    assert connect_options(HostPlan(host="a", slots=1)) == {
        "connect_timeout": 10.0,
        "keepalive_interval": 5,
        "keepalive_count_max": 3,
    }
    options = connect_options(
        HostPlan(host="a", slots=1, user="u", port=22, identity="~/k", known_hosts="ignore")
    )
    assert options["username"] == "u"
    assert options["port"] == 22
    assert options["client_keys"][0].endswith("/k") and "~" not in options["client_keys"][0]
    assert options["known_hosts"] is None


def test_version_mismatches() -> None:
    local = {"python": "3.11.7", "dask": "2026.8.0", "distributed": "2026.8.0"}
    assert (
        mismatches({"python": "3.11.2", "dask": "2026.8.0", "distributed": "2026.8.0"}, local) == []
    )
    assert mismatches({"python": "3.10.1", "dask": "2026.8.0"}, local) == [
        "python 3.10.1 (here 3.11.7)",
        "distributed missing (here 2026.8.0)",
    ]
