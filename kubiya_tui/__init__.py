"""kubiya-tui: a terminal console, CLI, control plane and worker runtime for Kubiya worker queues."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # ``__version__`` is read on first use: importlib.metadata costs ~40 ms, more than the
    # rest of `kubiya-tui --help`'s own start-up.
    if name != "__version__":
        raise AttributeError(f"module 'kubiya_tui' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        # The one source of the version: the installed package's metadata (pyproject.toml's `version`).
        found = version("kubiya-tui")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
