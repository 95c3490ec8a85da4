"""Pilots: hold allocations of nodes and start Dask workers inside them in a fraction of a second.

An *allocation* (a batch job holding N nodes until its walltime) combined with a *launcher*
(start or stop one worker on one node of it, through that node's agent), with pure slot
accounting deciding where workers go.
"""
