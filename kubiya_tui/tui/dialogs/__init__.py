"""Modal dialogs for the operations: create queue, worker command, drain worker, scale queue."""
