"""Per-cluster TLS credentials: made when a cluster starts, kept private, given to its users.

Non-local clusters use TLS between scheduler, workers and clients by default (``tls: false``
turns it off, ``tls: true`` turns it on for ``local``). The credentials are a fresh key and
self-signed certificate (distributed's ``Security.temporary``): only processes that hold them,
the cluster's own and its owner's, can talk to the cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
from typing import TYPE_CHECKING, Any

from hpcdask import state
from hpcdask.errors import HpcdaskError

if TYPE_CHECKING:
    from distributed.security import Security

    from hpcdask.models import Resource

__all__ = [
    "as_dask_config",
    "client_environment",
    "from_pem",
    "load",
    "needs_tls",
    "new_credentials",
    "remove",
    "save",
    "saved",
]


def needs_tls(resource: Resource) -> bool:
    """Whether ``resource``'s cluster uses TLS: its ``tls`` key, else all but ``local``."""
    return resource.tls if resource.tls is not None else resource.type != "local"


def new_credentials() -> Security:
    """Return fresh credentials for one cluster, TLS required."""
    from distributed.security import Security  # lazy: the CLI imports this module (--help)

    security: Security = Security.temporary()  # type: ignore[no-untyped-call]
    return security


def as_dask_config(security: Security) -> dict[str, Any]:
    """Return the Dask config that gives a remote process the same credentials (inline PEM)."""
    roles = {
        role: {
            "cert": getattr(security, f"tls_{role}_cert"),
            "key": getattr(security, f"tls_{role}_key"),
        }
        for role in ("scheduler", "worker", "client")
    }
    return {
        "distributed": {
            "comm": {
                "require-encryption": True,
                "default-scheme": "tls",
                "tls": {"ca-file": _pem(security, "ca_file"), **roles},
            }
        }
    }


def client_environment(security: Security) -> dict[str, str]:
    """Return environment variables that give a child process's ``Client()`` the credentials.

    Examples
    --------
    >>> sorted(client_environment(new_credentials()))  # doctest: +NORMALIZE_WHITESPACE
    ['DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION', 'DASK_DISTRIBUTED__COMM__TLS__CA_FILE',
     'DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT', 'DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY']
    """
    prefix = "DASK_DISTRIBUTED__COMM__"
    return {
        f"{prefix}REQUIRE_ENCRYPTION": "True",
        f"{prefix}TLS__CA_FILE": _pem(security, "ca_file"),
        f"{prefix}TLS__CLIENT__CERT": _pem(security, "client_cert"),
        f"{prefix}TLS__CLIENT__KEY": _pem(security, "client_key"),
    }


def _pem(security: Security, field: str) -> str:
    """Return one of the credentials' PEM texts (``ca_file``, ``client_cert``, …)."""
    return str(getattr(security, "tls_" + field))


def _path(name: str) -> str:
    return str(state.state_dir() / f"{name}.credentials")


#: The PEM texts a credentials file holds.
_SAVED = ("ca", "cert", "key")


def save(name: str, security: Security) -> None:
    """Keep cluster ``name``'s credentials in the state folder, readable by the owner only."""
    data = {
        "ca": _pem(security, "ca_file"),
        "cert": _pem(security, "client_cert"),
        "key": _pem(security, "client_key"),
    }
    fd = os.open(_path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)


def from_pem(data: dict[str, str]) -> Security:
    """Return credentials from their saved form (``ca``, ``cert``, ``key`` PEM texts)."""
    from distributed.security import Security  # lazy: the CLI imports this module (--help)

    pem = {"tls_ca_file": data["ca"], "require_encryption": True}
    for role in ("scheduler", "worker", "client"):
        pem.update({f"tls_{role}_cert": data["cert"], f"tls_{role}_key": data["key"]})
    security: Security = Security(**pem)  # type: ignore[no-untyped-call]
    return security


def saved(name: str) -> dict[str, str] | None:
    """Return cluster ``name``'s credentials as saved (PEM texts), or None if it has none.

    Raises
    ------
    HpcdaskError
        On one line, naming the file, when it is empty, damaged or unreadable.
    """
    path = _path(name)
    try:
        with open(path) as source:
            data = json.load(source)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise HpcdaskError(f"{path}: cluster '{name}': credentials unreadable ({error})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in _SAVED):
        raise HpcdaskError(
            f"{path}: cluster '{name}': credentials damaged (want {', '.join(_SAVED)})"
        )
    return {key: data[key] for key in _SAVED}


def load(name: str) -> Security | None:
    """Return cluster ``name``'s credentials, or None if it has none."""
    data = saved(name)
    return from_pem(data) if data is not None else None


def write_connection_file(record: state.Record, path: str | os.PathLike[str]) -> None:
    """Write what another machine needs to attach: the record and the credentials (0600)."""
    credentials = saved(record.name)
    if credentials is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), _path(record.name))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"record": dataclasses.asdict(record), "credentials": credentials}, out, indent=2)


def read_connection_file(path: str | os.PathLike[str]) -> tuple[state.Record, Security]:
    """Return the record and credentials in a connection file."""
    try:
        with open(path) as source:
            data = json.load(source)
        record = state.Record.from_dict(data["record"])
        return record, from_pem(data["credentials"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise HpcdaskError(f"{path}: not a readable hpcdask connection file ({error})") from None


def remove(name: str) -> None:
    """Forget cluster ``name``'s credentials."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_path(name))
