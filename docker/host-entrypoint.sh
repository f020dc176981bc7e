#!/bin/sh
# masp-host in a container: writes /data/host.toml on first start (settings
# come from MASP_HOST_* variables, see `masp-host init`), takes the account's
# secret from $MASP_HOST_SURI (dev chains: //Bob ...) or a mounted
# /data/host.key, registers the host on chain (deposit and offer; retried
# until the node answers), then runs the daemon in the foreground.
set -eu
cd "${MASP_HOST_DATA:-/data}"
[ -f host.toml ] || masp-host init --config host.toml >/dev/null
if [ ! -f host.key ]; then
  if [ -z "${MASP_HOST_SURI:-}" ]; then
    echo "error: no /data/host.key and no MASP_HOST_SURI: give the host account's secret" >&2
    exit 1
  fi
  (umask 077; printf '%s\n' "$MASP_HOST_SURI" > host.key)
fi
tries=0
until masp-host register --config host.toml; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "error: could not register with the chain at ${MASP_HOST_NODE_URL:-the configured node} after 60 tries" >&2
    exit 1
  fi
  sleep 2
done
exec masp-host run --config host.toml
