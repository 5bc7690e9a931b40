"""The command that starts a worker for a queue, and its install scripts for local, docker and kubernetes."""

from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static, TabbedContent, TabPane

from kubiya_tui.client.api import ApiClient
from kubiya_tui.formatting import shell_wrap
from kubiya_tui.tui.actions import Operations
from kubiya_tui.tui.context import console_of
from kubiya_tui.tui.messages import OperationDone, OperationFailed

PLATFORMS = ("local", "docker", "kubernetes")
MASK = "••••••"


async def load_commands(api: ApiClient, queue_id: str) -> tuple[str, str | None, dict[str, str]]:
    """The queue's worker command, where its package comes from, and its install script per platform."""
    command, *scripts = await asyncio.gather(api.worker_command(queue_id), *(api.install_script(queue_id, p) for p in PLATFORMS))
    return command.command, command.package, dict(zip(PLATFORMS, scripts))


class WorkerCommandDialog(ModalScreen[None]):
    """Tabs per platform; ``c`` copies the tab's text with OSC 52 (works over SSH), ``r`` reveals the key.

    The command is shown whole: broken between its words onto lines ending in a backslash
    (a mouse copy of all of them still runs), to the dialog's width; ``c`` copies it as one
    line. Scripts are shown as written, one screen line per line (a line wider than the
    dialog scrolls sideways). All of it as plain text, never read as markup.
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("c", "copy", "Copy"),
        Binding("r", "reveal", "Reveal key"),
    ]

    def __init__(self, queue_id: str, label: str) -> None:
        super().__init__()
        self.queue_id = queue_id
        self.label = label
        self.revealed = False
        self.command: str | None = None
        self.package: str | None = None
        """Where the worker's kubiya-tui comes from, as the control plane says (None: it does not say)."""
        self.scripts: dict[str, str] = {}

    @property
    def operations(self) -> Operations:
        """How this dialog reads the control plane, and the API key the console uses."""
        return console_of(self).operations

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide tall"):
            yield Label(f"Start a worker for {self.label}", id="dialog-title")
            with TabbedContent(id="platforms"):
                for platform in PLATFORMS:
                    with TabPane(platform, id=f"tab-{platform}"):
                        with ScrollableContainer(classes="commands"):
                            if platform == "local":
                                yield Label("Run on this machine:", classes="section")
                                yield Static("loading…", id="command-local", classes="command")
                                yield Static(id="package-source")
                                yield Label("or install it with:", classes="section")
                            yield Static("loading…", id=f"script-{platform}", classes="script")
            yield Static(id="dialog-error")
            with Horizontal(id="dialog-buttons"):
                yield Button("Copy (c)", variant="primary", id="copy")
                yield Button("Reveal key (r)", id="reveal", disabled=self.operations.api_key is None)
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.query_one("#dialog-error").display = False
        self.operations.perform(self, "worker-command", self.queue_id, lambda api: load_commands(api, self.queue_id), mutating=False)

    def command_line(self, reveal: bool) -> str:
        """The local command, with the key in front when the console knows one (masked unless revealed)."""
        if self.command is None:
            return "loading…"
        key = self.operations.api_key
        if key is None:
            return self.command
        return f"KUBIYA_API_KEY={key if reveal else MASK} {self.command}"

    def on_resize(self) -> None:
        # The command is broken to the dialog's width: again when that changes.
        self.call_after_refresh(self._show)

    def _command_width(self) -> int:
        """Cells a line of the command may take: the width of its scrolling box, less its scrollbar."""
        box = self.query_one("#command-local", Static).parent
        width = box.size.width - 1 if box is not None and box.size.width else 0
        return width if width > 20 else 10_000

    def _show(self) -> None:
        lines = shell_wrap(self.command_line(self.revealed), self._command_width()) if self.command else ["loading…"]
        command = Content("\n".join(lines))
        if self.operations.api_key is None and self.command is not None:
            command = Content.assemble("\n".join(lines), "\n", ("(set KUBIYA_API_KEY first)", "dim"))
        self.query_one("#command-local", Static).update(command)
        package = self.query_one("#package-source", Static)
        package.update(Content(self.package or ""))
        package.display = bool(self.package)
        for platform, script in self.scripts.items():
            self.query_one(f"#script-{platform}", Static).update(Content(script.rstrip()))

    def on_operation_done(self, message: OperationDone) -> None:
        self.command, self.package, self.scripts = message.result
        self._show()

    def on_operation_failed(self, message: OperationFailed) -> None:
        error = self.query_one("#dialog-error", Static)
        error.update(f"✗ {message.error}")
        error.display = True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"copy": self.action_copy, "reveal": self.action_reveal, "close": self.dismiss}[event.button.id or "close"]()

    def action_reveal(self) -> None:
        if self.operations.api_key is None:
            self.app.notify("the console has no API key to show", severity="warning")
            return
        self.revealed = not self.revealed
        self.query_one("#reveal", Button).label = "Hide key (r)" if self.revealed else "Reveal key (r)"
        self._show()

    def copy_text(self) -> str | None:
        """What ``c`` copies from the active tab: the runnable command (local) or the install script."""
        active = self.query_one(TabbedContent).active.removeprefix("tab-")
        if self.command is None:
            return None
        if active == "local":
            if self.operations.api_key is None:
                return self.command
            # Masked, the copy reads the key from the environment rather than holding a useless mask.
            return self.command_line(True) if self.revealed else f'KUBIYA_API_KEY="$KUBIYA_API_KEY" {self.command}'
        return self.scripts.get(active)

    def action_copy(self) -> None:
        text = self.copy_text()
        if text is None:
            self.app.notify("nothing to copy yet", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        tab = self.query_one(TabbedContent).active.removeprefix("tab-")
        self.app.notify(f"{tab} {'command' if tab == 'local' else 'install script'} copied to the clipboard (OSC 52)", title="Copied")

