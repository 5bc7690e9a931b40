"""Worker start commands and install scripts for a queue, per platform.

Every script installs the kubiya-tui wheel that the control plane serves (fetched from
``$KUBIYA_CONTROL_PLANE_BASE_URL/api/v1/distribution/<file>`` with the API key, its sha256
checked against the one written in the script), or, when ``KUBIYA_TUI_PACKAGE`` is set, that
pip requirement from the host's package index. The same small Python program does it on every
platform: on the host (local), in the container (docker) and in the pod (kubernetes).

Every form reads the API key from the environment (or, on Kubernetes, from a Secret made
from the environment): a key is never written into a script, a command or a manifest.
"""

from __future__ import annotations

import shlex
import textwrap

from kubiya_tui import __version__
from kubiya_tui.controlplane.distribution import PATH as DISTRIBUTION_PATH
from kubiya_tui.controlplane.distribution import Distribution
from kubiya_tui.models import CommandParts

# Longer than any task timeout the worker allows, so a drain never cuts a task short.
DRAIN_GRACE_SECONDS = 3700

# Fetch the served wheel, check its sha256, pip-install it (or KUBIYA_TUI_PACKAGE), exec the
# worker. It goes into single-quoted shell strings and an unquoted heredoc, so it holds no
# single quote, dollar sign, backslash or backtick (a unit test holds it to that).
BOOTSTRAP = '''\
import hashlib, os, subprocess, sys, urllib.error, urllib.request


def say(line):
    print("kubiya-tui install: " + line, file=sys.stderr, flush=True)


def fail(line):
    sys.exit("kubiya-tui install: " + line)


env = os.environ
base = env["KUBIYA_CONTROL_PLANE_BASE_URL"].rstrip("/")
wheel, want = env.get("KUBIYA_TUI_WHEEL", ""), env.get("KUBIYA_TUI_WHEEL_SHA256", "")
package = env.get("KUBIYA_TUI_PACKAGE", "")
home = env.get("KUBIYA_WORKER_HOME", "")
python = os.path.join(home, "bin", "python") if home else sys.executable
program = os.path.join(os.path.dirname(python), "kubiya-tui")
marker = os.path.join(home or sys.prefix, "kubiya-tui-installed")


def download():
    if not wheel:
        fail("this control plane serves no kubiya-tui wheel (the script header says why); "
             "set KUBIYA_TUI_PACKAGE to a pip requirement to install kubiya-tui from your package index")
    url = base + "/api/v1/distribution/" + wheel
    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + env["KUBIYA_API_KEY"]})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            data = answer.read()
    except urllib.error.HTTPError as exc:
        why = {401: "the API key was refused (check KUBIYA_API_KEY)",
               404: "it serves another kubiya-tui now (get a fresh install script)"}.get(exc.code, exc.reason)
        fail("the control plane at " + base + " answered HTTP " + str(exc.code) + " for " + wheel + ": " + str(why))
    except ValueError:
        fail("KUBIYA_CONTROL_PLANE_BASE_URL " + repr(base) + " is not an http(s) URL")
    except Exception as exc:
        fail("cannot reach the control plane at " + base + ": " + str(getattr(exc, "reason", "") or exc or type(exc).__name__))
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        fail(wheel + " from " + base + " has sha256 " + got + ", not " + want + " as this script expects: not installing it")
    return data


def pip(*args):
    if subprocess.call([python, "-m", "pip", "-q", "--disable-pip-version-check", *args]) != 0:
        fail("pip could not install " + args[-1] + " (its messages are above)")


try:
    installed = open(marker).read().strip()
except OSError:
    installed = ""
if installed != (package or want) or not os.path.exists(program):
    data = None if package else download()
    if home and not os.path.exists(python):
        import venv
        try:
            venv.create(home, with_pip=True)
        except Exception as exc:
            fail("cannot make a virtual environment in " + home + ": " + str(exc) + " (Debian, Ubuntu: apt-get install python3-venv)")
    if package:
        say("installing " + package + " from your package index")
        pip("install", package)
    else:
        path = os.path.join(home or sys.prefix, wheel)
        with open(path, "wb") as out:
            out.write(data)
        say(wheel + " from " + base + ": sha256 checked; installing it and its dependencies")
        if installed:
            subprocess.call([python, "-m", "pip", "-q", "uninstall", "-y", "kubiya-tui"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pip("install", path)
    with open(marker, "w") as out:
        out.write(package or want)
queue = env["KUBIYA_WORKER_QUEUE_ID"]
os.execv(program, [program, "worker", "start", "--queue-id", queue, "--control-plane-url", base])
'''


def worker_command_parts(queue_id: str, control_plane_url: str) -> list[str]:
    return ["kubiya-tui", "worker", "start", "--queue-id", queue_id, "--control-plane-url", control_plane_url]


def worker_command_object(queue_id: str, control_plane_url: str) -> CommandParts:
    """``command_parts`` in Kubiya's shape: ``{binary, subcommand, flags}`` (its argv is worker_command_parts)."""
    return CommandParts(
        binary="kubiya-tui",
        subcommand="worker start",
        flags={"--queue-id": queue_id, "--control-plane-url": control_plane_url},
    )


def worker_command(queue_id: str, control_plane_url: str) -> str:
    return shlex.join(worker_command_parts(queue_id, control_plane_url))


def package_source(wheel: Distribution | None, problem: str | None = None) -> str:
    """Where a worker's kubiya-tui comes from, in a sentence for the `i` dialog and worker-command."""
    if wheel is None:
        return (
            f"package: this control plane serves no kubiya-tui wheel ({problem or 'unknown reason'}); "
            "set KUBIYA_TUI_PACKAGE to install from an index"
        )
    return (
        f"package: kubiya-tui {wheel.version} from this control plane ({DISTRIBUTION_PATH}, sha256 {wheel.sha256[:12]}…), "
        "or set KUBIYA_TUI_PACKAGE to install from an index"
    )


def _slug(name: str) -> str:
    """A name safe for a container or Kubernetes object (lowercase, digits, dashes)."""
    out = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return (out or "queue")[:40]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def install_script(
    platform: str, queue: dict, control_plane_url: str, wheel: Distribution | None = None, problem: str | None = None
) -> str:
    """The bash script that installs kubiya-tui and starts a worker for ``queue`` on ``platform``."""
    queue_id = queue["id"]
    name = _slug(queue["name"])
    q = shlex.quote
    if wheel is not None:
        package_note = (
            f"# Package: kubiya-tui {wheel.version}, the wheel this control plane serves (its sha256 is checked\n"
            "# before pip installs it); set KUBIYA_TUI_PACKAGE to a pip requirement to install from your index instead.\n"
        )
    else:
        package_note = (
            f"# This control plane serves no kubiya-tui wheel: {_one_line(problem or 'unknown reason')}\n"
            f"# Set KUBIYA_TUI_PACKAGE to a pip requirement (kubiya-tui=={__version__}) to install it from your package index.\n"
        )
    header = (
        "#!/usr/bin/env bash\n"
        f"# kubiya-tui worker for queue {_one_line(repr(queue['name']))} ({queue_id}), platform: {platform}.\n"
        "# The API key is read from KUBIYA_API_KEY in your environment; it is never stored in this script.\n"
        + package_note
        + f"# Then it runs: kubiya-tui worker start --queue-id {queue_id} --control-plane-url \"$KUBIYA_CONTROL_PLANE_BASE_URL\"\n"
        "set -euo pipefail\n"
        ': "${KUBIYA_API_KEY:?set KUBIYA_API_KEY to an API key of your organization first}"\n'
        f"KUBIYA_CONTROL_PLANE_BASE_URL=${{KUBIYA_CONTROL_PLANE_BASE_URL:-{q(control_plane_url)}}}\n"
        f"KUBIYA_WORKER_QUEUE_ID={q(queue_id)}\n"
        f"KUBIYA_TUI_WHEEL={q(wheel.filename if wheel else '')}\n"
        f"KUBIYA_TUI_WHEEL_SHA256={q(wheel.sha256 if wheel else '')}\n"
        "KUBIYA_TUI_PACKAGE=${KUBIYA_TUI_PACKAGE:-}\n"
    )
    bootstrap = f"BOOTSTRAP='{BOOTSTRAP}'\n"
    if platform == "local":
        return header + (
            f"KUBIYA_WORKER_HOME=${{KUBIYA_WORKER_HOME:-$HOME/.kubiya-tui/worker-{name}}}\n"
            "command -v python3 >/dev/null || { echo 'python3 (3.11 or newer) is required' >&2; exit 1; }\n"
            "python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \\\n"
            "  || { echo 'python3 is older than 3.11' >&2; exit 1; }\n"
            "export KUBIYA_API_KEY KUBIYA_CONTROL_PLANE_BASE_URL KUBIYA_WORKER_QUEUE_ID KUBIYA_TUI_WHEEL \\\n"
            "  KUBIYA_TUI_WHEEL_SHA256 KUBIYA_TUI_PACKAGE KUBIYA_WORKER_HOME\n"
            "# Installs into its own virtual environment (KUBIYA_WORKER_HOME) once, then runs the worker.\n"
            + bootstrap
            + 'exec python3 -c "$BOOTSTRAP"\n'
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
            "# The container fetches the wheel from KUBIYA_CONTROL_PLANE_BASE_URL itself: that URL must be\n"
            "# reachable from inside it. `docker logs $CONTAINER` shows the install and the worker.\n"
            + bootstrap
            + 'exec docker run -d --name "$CONTAINER" --restart unless-stopped ${NETWORK[@]+"${NETWORK[@]}"} \\\n'
            f"  --stop-timeout {DRAIN_GRACE_SECONDS} \\\n"
            '  -e KUBIYA_API_KEY -e KUBIYA_CONTROL_PLANE_BASE_URL="$KUBIYA_CONTROL_PLANE_BASE_URL" \\\n'
            '  -e KUBIYA_WORKER_QUEUE_ID="$KUBIYA_WORKER_QUEUE_ID" -e KUBIYA_TUI_PACKAGE="$KUBIYA_TUI_PACKAGE" \\\n'
            '  -e KUBIYA_TUI_WHEEL="$KUBIYA_TUI_WHEEL" -e KUBIYA_TUI_WHEEL_SHA256="$KUBIYA_TUI_WHEEL_SHA256" \\\n'
            '  "$IMAGE" python -c "$BOOTSTRAP"\n'
        )
    if platform == "kubernetes":
        program = textwrap.indent(BOOTSTRAP, " " * 14, lambda line: line.strip() != "")
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
            "# Each pod fetches the wheel from KUBIYA_CONTROL_PLANE_BASE_URL itself: that URL must be reachable\n"
            "# from inside the cluster. `kubectl logs deployment/$NAME` shows the install and the worker.\n"
            'kubectl -n "$NAMESPACE" apply -f - <<MANIFEST\n'
            "apiVersion: apps/v1\n"
            "kind: Deployment\n"
            "metadata:\n"
            "  name: $NAME\n"
            "  labels: {app.kubernetes.io/name: kubiya-worker, kubiya.ai/queue-id: \"$KUBIYA_WORKER_QUEUE_ID\"}\n"
            "spec:\n"
            "  replicas: $REPLICAS\n"
            "  selector:\n"
            "    matchLabels: {app.kubernetes.io/name: kubiya-worker, kubiya.ai/queue-id: \"$KUBIYA_WORKER_QUEUE_ID\"}\n"
            "  template:\n"
            "    metadata:\n"
            "      labels: {app.kubernetes.io/name: kubiya-worker, kubiya.ai/queue-id: \"$KUBIYA_WORKER_QUEUE_ID\"}\n"
            "    spec:\n"
            "      # SIGTERM starts a drain; the grace outlasts the longest task.\n"
            f"      terminationGracePeriodSeconds: {DRAIN_GRACE_SECONDS}\n"
            "      containers:\n"
            "        - name: worker\n"
            "          image: $IMAGE\n"
            "          command: [\"python\", \"-c\"]\n"
            "          args:\n"
            "            - |\n"
            + program
            + "          env:\n"
            "            - name: KUBIYA_CONTROL_PLANE_BASE_URL\n"
            "              value: \"$KUBIYA_CONTROL_PLANE_BASE_URL\"\n"
            "            - name: KUBIYA_WORKER_QUEUE_ID\n"
            "              value: \"$KUBIYA_WORKER_QUEUE_ID\"\n"
            "            - name: KUBIYA_TUI_WHEEL\n"
            "              value: \"$KUBIYA_TUI_WHEEL\"\n"
            "            - name: KUBIYA_TUI_WHEEL_SHA256\n"
            "              value: \"$KUBIYA_TUI_WHEEL_SHA256\"\n"
            "            - name: KUBIYA_TUI_PACKAGE\n"
            "              value: \"$KUBIYA_TUI_PACKAGE\"\n"
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
