"""Worker start commands and install scripts for a queue, per platform.

Every form reads the API key from the environment (or, on Kubernetes, from a Secret made
from the environment): a key is never written into a script or a command.
"""

from __future__ import annotations

import shlex

from kubiya_tui import __version__

PACKAGE_SPEC = f"kubiya-tui=={__version__}"
# Longer than any task timeout the worker allows, so a drain never cuts a task short.
DRAIN_GRACE_SECONDS = 3700


def worker_command_parts(queue_id: str, control_plane_url: str) -> list[str]:
    return ["kubiya-tui", "worker", "start", "--queue-id", queue_id, "--control-plane-url", control_plane_url]


def worker_command(queue_id: str, control_plane_url: str) -> str:
    return shlex.join(worker_command_parts(queue_id, control_plane_url))


def _slug(name: str) -> str:
    """A name safe for a container or Kubernetes object (lowercase, digits, dashes)."""
    out = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return (out or "queue")[:40]


def install_script(platform: str, queue: dict, control_plane_url: str) -> str:
    queue_id = queue["id"]
    name = _slug(queue["name"])
    q = shlex.quote
    header = (
        "#!/usr/bin/env bash\n"
        f"# kubiya-tui worker for queue {queue['name']!r} ({queue_id}), platform: {platform}.\n"
        "# The API key is read from KUBIYA_API_KEY in your environment; it is never stored in this script.\n"
        "set -euo pipefail\n"
        ': "${KUBIYA_API_KEY:?set KUBIYA_API_KEY to an API key of your organization first}"\n'
        f"KUBIYA_CONTROL_PLANE_BASE_URL=${{KUBIYA_CONTROL_PLANE_BASE_URL:-{q(control_plane_url)}}}\n"
        f"QUEUE_ID={q(queue_id)}\n"
        f"PACKAGE=${{KUBIYA_TUI_PACKAGE:-{q(PACKAGE_SPEC)}}}\n"
    )
    if platform == "local":
        return header + (
            f"VENV=${{KUBIYA_WORKER_HOME:-$HOME/.kubiya-tui/worker-{name}}}\n"
            "command -v python3 >/dev/null || { echo 'python3 (3.11 or newer) is required' >&2; exit 1; }\n"
            "python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \\\n"
            "  || { echo 'python3 is older than 3.11' >&2; exit 1; }\n"
            '[ -x "$VENV/bin/kubiya-tui" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "$PACKAGE"; }\n'
            "export KUBIYA_API_KEY KUBIYA_CONTROL_PLANE_BASE_URL\n"
            'exec "$VENV/bin/kubiya-tui" worker start --queue-id "$QUEUE_ID" '
            '--control-plane-url "$KUBIYA_CONTROL_PLANE_BASE_URL"\n'
        )
    if platform == "docker":
        return header + (
            f"CONTAINER=${{KUBIYA_WORKER_CONTAINER:-kubiya-worker-{name}}}\n"
            "IMAGE=${KUBIYA_WORKER_IMAGE:-python:3.11-slim}\n"
            "command -v docker >/dev/null || { echo 'docker is required' >&2; exit 1; }\n"
            "NETWORK=()  # expanded below as ${NETWORK[@]+...}: bash 3.2 with set -u calls an empty array unbound\n"
            "# A control plane on this host's loopback is reachable from the container only on the host network.\n"
            'case "$KUBIYA_CONTROL_PLANE_BASE_URL" in *://127.*|*://localhost*) NETWORK=(--network host) ;; esac\n'
            'docker rm -f "$CONTAINER" >/dev/null 2>&1 || true\n'
            'exec docker run -d --name "$CONTAINER" --restart unless-stopped ${NETWORK[@]+"${NETWORK[@]}"} \\\n'
            f"  --stop-timeout {DRAIN_GRACE_SECONDS} \\\n"
            "  -e KUBIYA_API_KEY -e KUBIYA_CONTROL_PLANE_BASE_URL=\"$KUBIYA_CONTROL_PLANE_BASE_URL\" \\\n"
            '  "$IMAGE" sh -c "pip install -q \'$PACKAGE\' && exec kubiya-tui worker start --queue-id \'$QUEUE_ID\'"\n'
        )
    if platform == "kubernetes":
        return header + (
            "NAMESPACE=${KUBIYA_WORKER_NAMESPACE:-default}\n"
            "IMAGE=${KUBIYA_WORKER_IMAGE:-python:3.11-slim}\n"
            "REPLICAS=${KUBIYA_WORKER_REPLICAS:-1}\n"
            f"NAME=kubiya-worker-{name}\n"
            "command -v kubectl >/dev/null || { echo 'kubectl is required' >&2; exit 1; }\n"
            "# The key goes into a Secret straight from the environment, and the pods read it from there.\n"
            "# Through stdin, not a flag: a key in kubectl's arguments would show in the process list.\n"
            "printf '%s' \"$KUBIYA_API_KEY\" | kubectl -n \"$NAMESPACE\" create secret generic \"$NAME-key\" \\\n"
            '  --from-file=api-key=/dev/stdin --dry-run=client -o yaml | kubectl apply -f -\n'
            'kubectl -n "$NAMESPACE" apply -f - <<MANIFEST\n'
            "apiVersion: apps/v1\n"
            "kind: Deployment\n"
            "metadata:\n"
            "  name: $NAME\n"
            "  labels: {app.kubernetes.io/name: kubiya-worker, kubiya.ai/queue-id: \"$QUEUE_ID\"}\n"
            "spec:\n"
            "  replicas: $REPLICAS\n"
            "  selector:\n"
            "    matchLabels: {app.kubernetes.io/name: kubiya-worker, kubiya.ai/queue-id: \"$QUEUE_ID\"}\n"
            "  template:\n"
            "    metadata:\n"
            "      labels: {app.kubernetes.io/name: kubiya-worker, kubiya.ai/queue-id: \"$QUEUE_ID\"}\n"
            "    spec:\n"
            "      # SIGTERM starts a drain; the grace outlasts the longest task.\n"
            f"      terminationGracePeriodSeconds: {DRAIN_GRACE_SECONDS}\n"
            "      containers:\n"
            "        - name: worker\n"
            "          image: $IMAGE\n"
            "          command: [\"sh\", \"-c\", \"pip install -q '$PACKAGE' && exec kubiya-tui worker start --queue-id '$QUEUE_ID'\"]\n"
            "          env:\n"
            "            - name: KUBIYA_CONTROL_PLANE_BASE_URL\n"
            "              value: \"$KUBIYA_CONTROL_PLANE_BASE_URL\"\n"
            "            - name: KUBIYA_API_KEY\n"
            "              valueFrom:\n"
            "                secretKeyRef: {name: $NAME-key, key: api-key}\n"
            "          resources:\n"
            "            requests: {cpu: 250m, memory: 256Mi}\n"
            "            limits: {memory: 1Gi}\n"
            "MANIFEST\n"
            'echo "deployment $NAME applied in namespace $NAMESPACE"\n'
        )
    raise ValueError(f"unknown platform {platform!r}")
