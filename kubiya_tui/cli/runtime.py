"""Commands that run things: the worker process and task submission."""
