"""One small module per batch system: the commands that submit, poll and cancel its jobs."""

from __future__ import annotations

from hpcdask.backends._dialects.base import Dialect
from hpcdask.backends._dialects.htcondor import HTCondorDialect
from hpcdask.backends._dialects.lsf import LSFDialect
from hpcdask.backends._dialects.oar import OARDialect
from hpcdask.backends._dialects.pbs import MoabDialect, PBSDialect
from hpcdask.backends._dialects.sge import SGEDialect
from hpcdask.backends._dialects.slurm import SlurmDialect

__all__ = [
    "Dialect",
    "HTCondorDialect",
    "LSFDialect",
    "MoabDialect",
    "OARDialect",
    "PBSDialect",
    "SGEDialect",
    "SlurmDialect",
]
