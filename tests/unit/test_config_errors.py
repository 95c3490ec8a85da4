"""A corpus of malformed configs: each gives one line naming the file, resource and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import hpcdask
from hpcdask import ConfigError

# (id, YAML of x.yaml, resource to load, the exact message)
CASES = [
    (
        "typo-top",
        "a: {type: slurm, waltime: '01:00:00'}",
        "a",
        "x.yaml: resource 'a': waltime: unknown key (did you mean 'walltime'?)",
    ),
    (
        "typo-worker",
        "a: {type: local, worker: {memroy: 4GB}}",
        "a",
        "x.yaml: resource 'a': worker.memroy: unknown key (did you mean 'memory'?)",
    ),
    (
        "typo-scaling",
        "a: {type: local, scaling: {maximun: 4}}",
        "a",
        "x.yaml: resource 'a': scaling.maximun: unknown key (did you mean 'maximum'?)",
    ),
    (
        "unknown-key-no-hint",
        "a: {type: local, colour: blue}",
        "a",
        "x.yaml: resource 'a': colour: unknown key",
    ),
    (
        "bad-size",
        "a: {type: local, worker: {memory: 8 GiB x}}",
        "a",
        "x.yaml: resource 'a': worker.memory: '8 GiB x' is not a size "
        "(for example 8GB, 512MiB or 1.5TB)",
    ),
    (
        "zero-size",
        "a: {type: local, worker: {memory: 0}}",
        "a",
        "x.yaml: resource 'a': worker.memory: must be more than zero, got 0",
    ),
    (
        "size-list",
        "a: {type: local, worker: {memory: [4GB]}}",
        "a",
        "x.yaml: resource 'a': worker.memory: expected a size such as 8GB or 512MiB, got ['4GB']",
    ),
    (
        "cores-text",
        "a: {type: local, worker: {cores: many}}",
        "a",
        "x.yaml: resource 'a': worker.cores: expected a whole number, got 'many'",
    ),
    (
        "cores-zero",
        "a: {type: local, worker: {cores: 0}}",
        "a",
        "x.yaml: resource 'a': worker.cores: must be at least 1, got 0",
    ),
    (
        "nice-range",
        "a: {type: local, worker: {nice: 40}}",
        "a",
        "x.yaml: resource 'a': worker.nice: must be at most 19, got 40",
    ),
    (
        "gpus-negative",
        "a: {type: local, worker: {gpus: -1}}",
        "a",
        "x.yaml: resource 'a': worker.gpus: must be at least 0, got -1",
    ),
    (
        "processes-over-cores",
        "a: {type: local, worker: {cores: 2, processes: 4}}",
        "a",
        "x.yaml: resource 'a': worker: processes: 4 worker processes cannot share 2 cores",
    ),
    (
        "worker-not-mapping",
        "a: {type: local, worker: big}",
        "a",
        "x.yaml: resource 'a': worker: expected a mapping of keys, got 'big'",
    ),
    (
        "env-not-mapping",
        "a: {type: local, worker: {env: [A]}}",
        "a",
        "x.yaml: resource 'a': worker.env: expected a mapping of keys, got ['A']",
    ),
    (
        "type-missing",
        "a: {worker: {cores: 2}}",
        "a",
        "x.yaml: resource 'a': type: required key is missing; one of local, ssh, slurm, pbs, "
        "sge, lsf, htcondor, oar, moab",
    ),
    (
        "type-typo",
        "a: {type: slrum}",
        "a",
        "x.yaml: resource 'a': type: 'slrum' is not a known type (did you mean 'slurm'?); known "
        "types: local, ssh, slurm, pbs, sge, lsf, htcondor, oar, moab",
    ),
    (
        "type-number",
        "a: {type: 5}",
        "a",
        "x.yaml: resource 'a': type: 5 is not a known type; known types: local, ssh, slurm, pbs, "
        "sge, lsf, htcondor, oar, moab",
    ),
    (
        "scaling-bounds",
        "a: {type: local, scaling: {minimum: 4, maximum: 2}}",
        "a",
        "x.yaml: resource 'a': scaling: minimum (4) is more than maximum (2)",
    ),
    (
        "scaling-both",
        "a: {type: local, scaling: {workers: 2, maximum: 4}}",
        "a",
        "x.yaml: resource 'a': scaling: give either workers (a fixed count) or minimum/maximum, "
        "not both",
    ),
    (
        "scaling-min-only",
        "a: {type: local, scaling: {minimum: 1}}",
        "a",
        "x.yaml: resource 'a': scaling: minimum needs a maximum for adaptive scaling",
    ),
    (
        "scaling-negative",
        "a: {type: local, scaling: -1}",
        "a",
        "x.yaml: resource 'a': scaling.workers: must be at least 0, got -1",
    ),
    (
        "walltime-words",
        "a: {type: slurm, walltime: 1 hour}",
        "a",
        "x.yaml: resource 'a': walltime: '1 hour' is not a walltime "
        "(HH:MM:SS, D-HH:MM:SS or HH:MM)",
    ),
    (
        "walltime-minutes",
        "a: {type: slurm, walltime: '01:75:00'}",
        "a",
        "x.yaml: resource 'a': walltime: '01:75:00' is not a walltime "
        "(HH:MM:SS, D-HH:MM:SS or HH:MM)",
    ),
    (
        "password",
        "a: {type: ssh, hosts: [ws1], password: hunter2}",
        "a",
        "x.yaml: resource 'a': password: passwords and secrets are not accepted in config files: "
        "use SSH keys (identity: ~/.ssh/id_ed25519) or an SSH agent",
    ),
    (
        "passphrase-per-host",
        "a: {type: ssh, hosts: {ws1: {passphrase: x}}}",
        "a",
        "x.yaml: resource 'a': hosts.ws1.passphrase: passwords and secrets are not accepted in "
        "config files: use SSH keys (identity: ~/.ssh/id_ed25519) or an SSH agent",
    ),
    (
        "ssh-no-hosts",
        "a: {type: ssh, hosts: []}",
        "a",
        "x.yaml: resource 'a': hosts: must name at least one host",
    ),
    (
        "ssh-hosts-missing",
        "a: {type: ssh, user: alice}",
        "a",
        "x.yaml: resource 'a': hosts: required key is missing",
    ),
    (
        "ssh-port",
        "a: {type: ssh, hosts: [ws1], port: 70000}",
        "a",
        "x.yaml: resource 'a': port: must be at most 65535, got 70000",
    ),
    (
        "ssh-failure-policy",
        "a: {type: ssh, hosts: [ws1], on-host-failure: ignore}",
        "a",
        "x.yaml: resource 'a': on-host-failure: expected one of 'fail' or 'skip', got 'ignore'",
    ),
    (
        "ssh-host-typo",
        "a: {type: ssh, hosts: {ws1: {wokers: 2}}}",
        "a",
        "x.yaml: resource 'a': hosts.ws1.wokers: unknown key (did you mean 'workers'?)",
    ),
    (
        "extends-cycle",
        "a: {extends: b, type: local}\nb: {extends: a}",
        "a",
        "x.yaml: resource 'b': extends: cycle a → b → a",
    ),
    (
        "extends-unknown",
        "cluster: {type: slurm}\nb: {extends: clustr}",
        "b",
        "x.yaml: resource 'b': extends: unknown resource 'clustr' (did you mean 'cluster'?)",
    ),
    (
        "extends-not-name",
        "a: {extends: [b]}",
        "a",
        "x.yaml: resource 'a': extends: expected a resource name, got ['b']",
    ),
    (
        "directives-mapping",
        "a: {type: slurm, job-extra-directives: {a: b}}",
        "a",
        "x.yaml: resource 'a': job-extra-directives: expected a list, got {'a': 'b'}",
    ),
    (
        "cores-top-and-worker",
        "a: {type: slurm, cores: 8, worker: {cores: 4}}",
        "a",
        "x.yaml: resource 'a': cores: given both at the top level and in worker:",
    ),
    (
        "local-python",
        "a: {type: local, worker: {python: /usr/bin/python3}}",
        "a",
        "x.yaml: resource 'a': worker.python: local workers run with this Python; remove the key",
    ),
    (
        "hyphen-and-underscore",
        "a: {type: slurm, job-name: x, job_name: y}",
        "a",
        "x.yaml: resource 'a': job-name: given twice, as 'job-name' and 'job_name'",
    ),
    (
        "reserved-name",
        "a: {type: local, name: b}",
        "a",
        "x.yaml: resource 'a': name: set by hpcdask (a resource's name is its key under "
        "'resources:'); remove it",
    ),
    (
        "allocation-word",
        "a: {type: slurm, allocation: currnt}",
        "a",
        "x.yaml: resource 'a': allocation: expected 'current' or a mapping of keys, got 'currnt'",
    ),
    (
        "allocation-nodes",
        "a: {type: slurm, allocation: {nodes: 0}}",
        "a",
        "x.yaml: resource 'a': allocation.nodes: must be at least 1, got 0",
    ),
    (
        "allocation-launcher",
        "a: {type: slurm, allocation: {launcher: rsh}}",
        "a",
        "x.yaml: resource 'a': allocation.launcher: expected one of 'srun' or 'ssh', got 'rsh'",
    ),
    (
        "allocation-ssh-without-its-launcher",
        "a: {type: slurm, allocation: {ssh: {user: alice}}}",
        "a",
        "x.yaml: resource 'a': allocation: ssh: settings are for launcher: ssh (the launcher "
        "is srun)",
    ),
    (
        "bool",
        "a: {type: lsf, use-stdin: maybe}",
        "a",
        "x.yaml: resource 'a': use-stdin: expected true or false, got 'maybe'",
    ),
    (
        "env-yes",
        "a: {type: local, worker: {env: {DEBUG: yes}}}",
        "a",
        "x.yaml: resource 'a': worker.env.DEBUG: expected text, got True "
        "(YAML reads yes/no/on/off as true/false: quote the value)",
    ),
    (
        "connect-timeout",
        "a: {type: ssh, hosts: [ws1], connect-timeout: 0}",
        "a",
        "x.yaml: resource 'a': connect-timeout: must be more than 0, got 0",
    ),
]


def _write(folder: Path, body: str) -> Path:
    path = folder / "x.yaml"
    path.write_text("resources:\n" + textwrap.indent(body, "  ") + "\n")
    return path


@pytest.mark.parametrize(
    ("yaml", "name", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_resource(isolated_config: Path, yaml: str, name: str, message: str) -> None:
    path = _write(isolated_config, yaml)
    with pytest.raises(ConfigError) as info:
        hpcdask.load_resource(name, config=path)
    assert str(info.value) == message


# Whole-file problems: (id, file text, the exact message)
FILE_CASES = [
    (
        "yaml-syntax",
        "resources:\n  a: {type: local\n",
        "x.yaml:3:1: invalid YAML: expected ',' or '}', but got '<stream end>'",
    ),
    (
        "yaml-duplicate",
        "resources:\n  a: {type: slurm, queue: a, queue: b}\n",
        "x.yaml:2:30: invalid YAML: key 'queue' is given twice",
    ),
    (
        "top-typo",
        "resource:\n  a: {type: local}\n",
        "x.yaml: unknown top-level key 'resource' (did you mean 'resources'?); expected "
        "'resources' (and optionally 'default')",
    ),
    (
        "resources-list",
        "resources: [a, b]\n",
        "x.yaml: resources: expected a mapping of names to resources, got ['a', 'b']",
    ),
    (
        "resource-number",
        "resources:\n  a: 5\n",
        "x.yaml: resource 'a': expected a mapping of keys, got 5",
    ),
    (
        "resource-name",
        "resources:\n  'bad name': {type: local}\n",
        "x.yaml: resource name 'bad name' is not valid: use letters, digits, '-', '_' and '.', "
        "starting with a letter or digit",
    ),
    (
        "default-number",
        "default: 5\nresources: {}\n",
        "x.yaml: default: expected a resource name, got 5",
    ),
    (
        "not-mapping",
        "- a\n- b\n",
        "x.yaml: expected a mapping with a 'resources:' key, got ['a', 'b']",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_malformed_file(isolated_config: Path, text: str, message: str) -> None:
    path = isolated_config / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        hpcdask.load_resource("a", config=path)
    assert str(info.value) == message


def test_unknown_resource_lists_known(isolated_config: Path) -> None:
    path = _write(isolated_config, "lab: {type: ssh, hosts: [ws1]}")
    with pytest.raises(hpcdask.UnknownResourceError) as info:
        hpcdask.load_resource("labb", config=path)
    assert str(info.value) == (
        "unknown resource 'labb' (did you mean 'lab'?); known resources: lab, local"
    )


def test_missing_config_path(isolated_config: Path) -> None:
    with pytest.raises(ConfigError, match=r"^nowhere.yaml: no such file or folder: nowhere.yaml$"):
        hpcdask.load_resource("a", config="nowhere.yaml")


def test_error_names_the_file_that_set_the_key(isolated_config: Path) -> None:
    (isolated_config / "base.yaml").write_text(
        "resources:\n  base: {type: slurm, worker: {memory: lots}}\n"
    )
    child = _write(isolated_config, "child: {extends: base, queue: short}")
    with pytest.raises(ConfigError) as info:
        hpcdask.load_resource("child", config=[child, isolated_config / "base.yaml"])
    assert str(info.value) == (
        "base.yaml: resource 'child': worker.memory: 'lots' is not a size "
        "(for example 8GB, 512MiB or 1.5TB)"
    )


def test_each_problem_is_one_line(isolated_config: Path) -> None:
    path = _write(isolated_config, "a: {type: slurm, job-extra-directives: [1, 2]}")
    with pytest.raises(ConfigError) as info:
        hpcdask.load_resource("a", config=path)
    assert info.value.lines == [
        "x.yaml: resource 'a': job-extra-directives[0]: expected text, got 1",
        "x.yaml: resource 'a': job-extra-directives[1]: expected text, got 2",
    ]
