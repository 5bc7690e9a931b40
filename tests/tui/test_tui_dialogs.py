"""The dialogs driven by keys on the recorded data (no network): fit at 80x24, Enter and Escape, text shown as typed.

What is sent is observed at ``app.operations.perform``. A change is held there, as if still in flight
(``hold=False`` sends it on to the recorded API, which answers reads only: a change then
fails with a 404, which is enough to see the dialog take the failure).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static, Switch, TabbedContent

from kubiya_tui.controlplane.distribution import Distribution
from kubiya_tui.controlplane.scripts import install_script, package_source, worker_command
from kubiya_tui.tui.app import KubiyaConsole
from kubiya_tui.tui.dialogs.create_queue import CreateQueueDialog
from kubiya_tui.tui.dialogs.drain import DrainDialog
from kubiya_tui.tui.dialogs.migrate import MigrateDialog
from kubiya_tui.tui.dialogs.scale import ScaleDialog
from kubiya_tui.tui.dialogs.worker_command import MASK, PLATFORMS, WorkerCommandDialog
from kubiya_tui.tui.messages import OperationDone, OperationFailed
from kubiya_tui.tui.screenshots import recorded_console
from tests.helpers import toasts

pytestmark = pytest.mark.timeout(60)

SMALL = (80, 24)
LARGE = (160, 48)


def spied_console(hold: bool = True) -> tuple[KubiyaConsole, list[str]]:
    """The recorded console, with the actions it performs listed in order."""
    app = recorded_console()
    sent: list[str] = []
    perform = app.operations.perform

    def spy(requester, action, target, call, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(action)
        if hold and kwargs.get("mutating", True):
            return None  # in flight until the test ends
        return perform(requester, action, target, call, **kwargs)

    app.operations.perform = spy  # type: ignore[method-assign]
    return app, sent


async def until(pilot: Pilot, condition: Callable[[], bool], what: str = "condition") -> None:
    for _ in range(100):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def open_dialog(pilot: Pilot, kind: type, *keys: str) -> object:
    app = pilot.app
    await until(pilot, lambda: app.snapshot is not None, "first snapshot")
    await pilot.press(*keys)
    await until(pilot, lambda: isinstance(app.screen, kind), kind.__name__)
    await pilot.pause(0.1)
    return app.screen


def changes(sent: list[str]) -> list[str]:
    """The actions that change something (reads the dialogs make on their own are left out)."""
    reads = {"list-environments", "worker-command", "follow-worker", "follow-migration", "legacy-list"}
    return [a for a in sent if a not in reads]


# ---------------------------------------------------------------- create queue


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
async def test_create_queue_fits_and_tab_keeps_the_field_in_view(size: tuple[int, int]) -> None:
    app, _ = spied_console()
    async with app.run_test(size=size) as pilot:
        dialog = await open_dialog(pilot, CreateQueueDialog, "c")
        screen = app.screen.region
        for button in ("#confirm", "#cancel"):
            assert screen.contains_region(dialog.query_one(button).region), f"{button} is on screen without scrolling"
        body = dialog.query_one("#dialog-body")
        assert body.region.contains_region(dialog.query_one("#environment").region), "the form opens at its top"
        assert app.focused is dialog.query_one("#name")
        for field in ("display_name", "description", "max_workers", "heartbeat_interval", "tags"):
            await pilot.press("tab")
            await pilot.pause(0.3)  # the scroll to the focused field is animated
            assert app.focused is dialog.query_one(f"#{field}")
            assert body.region.contains_region(app.focused.region), f"{field} is scrolled into view"
        await pilot.press("tab")
        assert app.focused is dialog.query_one("#confirm")
        assert screen.contains_region(app.focused.region)


async def test_create_queue_enter_submits_once_and_checks_fields_first() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, CreateQueueDialog, "c")
        await until(pilot, lambda: dialog.query_one("#environment", Select).selection is not None, "environments")
        assert not dialog.query_one("#name-error").display, "an empty name is not an error while typing"
        await pilot.press("enter")
        await pilot.pause()
        assert dialog.query_one("#name-error").display, "an empty name is refused at submit, at the field"
        assert changes(sent) == []
        # A bad field further down the form: Enter refuses and brings it into view.
        await pilot.press(*"jobs")
        dialog.query_one("#heartbeat_interval", Input).value = "5"
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert changes(sent) == []
        assert app.focused is dialog.query_one("#heartbeat_interval")
        assert dialog.query_one("#dialog-body").region.contains_region(app.focused.region)
        dialog.query_one("#heartbeat_interval", Input).value = "60"
        dialog.query_one("#tags", Input).focus()
        await pilot.press(*"ops", "enter", "enter")
        await until(pilot, lambda: "create-queue" in sent, "create sent")
        # Typing while the request is in flight must not offer the button again.
        await pilot.press("x", "enter")
        await pilot.pause(0.2)
        assert changes(sent) == ["create-queue"], "Enter twice, and again after typing, sends once"


async def test_create_queue_empty_optional_number_is_not_invalid() -> None:
    app, _ = spied_console()
    async with app.run_test(size=LARGE) as pilot:
        dialog = await open_dialog(pilot, CreateQueueDialog, "c")
        box = dialog.query_one("#heartbeat_interval", Input)
        box.focus()
        await pilot.press("end", "backspace", "backspace")
        await pilot.pause()
        assert box.value == "" and not box.has_class("-invalid"), "empty means the server's default"
        assert not dialog.query_one("#heartbeat_interval-error").display


async def test_create_queue_conflict_lands_at_the_name_only() -> None:
    app, _ = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, CreateQueueDialog, "c")
        dialog.post_message(OperationFailed("create-queue", "409 Conflict: queue name already exists", 409, {"detail": "exists"}))
        await pilot.pause(0.1)
        assert "exists" in str(dialog.query_one("#name-error").render())
        assert not dialog.query_one("#dialog-error").display, "shown once, at the field"
        assert not dialog.query_one("#confirm", Button).disabled


async def test_create_queue_environments_failure_is_quiet() -> None:
    app, _ = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, CreateQueueDialog, "c")
        dialog.post_message(OperationFailed("list-environments", "503 Service Unavailable"))
        await pilot.pause(0.1)
        assert not dialog.query_one("#dialog-error").display, "the environments known from the snapshot stay offered"


# ---------------------------------------------------------------- scale


async def test_scale_enter_in_the_count_submits_once() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, ScaleDialog, "j", "s")  # prod/reports, max_workers 5
        await pilot.press("2", "enter")
        await until(pilot, lambda: "scale-queue" in sent, "scale sent")
        assert dialog.query_one("#confirm", Button).disabled
        await pilot.press("enter", "ctrl+s")
        await pilot.pause(0.2)
        assert changes(sent) == ["scale-queue"], "sent once while in flight"


async def test_scale_failure_is_shown_and_can_be_retried() -> None:
    app, sent = spied_console(hold=False)
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, ScaleDialog, "j", "s")
        await pilot.press("2", "enter")
        await until(pilot, lambda: dialog.query_one("#dialog-error").display, "the recorded API's refusal shown")
        button = dialog.query_one("#confirm", Button)
        assert not button.disabled and str(button.label) == "Scale prod/reports to 2"
        await pilot.press("enter")
        await until(pilot, lambda: changes(sent) == ["scale-queue", "scale-queue"], "sent again")


async def test_scale_enter_with_a_bad_count_sends_nothing() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, ScaleDialog, "j", "s")
        await pilot.press("9", "enter")
        await pilot.pause()
        assert "max_workers" in str(dialog.query_one("#count-error").render())
        assert dialog.query_one("#count").has_class("-invalid")
        assert isinstance(app.screen, ScaleDialog) and changes(sent) == []


async def test_scale_empty_count_is_an_error_only_at_submit() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, ScaleDialog, "j", "s")
        count = dialog.query_one("#count", Input)
        await pilot.press("backspace")
        await pilot.pause()
        assert count.value == ""
        assert not dialog.query_one("#count-error").display, "no error flashes while the field is empty"
        assert not count.has_class("-invalid")
        assert dialog.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
        assert dialog.query_one("#count-error").display and count.has_class("-invalid")
        assert changes(sent) == []
        await pilot.press("4")
        await pilot.pause()
        assert count.value == "4" and not dialog.query_one("#count-error").display
        assert "start 2 workers (2 → 4)" in str(dialog.query_one("#scale-preview").render())


async def test_backspace_then_digit_arriving_together_keep_their_order() -> None:
    """Over SSH both keys often come in one read; Backspace used to run after the digit and delete it."""
    app, _ = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, ScaleDialog, "j", "s")
        count = dialog.query_one("#count", Input)
        await pilot.press("end")
        for key, character in (("backspace", "\x7f"), ("4", "4")):
            app.post_message(events.Key(key, character))  # no pause between them
        await pilot.pause(0.2)
        assert count.value == "4"


async def test_scale_autoscale_switch_says_what_it_does() -> None:
    app, _ = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, ScaleDialog, "j", "s")  # reports: no policy
        state = dialog.query_one("#autoscale-state")
        assert str(state.render()).startswith("Autoscale: off")
        switch = dialog.query_one("#autoscale-on", Switch)
        switch.focus()
        await pilot.press("space")
        await pilot.pause()
        assert switch.value and str(state.render()).startswith("Autoscale: on")
        assert dialog.query_one("#autoscale-fields").display


async def test_scale_enter_in_an_autoscale_field_submits() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, ScaleDialog, "s")  # payments: autoscale on
        maximum = dialog.query_one("#max", Input)
        maximum.focus()
        await pilot.press("end", "backspace", "backspace")
        await pilot.pause()
        assert not dialog.query_one("#autoscale-error").display, "an empty field is not an error while typing"
        await pilot.press("enter")
        await pilot.pause()
        assert dialog.query_one("#autoscale-error").display and changes(sent) == []
        await pilot.press("8", "enter")
        await until(pilot, lambda: "scale-queue" in sent, "scale sent")


# ---------------------------------------------------------------- escape, drain, migrate


@pytest.mark.parametrize(
    "kind, keys, field",
    [
        (CreateQueueDialog, ("c",), "#description"),
        (ScaleDialog, ("j", "s"), "#count"),
        (MigrateDialog, ("L", "m"), "#migrate-name"),
        (DrainDialog, ("w", "j", "d"), None),
    ],
    ids=["create", "scale", "migrate", "drain"],
)
async def test_escape_cancels_from_a_field(kind: type, keys: tuple[str, ...], field: str | None) -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, kind, *keys)
        if field:
            dialog.query_one(field).focus()
            await pilot.press("x")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, kind), "dialog closed")
        assert changes(sent) == []


async def test_drain_enter_on_the_default_focus_drains_as_the_button_says() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, DrainDialog, "w", "j", "d")
        confirm = dialog.query_one("#confirm", Button)
        assert app.focused is confirm and "Enter" in str(confirm.label), "the focused button names its key"
        assert "Enter drains it" in str(dialog.query_one("#drain-hint", Static).render())
        await pilot.press("enter")
        await until(pilot, lambda: "drain-worker" in sent, "drain sent")
        assert changes(sent) == ["drain-worker"]


@pytest.mark.parametrize("keys", [("escape",), ("tab", "enter")], ids=["escape", "cancel-button"])
async def test_a_cancelled_drain_says_so_and_sends_nothing(keys: tuple[str, ...]) -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        dialog = await open_dialog(pilot, DrainDialog, "w", "j", "d")
        await pilot.press(*keys)
        await until(pilot, lambda: not isinstance(app.screen, DrainDialog), "dialog closed")
        assert changes(sent) == []
        await until(pilot, lambda: any("cancelled, nothing was changed" in t for t in toasts(app)), "the cancel said")
        assert dialog.worker is not None


async def test_the_drain_dialog_says_when_a_replacement_starts() -> None:
    app, _ = spied_console()
    async with app.run_test(size=LARGE) as pilot:
        dialog = await open_dialog(pilot, DrainDialog, "w", "j", "j", "j", "j", "d")  # wkr-rep-01f2 of reports
        note = str(dialog.query_one("#drain-replacement", Static).render())
        assert "prod/reports wants 3 workers: a runner" in note and "once this worker has finished and exited" in note


async def test_drain_ctrl_s_twice_sends_once() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        await open_dialog(pilot, DrainDialog, "w", "j", "d")
        await pilot.press("ctrl+s", "ctrl+s")
        await until(pilot, lambda: "drain-worker" in sent, "drain sent")
        await pilot.pause(0.2)
        assert changes(sent) == ["drain-worker"]


async def test_migrate_enter_in_the_name_submits_once() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, MigrateDialog, "L", "m")
        await until(pilot, lambda: dialog.query_one("#migrate-env", Select).prompt == "choose an environment", "environments")
        await pilot.press("enter")
        await pilot.pause()
        assert "environment" in str(dialog.query_one("#dialog-error").render()), "refused: no environment chosen"
        assert changes(sent) == []
        dialog.query_one("#migrate-env", Select).value = "env-dev-0b6e"
        await pilot.press("enter")
        await until(pilot, lambda: "migrate-task-queue" in sent, "migrate sent")
        await pilot.pause(0.2)
        assert changes(sent) == ["migrate-task-queue"]


async def test_migrate_button_sends_once() -> None:
    app, sent = spied_console()
    async with app.run_test(size=LARGE) as pilot:
        dialog = await open_dialog(pilot, MigrateDialog, "L", "m")
        dialog.query_one("#migrate-env", Select).value = "env-dev-0b6e"
        await pilot.pause()
        await pilot.click("#confirm")
        await until(pilot, lambda: "migrate-task-queue" in sent, "migrate sent")
        await pilot.pause(0.2)
        assert changes(sent) == ["migrate-task-queue"], "one click, one migration"


async def test_migrate_resumed_shows_the_command_unwrapped_and_focuses_cancel() -> None:
    app, sent = spied_console()
    async with app.run_test(size=SMALL) as pilot:
        dialog = await open_dialog(pilot, MigrateDialog, "L", "j", "m")  # batch: already migrating
        await until(pilot, lambda: dialog.command is not None and dialog.query_one("#migrate-command").display, "command")
        assert app.focused is dialog.query_one("#cancel")
        shown = dialog.query_one("#migrate-command", Static)
        assert shown.size.height == 1, "one line, not soft-wrapped"
        assert dialog.query_one("#migrate-command-box").max_scroll_x > 0, "it scrolls sideways at 80 columns"
        await pilot.press("ctrl+s")  # not ready: the drain button is disabled, so nothing is sent
        await pilot.pause()
        assert "drain-legacy-workers" not in sent


# ---------------------------------------------------------------- worker command


def real_scripts(queue_id: str, url: str) -> tuple[str, str, dict[str, str]]:
    """What the control plane answers for the dialog: the command, where the package comes from, the scripts."""
    queue = {"id": queue_id, "name": "payments"}
    wheel = Distribution("0.1.0", Path("kubiya_tui-0.1.0-py3-none-any.whl"), "e1" * 32, 222_088, "built from the source tree")
    return worker_command(queue_id, url), package_source(wheel), {p: install_script(p, queue, url, wheel) for p in PLATFORMS}


@pytest.mark.parametrize("size", [SMALL, (120, 36), LARGE], ids=["80x24", "120x36", "160x48"])
async def test_worker_command_is_shown_whole_and_scripts_as_written(size: tuple[int, int]) -> None:
    app, _ = spied_console()
    async with app.run_test(size=size) as pilot:
        dialog = await open_dialog(pilot, WorkerCommandDialog, "i")
        await until(pilot, lambda: dialog.command is not None, "command")
        # The control plane's own command and scripts, as if it had answered them.
        dialog.post_message(OperationDone("worker-command", real_scripts("q-payments-3f9c2a", "http://127.0.0.1:54185")))
        await until(pilot, lambda: "54185" in (dialog.command or ""), "the real command shown")
        for platform in PLATFORMS:
            dialog.query_one(TabbedContent).active = f"tab-{platform}"
            await pilot.pause(0.1)
            lines = dialog.scripts[platform].rstrip().splitlines()
            shown = dialog.query_one(f"#script-{platform}", Static)
            assert shown.size.height == len(lines), f"{platform}: one screen line per script line"
            assert str(shown.render()).splitlines() == lines, f"{platform}: shown as written (no markup, no wrap)"
            if size == SMALL:
                scroller = shown.parent
                assert scroller.max_scroll_x > 0, "wider than the dialog: scrolls sideways"
        dialog.query_one(TabbedContent).active = "tab-local"
        await pilot.pause(0.1)
        command = dialog.query_one("#command-local", Static)

        def shown_whole(reveal: bool) -> None:
            lines = str(command.render()).splitlines()
            box = command.parent
            assert all(len(line) < box.size.width for line in lines), "every line fits: the command is read whole"
            assert all(line.endswith(" \\") for line in lines[:-1]), "broken only where the shell joins it again"
            assert " ".join(line.removesuffix(" \\").strip() for line in lines) == dialog.command_line(reveal)

        shown_whole(False)
        assert MASK in str(command.render())
        await pilot.press("c")
        assert app.clipboard == f'KUBIYA_API_KEY="$KUBIYA_API_KEY" {dialog.command}', "the copy is one line, unchanged"
        await pilot.press("r")
        await pilot.pause(0.1)
        shown_whole(True)
        assert app.operations.api_key in str(command.render())
