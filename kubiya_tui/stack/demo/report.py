"""What the demo prints: where the stack is and how to reach it, and what the load did."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Callable

from kubiya_tui.stack.loadgen import LoadStats

if TYPE_CHECKING:
    from kubiya_tui.stack.demo.stack import DemoInfo


def print_line(line: str) -> None:
    """A line on stdout; a terminal that went away (SSH closed) must not stop the clean-up."""
    try:
        print(line, flush=True)
    except (OSError, ValueError):
        pass


def exports(info: "DemoInfo") -> list[str]:
    """Shell lines that point any tool reading the environment at the demo (the key by its file)."""
    q = shlex.quote
    return [
        f"export KUBIYA_CONTROL_PLANE_BASE_URL={q(info.api_url)}",
        f'export KUBIYA_API_KEY="$(cat {q(str(info.key_file))})"',
        f"export TEMPORAL_ADDRESS={q(info.temporal_address)}",
        f"export TEMPORAL_NAMESPACE={q(info.namespace)}",
    ]


def print_ready(
    info: "DemoInfo", *, workers: int, load: bool, seconds: float | None, profile: str, environment: str, say: Callable[[str], None]
) -> None:
    """The headless demo's greeting: the stack's addresses, the profile for other terminals, the exports."""
    names = ", ".join(info.queues)
    say(f"kubiya-tui demo ready in {info.ready_after:.1f}s")
    say(f"  Temporal      {info.temporal_address} (namespace {info.namespace})")
    say(f"  control plane {info.api_url}")
    say(f"  queues        {names} (environment {environment}; {workers} worker(s) each)")
    say(f"  load          {'running' if load else 'off'}")
    say(f"  data          {info.data_dir} (log: {info.data_dir / 'demo.log'}, workers: {info.data_dir / 'workers'})")
    say(f"profile {profile!r} written to {info.config_file}; from another terminal:")
    say(f"  kubiya-tui --profile {profile}")
    say(f"  kubiya-tui --profile {profile} queues list")
    say("or, for any tool that reads the environment:")
    for line in exports(info):
        say(line)
    until = f"{seconds:g} s pass" if seconds else "Ctrl+C"
    say(f"running until {until}")


def summary(stats: dict[str, LoadStats]) -> list[str]:
    """One line per queue of what the load generator submitted and what was refused."""
    return [f"  {s.summary()}" for s in stats.values()]
