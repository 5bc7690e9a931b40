"""Temporal task queue names: how a queue's name in the registry becomes the one its workers poll.

Every organization of a control plane shares one Temporal namespace, so task queue names
must never collide, across organizations or within one:

- A worker queue polls the task queue named by its own id (a UUID), as Kubiya's own
  control plane does. The id is chosen by the control plane, not by the organization, so
  no environment or queue name ever reaches Temporal through it, and renames change
  nothing. The name is stored with the queue when it is created and never changes:
  queues made before this scheme keep ``<org>.<environment>.<queue>``, which their
  workers poll.
- A legacy task queue (an environment) polls ``<org>.<environment name>``, as upstream.
  Organization ids are slugs without dots, so the prefix up to the first dot is always
  the organization. A UUID has no dot, so no worker queue of the new scheme can take a
  legacy name; the store refuses an environment name whose legacy task queue is already a
  worker queue's (a queue of the old scheme).
"""

from __future__ import annotations


def worker_queue_task_queue(queue_id: str) -> str:
    """The Temporal task queue of a new worker queue: its id."""
    return queue_id


def legacy_task_queue(org: str, environment_name: str) -> str:
    """The Temporal task queue a legacy task queue (an environment) is polled on."""
    return f"{org}.{environment_name}"
