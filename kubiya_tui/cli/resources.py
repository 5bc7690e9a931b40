"""Headless commands over the control-plane API: envs, queues, workers, worker-command, install-script."""
