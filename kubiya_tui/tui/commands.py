"""The command palette (Ctrl+P): every action, every queue, every worker, themes and profiles."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from kubiya_tui.metrics.snapshot import WorkerHealth
from kubiya_tui.tui.context import console_of

Command = tuple[str, Callable[[], Any], str]


class ConsoleCommands(Provider):
    """Commands built from the newest snapshot and the config file each time the palette opens."""

    def commands(self) -> list[Command]:
        """Every command the palette offers now: (name, what it runs, help)."""
        console = console_of(self)
        actions = console.actions
        commands: list[Command] = [
            ("Create queue…", actions.create_queue, "a new worker queue in an environment"),
            ("Show workers", console.action_workers, "every worker and its health"),
            ("Legacy task queues (migrate)…", console.action_legacy, "environment-level queues being phased out; migrate them"),
            ("Refresh now", console.action_refresh, "poll the control plane and Temporal"),
            ("Pause or resume refresh", console.action_pause, "freeze the numbers on screen"),
            ("Keys", console.action_help, "every key of the console"),
            ("Alerts", console.action_alerts, "what is firing and since when; acknowledge"),
            ("All profiles (fleet overview)", console.open_fleet, "every profile of config.toml at once, each on its own connection"),
        ]
        snapshot = console.snapshot
        for q in snapshot.queues if snapshot else ():
            label = f"{q.environment or '-'}/{q.name}"
            commands += [
                (f"Go to queue {label}", partial(console.open_queue, q.id), f"depth {q.depth if q.depth is not None else '-'}"),
                (f"Scale queue {label}…", partial(actions.scale, q.id), "set the wanted worker count or autoscale"),
                (f"Worker command for {label}…", partial(actions.worker_command, q.id), "local, docker, kubernetes"),
            ]
        for w in snapshot.workers if snapshot else ():
            if w.health is not WorkerHealth.gone and not w.polling_not_registered:
                commands.append((f"Drain worker {w.worker_id}…", partial(actions.drain, w.worker_id), f"{w.queue_name or '-'} on {w.hostname or '-'}"))
        for name in sorted(console.available_themes):
            commands.append((f"Switch theme: {name}", partial(console.switch_theme, name), "remembered in config.toml"))
        try:
            from kubiya_tui.config import load_config

            profiles = sorted(load_config().profiles)
        except Exception:  # a broken config file must not break the palette
            profiles = []
        for name in profiles:
            commands.append((f"Switch profile: {name}", partial(console.switch_profile, name), "reconnect with this profile"))
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self.commands():
            if not name.startswith(("Switch theme", "Scale queue", "Worker command", "Drain worker")):
                yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
