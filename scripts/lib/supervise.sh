# The processes of a network (scripts/devnet, scripts/relaynet) by name, so
# one that dies is reported while the rest keep running, and can be started
# again by hand with the same settings.
#
# Each process NAME has, in $run_dir: NAME.sh (its environment and command,
# exactly as the network started it), NAME.pid, NAME.log (the path of its
# log) and, once it was seen dead, NAME.down. Reads run_dir; appends to
# pids and names.

# launch NAME LOG [VAR=VALUE...] -- CMD [ARGS...]
launch() {
  local name="$1" log="$2"
  shift 2
  local script="$run_dir/$name.sh"
  {
    echo '#!/usr/bin/env bash'
    echo "# $name, as the network started it: \`scripts/devnet restart $name\` runs it again."
    while [ "$1" != -- ]; do printf 'export %q\n' "$1"; shift; done
    shift
    printf 'exec'
    printf ' %q' "$@"
    printf ' >>%q 2>&1 </dev/null\n' "$log"
  } >"$script"
  chmod 700 "$script"
  echo "$log" >"$run_dir/$name.log"
  start_launched "$name"
  pids+=("$(cat "$run_dir/$name.pid")")
  names+=("$name (log: $log)")
}

# Starts NAME from its NAME.sh, in a session of its own (a Ctrl-C meant for
# the shell that restarted it does not reach it).
start_launched() {
  setsid bash "$run_dir/$1.sh" &
  echo $! >"$run_dir/$1.pid"
  rm -f "$run_dir/$1.down"
}

# Whether NAME runs.
launched_alive() {
  local pid
  pid="$(cat "$run_dir/$1.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# The names of the launched processes.
launched_names() {
  local f
  for f in "$run_dir"/*.sh; do
    [ -e "$f" ] && basename "$f" .sh
  done
}

# Reports each process that died since the last call (its last log lines
# and the command that starts it again); the rest keep running.
report_deaths() {
  local name
  for name in $(launched_names); do
    if ! launched_alive "$name" && [ ! -e "$run_dir/$name.down" ]; then
      touch "$run_dir/$name.down"
      echo "error: $name exited. Last log lines:" >&2
      tail -15 "$(cat "$run_dir/$name.log")" >&2
      echo "  the rest keep running; start it again with: scripts/devnet restart $name" >&2
    fi
  done
}

# Stops every launched process: SIGINT, then SIGKILL after 10 s.
stop_launched() {
  local name pid live=()
  for name in $(launched_names); do
    pid="$(cat "$run_dir/$name.pid" 2>/dev/null)" || continue
    kill -0 "$pid" 2>/dev/null && live+=("$pid")
  done
  [ ${#live[@]} -gt 0 ] || return 0
  kill -INT "${live[@]}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${live[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "${live[@]}" 2>/dev/null || true
}
