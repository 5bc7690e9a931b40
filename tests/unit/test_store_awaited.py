"""Every call of a registry coroutine in the control plane is awaited.

The store's methods are coroutines (``controlplane/store.py``); a call without ``await``
hands a route a coroutine instead of rows, which fails only when that line runs. This
finds such calls in every module at once, including code merged from elsewhere.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from kubiya_tui.controlplane.store import Store

ROOT = Path(__file__).resolve().parents[2] / "kubiya_tui"
COROUTINES = {name for name, member in inspect.getmembers(Store) if inspect.iscoroutinefunction(member)}


def _store_expression(node: ast.AST) -> bool:
    """`store`, `self.store`, `get_store(request)`, `request.app.state.store`, ..."""
    if isinstance(node, ast.Name):
        return node.id in ("store", "registry")
    if isinstance(node, ast.Attribute):
        return node.attr in ("store", "_store")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id == "get_store"
    return False


def unawaited_calls(source: str) -> list[int]:
    """Lines where a store coroutine is called and not awaited."""
    tree = ast.parse(source)
    awaited = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Await)}
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in COROUTINES
            and _store_expression(node.func.value)
            and id(node) not in awaited
        ):
            lines.append(node.lineno)
    return lines


def test_the_check_finds_a_missing_await() -> None:
    assert unawaited_calls("async def f(store):\n    return store.get_queue('o', 'q')\n") == [2]
    assert unawaited_calls("async def f(store):\n    return await store.get_queue('o', 'q')\n") == []


def test_every_store_coroutine_is_awaited() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for line in unawaited_calls(path.read_text()):
            found.append(f"{path.relative_to(ROOT.parent)}:{line}")
    assert not found, "store coroutines called without await: " + ", ".join(found)
