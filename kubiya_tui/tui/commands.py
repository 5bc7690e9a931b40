"""The command palette (Ctrl+P): every action, every queue, every worker, themes and profiles."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from kubiya_tui.metrics.snapshot import Health

Command = tuple[str, Callable[[], Any], str]


class ConsoleCommands(Provider):
    """Commands built from the newest snapshot and the config file each time the palette opens."""

    def _commands(self) -> list[Command]:
        app: Any = self.app
        commands: list[Command] = [
            ("Create queue…", app.action_create_queue, "a new worker queue in an environment"),
            ("Show workers", app.action_workers, "every worker and its health"),
            ("Legacy task queues (migrate)…", app.action_legacy, "environment-level queues being phased out; migrate them"),
            ("Refresh now", app.action_refresh, "poll the control plane and Temporal"),
            ("Pause or resume refresh", app.action_pause, "freeze the numbers on screen"),
            ("Keys", app.action_help, "every key of the console"),
        ]
        snapshot = app.snapshot
        for q in snapshot.queues if snapshot else ():
            label = f"{q.environment or '-'}/{q.name}"
            commands += [
                (f"Go to queue {label}", partial(app.open_queue, q.id), f"depth {q.depth if q.depth is not None else '-'}"),
                (f"Scale queue {label}…", partial(app.scale_queue, q.id), "set the wanted worker count or autoscale"),
                (f"Worker command for {label}…", partial(app.show_worker_command, q.id), "local, docker, kubernetes"),
            ]
        for w in snapshot.workers if snapshot else ():
            if w.health is not Health.gone and not w.polling_not_registered:
                commands.append((f"Drain worker {w.worker_id}…", partial(app.drain_worker, w.worker_id), f"{w.queue_name or '-'} on {w.hostname or '-'}"))
        for name in sorted(app.available_themes):
            commands.append((f"Switch theme: {name}", partial(app.switch_theme, name), "remembered in config.toml"))
        try:
            from kubiya_tui.config import load_config

            profiles = sorted(load_config().profiles)
        except Exception:  # a broken config file must not break the palette
            profiles = []
        for name in profiles:
            commands.append((f"Switch profile: {name}", partial(app.switch_profile, name), "reconnect with this profile"))
        return commands

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            if not name.startswith(("Switch theme", "Scale queue", "Worker command", "Drain worker")):
                yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
