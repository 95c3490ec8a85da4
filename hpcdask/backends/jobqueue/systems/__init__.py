"""One module per batch system: its dialect, its job and cluster classes, what only it has.

Each module defines one :class:`~hpcdask.backends.jobqueue.system.System` subclass, named in
:data:`hpcdask.registry.KINDS`; ``CONTRIBUTING.md`` has the recipe for adding one.
"""
