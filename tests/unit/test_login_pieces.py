"""The pieces of the login-node path that need no SSH: the model, the agent's command line, the
dashboard's forwarding target, version checks, and the agent's own commands run locally."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import hpcdask
from hpcdask import ConfigError
from hpcdask.login.session import LoginError, agent_command, check_versions
from hpcdask.login.tunnel import dashboard_target, remote_resource
from hpcdask.models import LoginSpec, SlurmResource


@pytest.mark.parametrize(
    ("given", "host", "user", "port"),
    [
        ("login.example.org", "login.example.org", None, None),
        ("alice@login.example.org", "login.example.org", "alice", None),
        ("alice@10.0.0.1:2222", "10.0.0.1", "alice", 2222),
    ],
)
def test_shorthand(given: str, host: str, user: str | None, port: int | None) -> None:
    spec = LoginSpec.model_validate(given)
    assert (spec.host, spec.user, spec.port) == (host, user, port)


def test_bad_login_is_a_one_line_config_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("resources:\n  hpc:\n    type: slurm\n    login: {host: h, pyhton: x}\n")
    with pytest.raises(ConfigError) as info:
        hpcdask.load_resource("hpc", config=config)
    message = str(info.value)
    assert f"{config}: resource 'hpc': login.pyhton: unknown key" in message
    assert "python" in message and "\n" not in message.strip()


def test_login_is_refused_on_local_and_ssh_resources() -> None:
    with pytest.raises(ConfigError, match="login: unknown key"):
        hpcdask.load_resource("local", login="h")


def test_agent_command_quotes_what_the_shell_must_not_split() -> None:
    spec = LoginSpec(
        host="h",
        python="~/my envs/bin/python",
        setup=["module load python/3.11"],
        env={"SLURM_CONF": "/etc/slurm conf", "N": 1},
    )
    line = agent_command(spec, "serve", "my cluster")
    assert line == (
        "module load python/3.11 && exec env SLURM_CONF='/etc/slurm conf' N=1 "
        "~/'my envs/bin/python' -m hpcdask.login.agent serve 'my cluster'"
    )


@pytest.mark.parametrize(
    ("link", "bind", "target"),
    [
        ("http://10.0.0.5:8787/status", "127.0.0.1:8787", "127.0.0.1:8787"),
        ("http://10.0.0.5:8790/status", "127.0.0.1:8787", "127.0.0.1:8790"),  # 8787 was taken
        ("http://10.0.0.5:8787/status", ":8787", "10.0.0.5:8787"),
        ("http://10.0.0.5:8787/status", "0.0.0.0:8787", "10.0.0.5:8787"),
    ],
)
def test_dashboard_target(link: str, bind: str, target: str) -> None:
    assert dashboard_target(link, bind) == target


def test_the_login_node_gets_the_resource_without_its_login_block() -> None:
    resource = SlurmResource(name="hpc", queue="q", login="alice@h")
    sent = remote_resource(resource)
    assert "login" not in sent and sent["queue"] == "q"
    assert SlurmResource.model_validate(sent).login is None


def test_versions() -> None:
    spec = LoginSpec(host="h")
    from importlib.metadata import version

    here = subprocess.run(
        [sys.executable, "-m", "hpcdask.login.agent", "info", "sh", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    info = json.loads(here.stdout)
    assert info["commands"]["no-such-command"] is None and info["commands"]["sh"]
    assert check_versions(spec, info) == []
    assert check_versions(spec, {**info, "dask": "1.0"}) == [
        f"dask 1.0 there, {version('dask')} here"
    ]
    with pytest.raises(LoginError, match=r"hpcdask 0\.0\.1 is installed there and"):
        check_versions(spec, {**info, "hpcdask": "0.0.1"})


def test_agent_check_runs_the_resource_checks(tmp_path: Path) -> None:
    request = json.dumps(remote_resource(SlurmResource(name="hpc", login="h")))
    here = subprocess.run(
        [sys.executable, "-m", "hpcdask.login.agent", "check"],
        input=request + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": "/nonexistent", "HOME": str(tmp_path)},
    )
    checks = {c["name"]: c for c in json.loads(here.stdout)["checks"]}
    assert checks["commands"]["status"] == "failed"
    assert "sbatch" in checks["commands"]["detail"]
