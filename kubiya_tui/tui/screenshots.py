"""Regenerate screenshots/: every main view of the console over the recorded data, in each project theme.

Run ``python -m kubiya_tui.tui.screenshots`` from the repository root.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from kubiya_tui.client.api import ApiClient
from kubiya_tui.tui.app import KubiyaConsole
from kubiya_tui.tui.demo_data import DEMO_KEY, DEMO_URL, RecordedSource, recorded_heartbeats, recorded_transport

SIZE = (120, 36)
# View name -> keys that reach it from the overview.
VIEWS: dict[str, tuple[str, ...]] = {
    "overview": (),
    "queue-detail": ("j", "enter"),
    "workers": ("w",),
    "worker-detail": ("w", "enter"),
    "help": ("question_mark",),
    "legacy-task-queues": ("L",),
    "create-queue": ("c", *"billing-events"),
    "worker-command": ("i",),
    "drain-worker": ("w", "j", "j", "j", "j", "d"),
    "scale-queue": ("j", "s", "4"),
}
THEMES = ("kubiya-dark", "kubiya-light")


def recorded_app(theme: str, degraded: bool = False) -> KubiyaConsole:
    api = ApiClient(DEMO_URL, DEMO_KEY, transport=recorded_transport(), retries=0)
    app = KubiyaConsole(RecordedSource(degraded=degraded), api=api, profile="demo", theme=theme, api_key=DEMO_KEY,
                        remember_theme=False, cursor_blink=False)  # fmt: skip
    app.heartbeats.update(recorded_heartbeats())
    return app


async def shoot(name: str, keys: tuple[str, ...], theme: str, folder: Path, degraded: bool = False) -> Path:
    app = recorded_app(theme, degraded)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        await pilot.press(*keys)
        await pilot.pause(0.5)
        filename = f"{name}-{theme.removeprefix('kubiya-')}.svg"
        app.save_screenshot(filename, path=str(folder))
    return folder / filename


async def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for theme in THEMES:
        for name, keys in VIEWS.items():
            print(await shoot(name, keys, theme, folder))
    print(await shoot("overview-degraded", (), "kubiya-dark", folder, degraded=True))
    print(await shoot("overview", (), "kubiya-ansi", folder))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("screenshots")))
