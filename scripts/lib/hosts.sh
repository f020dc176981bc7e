# Starts the network's storage hosts (sourced by scripts/devnet and
# scripts/relaynet): `masp-host` for the dev accounts //Bob, //Charlie, //Dave,
# //Eve, the i-th on 127.0.0.1:$host_port+i, registered with a deposit and an
# offer of i+1 mMASP/GiB/epoch, against the node at $1, each launched as
# `host-<name>` (scripts/lib/supervise.sh). Reads host_bin, n_hosts,
# host_port, data_dir, log_dir, run_dir; appends to pids and names; sets
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
    local settings=(MASP_HOST_LISTEN="127.0.0.1:$port" MASP_HOST_PUBLIC_URL="http://127.0.0.1:$port"
      MASP_HOST_NODE_URL="$node_url" MASP_HOST_PRICE="$(printf '0.%03d' $(( i + 1 )))")
    step "host //$name: register, deposit, offer $(( i + 1 )) mMASP/GiB/epoch (log: $log_dir/host-$lower.log)"
    env "${settings[@]}" "$host_bin" register --config "$dir/host.toml" >>"$log_dir/host-$lower.log" 2>&1 || {
      echo "error: masp-host register failed for //$name; last log lines:" >&2
      tail -20 "$log_dir/host-$lower.log" >&2
      exit 1
    }
    launch "host-$lower" "$log_dir/host-$lower.log" "${settings[@]}" -- "$host_bin" run --config "$dir/host.toml"
    echo "http://127.0.0.1:$port/health" >"$run_dir/host-$lower.url"
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
      kill -0 "${pids[-1]}" 2>/dev/null || { echo "error: masp-host //$name exited; last log lines:" >&2; tail -20 "$log_dir/host-$lower.log" >&2; exit 1; }
      sleep 0.1
    done
    hosts_msg+="$(printf '  %-16s http://127.0.0.1:%s  (/health, /metrics)' "host //$name:" "$port")"$'\n'
  done
}

# Starts the network's proxies: `masp-proxy` for //Alice (and //Ferdie's
# neighbour //Eve when it is not a host), the i-th on 127.0.0.1:$proxy_port+i,
# registered (10 MASP held) at 0.01 MASP per GiB relayed, against the node at
# $1, each launched as `proxy-<name>`. Reads proxy_bin, n_proxies,
# proxy_port, n_hosts, data_dir, log_dir, run_dir; appends to pids and
# names; appends to hosts_msg.
start_proxies() {
  local node_url="$1"
  local proxy_names=(Alice Eve)
  for i in $(seq 0 $((n_proxies - 1))); do
    local name="${proxy_names[$i]}"
    if [ "$name" = Eve ] && [ "$n_hosts" -ge 4 ]; then
      echo "error: //Eve runs a host already: --proxies 2 needs --hosts 3 or fewer" >&2
      exit 2
    fi
    local lower
    lower="$(echo "$name" | tr 'A-Z' 'a-z')"
    local dir="$data_dir/proxies/$lower"
    local port=$((proxy_port + i))
    mkdir -p "$dir"
    [ -f "$dir/proxy.toml" ] || "$proxy_bin" init --config "$dir/proxy.toml" >/dev/null
    [ -f "$dir/proxy.key" ] || (umask 077; echo "//$name" > "$dir/proxy.key")
    # Hosts are on 127.0.0.1 here: a dev chain's proxies may reach them.
    local settings=(MASP_PROXY_LISTEN="127.0.0.1:$port" MASP_PROXY_PUBLIC_URL="http://127.0.0.1:$port"
      MASP_PROXY_NODE_URL="$node_url" MASP_PROXY_PRICE="0.01" MASP_PROXY_ALLOW_PRIVATE_TARGETS=true)
    step "proxy //$name: register at 0.01 MASP/GiB relayed (log: $log_dir/proxy-$lower.log)"
    env "${settings[@]}" "$proxy_bin" register --config "$dir/proxy.toml" >>"$log_dir/proxy-$lower.log" 2>&1 || {
      echo "error: masp-proxy register failed for //$name; last log lines:" >&2
      tail -20 "$log_dir/proxy-$lower.log" >&2
      exit 1
    }
    launch "proxy-$lower" "$log_dir/proxy-$lower.log" "${settings[@]}" -- "$proxy_bin" run --config "$dir/proxy.toml"
    echo "http://127.0.0.1:$port/v1/info" >"$run_dir/proxy-$lower.url"
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$port/v1/info" >/dev/null 2>&1 && break
      kill -0 "${pids[-1]}" 2>/dev/null || { echo "error: masp-proxy //$name exited; last log lines:" >&2; tail -20 "$log_dir/proxy-$lower.log" >&2; exit 1; }
      sleep 0.1
    done
    hosts_msg+="$(printf '  %-16s http://127.0.0.1:%s  (/v1/info, /metrics)' "proxy //$name:" "$port")"$'\n'
  done
}
