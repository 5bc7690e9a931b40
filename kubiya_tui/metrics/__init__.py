"""The live metrics engine (no Textual here).

* ``collector``: the façade a console or command holds (a ``snapshot.SnapshotSource``);
* ``sources/``: one module per backend read (control-plane registry, Temporal stats, visibility outcomes, API-only metrics);
* ``scheduler``: when each source polls (pollers, trackers, back-off, rate limits);
* ``assemble``: readings to a Snapshot, where each number of a queue row (depth included) is put together;
* ``derive``: the arithmetic (rates, percentiles, time to drain, worker flags);
* ``snapshot``: the immutable snapshots; ``history``: rolling history; ``check``: thresholds for ``kubiya-tui check``;
* ``ports``: what the collector needs from the API and from Temporal.
"""
