"""Messages that carry background results to the widgets that show them."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from kubiya_tui.metrics.snapshot import Snapshot


class SnapshotReady(Message):
    """A poll finished with a new snapshot; a burst of them collapses into the newest."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


class OperationDone(Message):
    """A control-plane call made for a screen or dialog succeeded."""

    def __init__(self, action: str, result: Any) -> None:
        super().__init__()
        self.action = action
        self.result = result


class OperationFailed(Message):
    """A control-plane call failed; ``error`` is the server's message (or why it was refused)."""

    def __init__(self, action: str, error: str, status: int = 0, body: Any = None) -> None:
        super().__init__()
        self.action = action
        self.error = error
        self.status = status
        self.body = body


class FleetPolled(Message):
    """One profile of the fleet finished a poll (its member holds the snapshot or the error)."""

    def __init__(self, profile: str) -> None:
        super().__init__()
        self.profile = profile
