#!/usr/bin/env bash
# Install microseg (editable, from this checkout) and everything it needs into the current Python environment.
#
#   bash scripts/install.sh          # segment, train, evaluate, export (ONNX Runtime included)
#   bash scripts/install.sh tests    # the same plus the test tools
#
# torch and torchvision come from the package registry as a matching pair. A machine-local CPU-only torch wheel
# (picked up through pip's find-links) breaks torchvision's compiled operators, so pip's configuration files are
# bypassed for that one step; it is skipped when a working pair is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH=${MICROSEG_TORCH:-torch==2.13.0}
TORCHVISION=${MICROSEG_TORCHVISION:-torchvision==0.28.0}

if ! "$PYTHON" -c "import torch, torchvision.ops as o; o.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)" 2>/dev/null; then
    echo "installing $TORCH and $TORCHVISION from the package registry"
    env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "$PYTHON" -m pip install --quiet "$TORCH" "$TORCHVISION"
fi
EXTRAS="onnx${1:+,$1}"
"$PYTHON" -m pip install --quiet -e ".[$EXTRAS]"
"$PYTHON" -c "import microseg, torchvision.ops; print('microseg', microseg.__version__, 'installed')"
