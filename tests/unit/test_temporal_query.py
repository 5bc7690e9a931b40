"""The query builder (pure units): every value is one quoted literal, and nothing else writes a query."""

from __future__ import annotations

import ast
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kubiya_tui.client import temporal_query as tq

HOSTILE = [
    'x" OR TaskQueue!="zzz',
    "x' OR TaskQueue!='zzz",
    "back\\slash\\",
    '\\" OR 1=1 --',
    "(a) OR (b)",
    "x AND ExecutionStatus = 'Running'",
    "new\nline",
    "tab\tcr\rbs\b",
    "ünïcødé-環境-🙂",
    "n" * 100,
]

PACKAGE = Path(__file__).resolve().parents[1] / "kubiya_tui"


def read_literal(text: str) -> tuple[str, str]:
    """Read one double-quoted literal from the start of ``text`` as Temporal's tokenizer does: (value, rest)."""
    assert text[0] == '"', text
    decode = {"0": "\x00", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a"}
    out, i = [], 1
    while True:
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1]
            out.append(decode.get(nxt, nxt))
            i += 2
        elif ch == '"':
            return "".join(out), text[i + 1 :]
        else:
            out.append(ch)
            i += 1


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_reads_back_whole_and_ends_the_literal(value):
    query = tq.executions_on(value)
    assert query.startswith("TaskQueue = ")
    read, rest = read_literal(query.removeprefix("TaskQueue = "))
    assert read == value and rest == ""
    assert "\x00" not in query and "\n" not in query


@pytest.mark.parametrize("value", HOSTILE)
def test_every_query_keeps_its_own_structure_whatever_the_name(value):
    since = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    for query, tail in (
        (tq.closed_on(value, since), ' AND CloseTime > "2030-01-02T03:04:05Z"'),
        (tq.outcomes_on(value, since), ' AND CloseTime > "2030-01-02T03:04:05Z" GROUP BY ExecutionStatus'),
        (tq.executions_on(value, "Failed"), ' AND ExecutionStatus = "Failed"'),
        (tq.workers_on(value), ""),
    ):
        read, rest = read_literal(query.removeprefix("TaskQueue = "))
        assert read == value and rest == tail


@pytest.mark.parametrize("value", HOSTILE)
def test_a_scan_of_several_queues_names_each_in_its_own_literal(value):
    since = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    query = tq.closed_on_any([value, "plain", value], since)
    assert query.startswith("TaskQueue IN (")
    first, rest = read_literal(query.removeprefix("TaskQueue IN ("))
    assert first == value and rest.startswith(", ")
    second, rest = read_literal(rest.removeprefix(", "))
    assert second == "plain", "the repeated name is named once"
    assert rest == ') AND CloseTime > "2030-01-02T03:04:05Z"'
    assert tq.closed_on_any([value], since) == tq.closed_on(value, since)
    with pytest.raises(ValueError):
        tq.closed_on_any([], since)


def test_times_are_utc_and_statuses_are_known_ones():
    local = datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert tq.time_literal(local) == '"2030-01-02T03:04:05Z"'
    assert tq.time_literal(datetime(2030, 1, 2, 3, 4, 5)) == '"2030-01-02T03:04:05Z"'
    with pytest.raises(ValueError, match="unknown execution status"):
        tq.executions_on("q", 'Running" OR "1"="1')
    with pytest.raises(TypeError):
        tq.literal(7)  # type: ignore[arg-type]
    # Temporal hands a NUL on raw to its SQL store, which fails: refused before any call.
    with pytest.raises(ValueError, match="NUL"):
        tq.workers_on("a\x00b")


# A string that looks like a visibility or ListWorkers condition: an attribute and an operator.
QUERY_LIKE = re.compile(
    r"\b(TaskQueue|WorkflowId|WorkflowType|ExecutionStatus|CloseTime|StartTime|ExecutionTime|RunId|WorkerStatus"
    r"|BuildIds|TemporalChangeVersion)\s*(=|!=|>|<|\bIN\b|\bSTARTS_WITH\b|\bBETWEEN\b|\bIS\b)"
    r"|GROUP BY ExecutionStatus"
)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string of a module but docstrings; an f-string is one string, a placeholder reads as ``{}``."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    pieces = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            found.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings | pieces:
            found.append((node.lineno, node.value))
    return found


def test_no_module_but_the_builder_writes_a_query():
    """Every query goes through client/temporal_query.py: no other string in kubiya_tui/ is one."""
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "temporal_query.py"
        for line, text in _strings(ast.parse(path.read_text(), str(path)))
        if QUERY_LIKE.search(text)
    ]
    assert offenders == [], "queries formatted outside client/temporal_query.py:\n" + "\n".join(offenders)


def test_the_check_finds_a_formatted_query():
    """The check above is not blind: it finds the formatting it forbids, and not docstrings."""
    source = '''"""A module about TaskQueue = x."""\nq = f'TaskQueue="{name}"'\nr = 'x AND ExecutionStatus="Running"'\n'''
    hits = [text for _, text in _strings(ast.parse(source)) if QUERY_LIKE.search(text)]
    assert hits == ['TaskQueue="{}"', 'x AND ExecutionStatus="Running"']


@pytest.mark.parametrize("value", HOSTILE)
def test_the_discovery_query_quotes_every_excluded_name(value):
    """Temporal-only discovery pages through the namespace, excluding the queues found so far."""
    since = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    head = '(ExecutionStatus = "Running" OR CloseTime > "2030-01-02T03:04:05Z")'
    assert tq.recent_executions(since) == head
    query = tq.recent_executions(since, ["plain", value, "plain"])
    assert query.startswith(head + ' AND TaskQueue NOT IN ("plain", ')
    read, rest = read_literal(query.removeprefix(head + ' AND TaskQueue NOT IN ("plain", '))
    assert read == value and rest == ")"  # a name given twice is excluded once
    with pytest.raises(ValueError, match="NUL"):
        tq.recent_executions(since, ["a\x00b"])
