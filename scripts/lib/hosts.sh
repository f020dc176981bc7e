# Starts the network's storage hosts (sourced by scripts/devnet and
# scripts/relaynet): `masp-host` for the dev accounts //Bob, //Charlie, //Dave,
# //Eve, the i-th on 127.0.0.1:$host_port+i, registered with a deposit and an
# offer of i+1 mMASP/GiB/epoch, against the node at $1. Reads host_bin,
# n_hosts, host_port, data_dir, log_dir; appends to pids and names; sets
# hosts_msg (the lines to print).
start_hosts() {
  local node_url="$1"
  local host_names=(Bob Charlie Dave Eve)
  hosts_msg=""
  for i in $(seq 0 $((n_hosts - 1))); do
    local name="${host_names[$i]}"
    local lower
    lower="$(echo "$name" | tr 'A-Z' 'a-z')"
    local dir="$data_dir/hosts/$lower"
    local port=$((host_port + i))
    mkdir -p "$dir"
    [ -f "$dir/host.toml" ] || "$host_bin" init --config "$dir/host.toml" >/dev/null
    # Dev accounts only: the secret URI of a well-known dev key.
    [ -f "$dir/host.key" ] || (umask 077; echo "//$name" > "$dir/host.key")
    export MASP_HOST_LISTEN="127.0.0.1:$port" MASP_HOST_PUBLIC_URL="http://127.0.0.1:$port" \
      MASP_HOST_NODE_URL="$node_url" MASP_HOST_PRICE="$(( (i + 1) * 1000000000 ))"
    step "host //$name: register, deposit, offer $(( i + 1 )) mMASP/GiB/epoch (log: $log_dir/host-$lower.log)"
    "$host_bin" register --config "$dir/host.toml" >>"$log_dir/host-$lower.log" 2>&1 || {
      echo "error: masp-host register failed for //$name; last log lines:" >&2
      tail -20 "$log_dir/host-$lower.log" >&2
      exit 1
    }
    "$host_bin" run --config "$dir/host.toml" >>"$log_dir/host-$lower.log" 2>&1 &
    pids+=($!)
    names+=("masp-host //$name (log: $log_dir/host-$lower.log)")
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
      kill -0 "${pids[-1]}" 2>/dev/null || { echo "error: masp-host //$name exited; last log lines:" >&2; tail -20 "$log_dir/host-$lower.log" >&2; exit 1; }
      sleep 0.1
    done
    hosts_msg+="$(printf '  %-16s http://127.0.0.1:%s  (/health, /metrics)' "host //$name:" "$port")"$'\n'
  done
  unset MASP_HOST_LISTEN MASP_HOST_PUBLIC_URL MASP_HOST_NODE_URL MASP_HOST_PRICE
}
