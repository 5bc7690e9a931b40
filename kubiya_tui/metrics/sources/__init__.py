"""The collector's sources, one module each: what each reads, how often, and what it keeps.

* ``registry``: the control plane's queues, workers and environments.
* ``temporal_stats``: per task queue, DescribeTaskQueue (depth, rates, pollers), ListWorkers, partitions.
* ``outcomes``: Temporal visibility: executions closed in the window, their statuses and durations.
* ``api_metrics``: without Temporal, the control plane's per-queue metrics and workers' counters.
"""
