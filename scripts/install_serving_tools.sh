#!/usr/bin/env bash
# Installs the local/VM canary tools from Debian's packages: haproxy (router, runtime API, Prometheus
# exporter), prometheus (metrics for the analysis) and wrk (load generator for benchmarks/serving.py).
# Debian's packages start system services on install; tests and the demo run their own instances on free
# ports, so the system ones are stopped and disabled here to keep the ports and CPU free.
set -euo pipefail
PACKAGES=(haproxy prometheus wrk)
SERVICES=(haproxy prometheus prometheus-node-exporter)

missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -eq 0 ]; then echo "install_serving_tools: ${PACKAGES[*]} already installed"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_serving_tools: not root; run:" >&2
  echo "  sudo bash $0" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${PACKAGES[@]}"

# Stop whatever the packages started: with systemd through systemctl, in containers without it through
# the init scripts (policy-rc.d may already have prevented the start).
for s in "${SERVICES[@]}"; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$s" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$s" ]; then
    "/etc/init.d/$s" stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$s" disable >/dev/null 2>&1 || true
  fi
done

for b in haproxy prometheus promtool wrk; do
  printf '  %-10s %s\n' "$b" "$(command -v "$b" || echo MISSING)"
done
haproxy -vv 2>/dev/null | grep -o 'USE_PROMEX' >/dev/null && echo "  haproxy has the Prometheus exporter (USE_PROMEX)"
