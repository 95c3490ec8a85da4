"""This machine's side of a login node: connect, run the agent, check what it reports.

Every message names the login node, so a user knows which of their settings to fix.
"""

from __future__ import annotations

import asyncio
import json
import platform
import shlex
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from hpcdask._version import __version__
from hpcdask.errors import HpcdaskError
from hpcdask.models import login_of

if TYPE_CHECKING:
    import asyncssh

    from hpcdask.backends.ssh import HostPlan
    from hpcdask.models import LoginSpec, Resource

__all__ = [
    "LoginError",
    "agent_command",
    "check_versions",
    "login_node",
    "open_login",
    "probe_forwarding",
    "remote_info",
    "run_agent",
]

#: Seconds one agent command may take (it imports dask on the login node).
AGENT_TIMEOUT = 60.0


class LoginError(HpcdaskError):
    """The login node cannot be reached or used; the message says why and names it."""

    def __init__(self, login: LoginSpec, reason: str) -> None:
        super().__init__(f"login node {login.target()}: {reason}")
        self.reason = reason


def login_node(resource: Resource) -> LoginSpec:
    """Return the login node of ``resource``, which must have a ``login:`` block."""
    login = login_of(resource)
    if login is None:
        raise HpcdaskError(f"resource '{resource.name}' has no login: block")
    return login


def _plan(login: LoginSpec) -> HostPlan:
    """Return the login node as the ssh backend describes a host (for its connect options)."""
    from hpcdask.backends.ssh import HostPlan  # lazy: asyncssh loads only for a login node

    return HostPlan(
        host=login.host,
        slots=0,
        user=login.user,
        port=login.port,
        identity=login.identity,
        known_hosts=login.known_hosts,
        connect_timeout=login.connect_timeout,
    )


async def open_login(login: LoginSpec) -> asyncssh.SSHClientConnection:
    """Open an SSH connection to the login node; raise :class:`LoginError` saying why not."""
    import asyncssh  # lazy: asyncssh loads only for a login node (status, up stay light)

    from hpcdask.backends.ssh import connect_options, describe

    plan = _plan(login)
    try:
        return await asyncio.wait_for(
            asyncssh.connect(login.host, **connect_options(plan)), login.connect_timeout + 1
        )
    except (OSError, asyncssh.Error, asyncio.TimeoutError) as error:
        raise LoginError(login, describe(error, plan)) from None


def agent_command(login: LoginSpec, *args: str) -> str:
    """Return the shell line that runs the agent on the login node with ``args``.

    Examples
    --------
    >>> from hpcdask.models import LoginSpec
    >>> login = LoginSpec(host="h", python="/opt/py", setup=["module load x"], env={"A": "1"})
    >>> agent_command(login, "info")
    'module load x && exec env A=1 /opt/py -m hpcdask.login.agent info'
    """
    env = [f"{key}={shlex.quote(str(value))}" for key, value in login.env.items()]
    python = login.python
    python = "~/" + shlex.quote(python[2:]) if python.startswith("~/") else shlex.quote(python)
    words = ["exec", "env", *env, python, shlex.join(["-m", "hpcdask.login.agent", *args])]
    return " && ".join([*login.setup, " ".join(words)])


def _failure(login: LoginSpec, result: Any) -> LoginError:
    """Explain an agent command that failed on the login node."""
    said = (result.stderr or result.stdout or "").strip()
    if result.exit_status == 127:
        return LoginError(login, f"python {login.python!r} not found (set login.python): {said}")
    if "No module named" in said and "hpcdask" in said:
        return LoginError(
            login, f"hpcdask is not installed for {login.python} (install hpcdask=="
            f"{__version__} there, or point login.python at a Python that has it)"
        )  # fmt: skip
    last = said.splitlines()[-1] if said else f"exit code {result.exit_status}"
    return LoginError(login, f"the hpcdask agent failed: {last}")


async def run_agent(
    connection: asyncssh.SSHClientConnection, login: LoginSpec, *args: str, stdin: str = ""
) -> dict[str, Any]:
    """Run one agent command to its end and return the last JSON line it printed."""
    try:
        result = await asyncio.wait_for(
            connection.run(agent_command(login, *args), input=stdin), AGENT_TIMEOUT
        )
    except asyncio.TimeoutError:
        message = f"the hpcdask agent did not answer within {AGENT_TIMEOUT:g}s"
        raise LoginError(login, message) from None
    lines = [line for line in str(result.stdout or "").splitlines() if line.startswith("{")]
    if result.exit_status != 0 and not lines:
        raise _failure(login, result)
    try:
        answer: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise _failure(login, result) from None
    return answer


async def remote_info(
    connection: asyncssh.SSHClientConnection, login: LoginSpec, commands: list[str]
) -> dict[str, Any]:
    """Return the agent's report: versions, state folder, where ``commands`` are found."""
    return await run_agent(connection, login, "info", *commands)


def check_versions(login: LoginSpec, info: dict[str, Any]) -> list[str]:
    """Return mismatches that are worth a warning; raise if hpcdask itself differs."""
    if info.get("hpcdask") != __version__:
        raise LoginError(
            login, f"hpcdask {info.get('hpcdask')} is installed there and {__version__} here: "
            "install the same version on both"
        )  # fmt: skip
    here = {
        "python": ".".join(platform.python_version().split(".")[:2]),
        "dask": version("dask"),
        "distributed": version("distributed"),
    }
    there = {**info, "python": ".".join(str(info.get("python", "")).split(".")[:2])}
    return [
        f"{package} {there.get(package)} there, {version} here"
        for package, version in here.items()
        if there.get(package) != version
    ]


async def probe_forwarding(connection: asyncssh.SSHClientConnection, login: LoginSpec) -> None:
    """Raise :class:`LoginError` if the login node refuses to forward ports."""
    import asyncssh

    try:
        _, writer = await connection.open_connection("127.0.0.1", 9)
        writer.close()
    except asyncssh.ChannelOpenError as error:
        if error.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED:
            raise LoginError(
                login, "it refuses to forward ports (AllowTcpForwarding is off in its sshd?), "
                "so the scheduler and dashboard cannot reach this machine"
            ) from None  # fmt: skip
    except OSError:
        pass  # a refused connection at the far end means forwarding itself works
