"""Task kinds: the registry, plugins from entry points, and input validation (pure units)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ValidationError

import kubiya_tui.tasks as tasks


class EchoInput(BaseModel):
    text: str


async def run_echo(data: EchoInput, ctx: tasks.TaskContext) -> dict:
    return {"echo": data.text, "task": ctx.task_id}


ECHO = tasks.TaskKind("echo", EchoInput, run_echo, "Echo the input.")


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch):
    """Entry points as an installed plugin package would declare them."""

    def fake_entry_points(group: str):
        assert group == tasks.ENTRY_POINT_GROUP
        return [
            SimpleNamespace(load=lambda: ECHO),
            SimpleNamespace(load=lambda: (_ for _ in ()).throw(ImportError("broken plugin"))),
            SimpleNamespace(load=lambda: "not a task kind"),
        ]

    monkeypatch.setattr(tasks, "entry_points", fake_entry_points)
    tasks.registry.cache_clear()
    yield
    tasks.registry.cache_clear()


def test_plugin_kinds_join_the_builtins_and_broken_plugins_are_skipped(plugins):
    assert sorted(tasks.registry()) == ["echo", "http", "shell", "sleep"]
    kind = tasks.get_kind("echo")
    result = asyncio.run(kind.run(kind.input_model(text="hi"), tasks.TaskContext("t-1", 1)))
    assert result == {"echo": "hi", "task": "t-1"}


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(KeyError, match="known kinds: http, shell, sleep"):
        tasks.get_kind("nope")


@pytest.mark.parametrize(
    "kind, data",
    [
        ("sleep", {"seconds": -1}),
        ("sleep", {"fail_ratio": 2}),
        ("sleep", {"extra": True}),
        ("http", {"url": "ftp//x"}),
        ("http", {"url": "http://127.0.0.1/", "method": "BREW"}),
        ("shell", {"command": ""}),
    ],
)
def test_bad_input_is_refused_by_the_kind_model(kind, data):
    with pytest.raises(ValidationError):
        tasks.get_kind(kind).input_model.model_validate(data)


def test_shell_refuses_to_run_where_the_queue_does_not_allow_it():
    shell = tasks.get_kind("shell")
    data = shell.input_model(command="true")
    with pytest.raises(tasks.TaskFailed, match="allow_shell"):
        asyncio.run(shell.run(data, tasks.TaskContext("t", 1, {"allow_shell": "yes"})))
    result = asyncio.run(shell.run(data, tasks.TaskContext("t", 1, {"allow_shell": True})))
    assert result["exit_code"] == 0


def test_shell_timeout_kills_the_command():
    shell = tasks.get_kind("shell")
    data = shell.input_model(command="sleep 30", timeout=0.3)
    with pytest.raises(tasks.TaskFailed, match="timed out after 0.3 s"):
        asyncio.run(shell.run(data, tasks.TaskContext("t", 1, {"allow_shell": True})))
