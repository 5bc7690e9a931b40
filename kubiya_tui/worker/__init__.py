"""The worker process that the worker command starts."""
