#!/usr/bin/env bash
# Install everything the workflow and the tests need into ./.venv (idempotent; safe to rerun),
# the optional SAM 2 tracker included.
#   bash install.sh            # Python environment (+ Debian's Chromium for the review tests, when root)
# torch and torchvision are installed together first, pinned to a matching pair.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
fi
# SAM 2 (the optional `sam2` extra) is a source distribution whose build imports torch: build it
# against the torch above (no isolated build environment, which would fetch another torch) and
# without its optional CUDA extension, so it installs on a CPU-only machine.
# Without build isolation the venv itself must hold the build backend (Python >= 3.12 venvs have none).
if ! .venv/bin/python -c "import sam2" 2>/dev/null; then
    .venv/bin/pip install --quiet "setuptools>=70.1"
    SAM2_BUILD_CUDA=0 .venv/bin/pip install --quiet --no-build-isolation "sam2==1.1.0"
fi
.venv/bin/pip install --quiet -e ".[test,sam2]"

# The reviewer gallery's tests drive a real headless Chromium (Debian's package, never a download).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "install.sh: /usr/bin/chromium not found; browser tests will skip (install Debian's chromium)" >&2
    fi
fi
echo "install.sh: environment ready in .venv"
