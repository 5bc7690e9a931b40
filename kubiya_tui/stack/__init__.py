"""The local stack: Temporal dev server, control plane, runner, load generator."""
