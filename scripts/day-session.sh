#!/usr/bin/env bash
# A day of operating over SSH, replayed: the demo stack, the console and the CLI side by side in
# tmux at 80x24, driven by send-keys; every screen is saved as text into a folder.
#
#   scripts/day-session.sh [OUT_DIR]      (default: ./day-session; needs tmux and .venv)
#
# Each screen is OUT_DIR/NN-what.txt (plain text) and NN-what.ansi (with colours: `cat` it).
#
# It runs `kubiya-tui demo` with its own XDG folders (a temporary HOME for config, data and
# state: nothing of yours is read or changed), looks at the overview, workers, drain dialog
# (and cancels it), worker command, help, a pause; runs top, top --watch, tasks list, workers
# list, check and some bad input from a second window; makes a stuck queue (a worker that
# heartbeats but never polls, scripts/stuck_worker.py) and looks at it in the console, top and
# check; quits the demo; runs an ephemeral demo and shows the demo profile afterwards.
# Everything it starts runs on a tmux server of its own and is stopped by the end.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$repo/day-session}" && cd "${1:-$repo/day-session}" && pwd)
bin="${KUBIYA_TUI_BIN:-$repo/.venv/bin}"
[ -x "$bin/kubiya-tui" ] || { echo "day-session: no $bin/kubiya-tui (make the venv first, see README)" >&2; exit 1; }
command -v tmux >/dev/null || { echo "day-session: tmux is not installed (apt-get install -y tmux)" >&2; exit 1; }

home=$(mktemp -d "${TMPDIR:-/tmp}/kubiya-day.XXXXXX")
sock="kubiya-day-$$"
stuck_pid=""
t() { tmux -L "$sock" -f /dev/null "$@"; }

cleanup() {
    if [ -n "$stuck_pid" ]; then
        kill "$stuck_pid" 2>/dev/null || true
        wait "$stuck_pid" 2>/dev/null || true
    fi
    if t has-session -t day 2>/dev/null; then
        t send-keys -t day:console q 2>/dev/null || true
        for _ in $(seq 60); do
            t list-panes -t day:console -F '#{pane_current_command}' 2>/dev/null | grep -qv '^bash$' || break
            sleep 1
        done
        t kill-server 2>/dev/null || true
    fi
    rm -rf "$home"
}
trap cleanup EXIT

# The session's environment: its own XDG folders, the venv first on PATH, nothing of the caller's profile.
envs=(
    "HOME=$home" "XDG_CONFIG_HOME=$home/config" "XDG_DATA_HOME=$home/data" "XDG_STATE_HOME=$home/state"
    "XDG_CACHE_HOME=$home/cache" "PATH=$bin:/usr/local/bin:/usr/bin:/bin" "TERM=xterm-256color" "LANG=C.UTF-8"
    "PS1=\$ " "COLORTERM=truecolor" "HISTFILE=/dev/null"
)
shell="env -i ${envs[*]@Q} bash --noprofile --norc"

t new-session -d -s day -n console -x 80 -y 24 "$shell"
t set-option -t day -g default-size 80x24 >/dev/null
t new-window -d -t day -n cli "$shell"

# `run CMD...` in the cli window: clear, show the command, run it, then tell this script it ended.
t send-keys -t day:cli "run() { clear; printf '\$ %s\\n' \"\$*\"; \"\$@\"; tmux -L $sock wait-for -S ran; }" Enter
t send-keys -t day:cli "clear" Enter

shot() {  # shot WINDOW NAME: the window's screen as text (NAME.txt) and with its colours (NAME.ansi: cat it)
    t capture-pane -p -t "day:$1" > "$out/$2.txt"
    t capture-pane -p -e -t "day:$1" > "$out/$2.ansi"
    echo "  $2"
}
wait_text() {  # wait_text WINDOW TEXT SECONDS: until the screen shows TEXT
    for _ in $(seq "$(( $3 * 4 ))"); do
        t capture-pane -p -t "day:$1" | grep -qF -- "$2" && return 0
        sleep 0.25
    done
    echo "day-session: '$2' never showed in $1 within $3 s" >&2
    t capture-pane -p -t "day:$1" >&2
    return 1
}
keys() { t send-keys -t day:console "$@"; sleep 1; }
cli() {  # cli NAME CMD...: run a command in the cli window, save the screen once it ended
    local name=$1
    shift
    t send-keys -t day:cli "run $*" Enter
    timeout 120 tmux -L "$sock" wait-for ran
    sleep 0.3
    shot cli "$name"
}

echo "day session: screens in $out"
echo "the demo"
t send-keys -t day:console "kubiya-tui demo" Enter
wait_text console "done/m" 120
wait_text console "team-data" 60
sleep 12  # load arrives, workers heartbeat, charts have points
shot console 01-overview
keys w
shot console 02-workers
keys d
wait_text console "Drain worker" 10
shot console 03-drain-dialog
keys Escape
shot console 04-drain-cancelled
sleep 4  # the toast goes
keys Escape
keys i
wait_text console "worker start" 15
shot console 05-worker-command
keys Escape
keys "?"
shot console 06-help
keys End
shot console 07-help-bottom
keys Escape
keys p
sleep 8
shot console 08-paused-8s
keys p

echo "the CLI, next to it"
cli 10-top kubiya-tui --profile demo top
t send-keys -t day:cli "clear; kubiya-tui --profile demo top --watch" Enter
sleep 5
shot cli 11-top-watch-first
sleep 5
shot cli 12-top-watch-later
t send-keys -t day:cli C-c
sleep 1
cli 13-tasks-list kubiya-tui --profile demo tasks list team-data --status failed --limit 15
cli 14-tasks-list-wide-head bash -c "'kubiya-tui --profile demo tasks list team-data --status failed -o wide | head -5'"
cli 15-workers-list kubiya-tui --profile demo workers list
cli 16-check kubiya-tui --profile demo check
cli 17-bad-input bash -c "'kubiya-tui --profile demo check --max-error-rate abc; kubiya-tui --profile demo queues create Bad_Name; kubiya-tui --profile demo scale team-data -3; timeout 20 kubiya-tui --profile demo worker start --queue-id no-such-queue 2>&1 | tail -2'"
cli 18-help-flags bash -c "'kubiya-tui --help | head -21'"

echo "a stuck queue: a worker that heartbeats but never polls"
env -i "${envs[@]}" "$bin/python" "$repo/scripts/stuck_worker.py" --profile demo --tasks 20 > "$out/stuck.txt" 2>&1 &
stuck_pid=$!
sleep 45  # the oldest task waits past 30 s with nothing dispatched
keys Escape
keys Escape
shot console 20-stuck-overview
keys /
t send-keys -t day:console "stuck" Enter
sleep 1
keys Enter
shot console 21-stuck-detail
keys Escape
keys /
keys C-u
keys Escape
cli 22-stuck-top kubiya-tui --profile demo top
cli 23-stuck-check bash -c "'kubiya-tui --profile demo check; echo exit=\$?'"
kill "$stuck_pid" || true
wait "$stuck_pid" || true
stuck_pid=""

echo "quit, then an ephemeral demo and the profile after it"
keys q
for _ in $(seq 90); do
    t list-panes -t day:console -F '#{pane_current_command}' | grep -q '^bash$' && break
    sleep 1
done
shot console 24-demo-quit
cli 30-ephemeral-demo bash -c "'kubiya-tui demo --ephemeral --no-ui --seconds 5 --workers 0 --no-load 2>&1 | tail -4; echo; cat \"\$XDG_CONFIG_HOME/kubiya-tui/config.toml\"; kubiya-tui --profile demo queues list | head -3'"
echo "done: $(find "$out" -name '*.txt' | wc -l) screens in $out"
