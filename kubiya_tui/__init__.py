"""kubiya-tui: a terminal console, CLI, control plane and worker runtime for Kubiya worker queues."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The one source of the version: the installed package's metadata (pyproject.toml's `version`).
    __version__ = version("kubiya-tui")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
