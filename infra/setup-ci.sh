#!/usr/bin/env bash
# System packages the tests use: Debian's PyTorch/ONNX/SciPy only regenerate reference fixtures (not needed to
# run tests); Chromium drives the edge page test.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "setup-ci: missing ${need[*]} (install with apt-get)" >&2
  fi
fi
