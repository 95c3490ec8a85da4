# ruff: noqa: E501 (the configs are pasted as published, long lines included)
"""Published dask-jobqueue configs, pasted as published: hpcdask writes dask-jobqueue's job
script for each section, but for what it adds on purpose (--lifetime, TLS; see the README).

Each config is compared with the script of dask-jobqueue's own job class for the same section
(:func:`hpcdask.backends.jobqueue.importing.jobqueue_script`), and imported with
``hpcdask import`` too. No batch system is needed to write a job script.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import hpcdask
from hpcdask.backends.jobqueue import job_script
from hpcdask.backends.jobqueue.importing import jobqueue_script, without_additions
from hpcdask.cli.main import cli

_DOCS = ("dask-jobqueue docs, docs/source/clusters-configuration-examples.rst "
         "(github.com/dask/dask-jobqueue, commit 3a00196)")  # fmt: skip

#: (source, the YAML as published there).
CORPUS = {
    "ncar-cheyenne": (f"{_DOCS}, section 'Cheyenne' (NCAR)", """\
        distributed:
          scheduler:
            bandwidth: 1000000000     # GB MB/s estimated worker-worker bandwidth
          worker:
            memory:
              target: 0.90  # Avoid spilling to disk
              spill: False  # Avoid spilling to disk
              pause: 0.80  # fraction at which we pause worker threads
              terminate: 0.95  # fraction at which we terminate the worker
          comm:
            compression: null

        jobqueue:
          pbs:
            name: dask-worker
            cores: 36                   # Total number of cores per job
            memory: '109 GB'            # Total amount of memory per job
            processes: 9                # Number of Python processes per job
            interface: ib0              # Network interface to use like eth0 or ib0

            queue: regular
            walltime: '00:30:00'
            resource-spec: select=1:ncpus=36:mem=109GB

          slurm:
            name: dask-worker

            # Dask worker options
            cores: 1                    # Total number of cores per job
            memory: '25 GB'             # Total amount of memory per job
            processes: 1                # Number of Python processes per job

            interface: ib0

            account: PXYZ123
            walltime: '00:30:00'
            job-extra: {-C geyser}
        """),
    "nersc-cori": (f"{_DOCS}, section 'NERSC Cori'", """\
        distributed:
          worker:
            memory:
              target: False  # Avoid spilling to disk
              spill: False  # Avoid spilling to disk
              pause: 0.80  # fraction at which we pause worker threads
              terminate: 0.95  # fraction at which we terminate the worker

        jobqueue:
            slurm:
                cores: 64
                memory: 115GB
                processes: 4
                queue: debug
                walltime: '00:10:00'
                job-extra: ['-C haswell', '-L project, SCRATCH, cscratch1']
        """),
    "arm-stratus": (f"{_DOCS}, section 'ARM Stratus' (DOE-ARM)", """\
        jobqueue:
          pbs:
            name: dask-worker
            cores: 36
            memory: 270GB
            processes: 6
            interface: ib0
            local-directory: $localscratch
            queue: high_mem # Can also select batch or gpu_ssd
            account: arm
            walltime: 00:30:00 #Adjust this to job size
            job-extra: ['-W group_list=cades-arm']
        """),
    "sdsc-comet": (f"{_DOCS}, section 'SDSC Comet'", """\
        jobqueue:
          slurm:
            name: dask-worker

            # Dask worker options
            cores: 24                   # Total number of cores per job
            memory: 120GB               # Total amount of memory per job (total 128GB per node)
            processes: 1                # Number of Python processes per job

            interface: ib0              # Network interface to use like eth0 or ib0
            death-timeout: 60           # Number of seconds to wait if a worker can not find a scheduler
            local-directory: /scratch/$USER/$SLURM_JOB_ID # local SSD

            # SLURM resource manager options
            queue: compute
            # account: xxxxxxx # choose account other than default
            walltime: '00:30:00'
            job-mem: 120GB              # Max memory that can be requested to SLURM
        """),
    "ifremer-datarmor": (f"{_DOCS}, section 'Ifremer DATARMOR'", """\
        jobqueue:
          pbs:
            name: dask-worker

            # Dask worker options
            # number of processes and core have to be equal to avoid using multiple
            # threads in a single dask worker. Using threads can generate netcdf file
            # access errors.
            cores: 28
            processes: 28
            # this is using all the memory of a single node and corresponds to about
            # 4GB / dask worker. If you need more memory than this you have to decrease
            # cores and processes above
            memory: 120GB
            interface: ib0
            # This should be a local disk attach to your worker node and not a network
            # mounted disk. See
            # https://jobqueue.dask.org/en/latest/configuration-setup.html#local-storage
            # for more details.
            local-directory: $TMPDIR

            # PBS resource manager options
            queue: mpi_1
            account: myAccount
            walltime: '48:00:00'
            resource-spec: select=1:ncpus=28:mem=120GB
            # disable email
            job-extra: ['-m n']
        """),
    # The keywords of the Examples sections of dask-jobqueue 0.9's cluster docstrings, as the
    # config keys they are read from.
    "docstrings": ("dask-jobqueue 0.9 docstrings of SGECluster, LSFCluster and PBSCluster "
                   "(their Examples sections)", """\
        jobqueue:
          sge: {queue: regular, project: myproj, cores: 24, memory: 500 GB}
          lsf: {queue: general, project: DaskonLSF, cores: 15, memory: 25GB, use-stdin: true}
          pbs: {queue: regular, account: myaccountingstring, cores: 24, memory: 500 GB}
        """),
}  # fmt: skip

CASES = [
    (site, kind)
    for site, (_, text) in CORPUS.items()
    for kind in yaml.safe_load(textwrap.dedent(text))["jobqueue"]
]


def _sections(site: str) -> dict[str, Any]:
    sections: dict[str, Any] = yaml.safe_load(textwrap.dedent(CORPUS[site][1]))["jobqueue"]
    return sections


@pytest.mark.parametrize(("site", "kind"), CASES)
def test_pasted_section_gives_dask_jobqueues_script(tmp_path: Path, site: str, kind: str) -> None:
    section = _sections(site)[kind]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"resources": {kind: {"type": kind, **section}}}))
    resource: Any = hpcdask.load_resource(kind, config=path)
    ours, added = without_additions(job_script(resource))
    if "name" not in section:  # hpcdask names its jobs hpcdask-worker (see the README)
        ours = ours.replace("hpcdask-worker", "dask-worker")
    assert ours == jobqueue_script(kind, section, f"{kind}-0")
    assert added == ["--lifetime", "TLS"]


@pytest.mark.parametrize("site", list(CORPUS))
def test_published_config_imports_and_proves_itself(tmp_path: Path, site: str) -> None:
    source = tmp_path / "jobqueue.yaml"
    source.write_text(textwrap.dedent(CORPUS[site][1]))
    result = CliRunner().invoke(cli, ["import", str(source), "-o", str(tmp_path / "out.yaml")])
    assert result.exit_code == 0, result.output
    for kind in _sections(site):
        assert f"  {kind}: same job script as dask-jobqueue's" in result.output
