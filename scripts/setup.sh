#!/usr/bin/env bash
# Create the virtual environment .venv in the repository root and install
# bumpnet-root into it with the ROOT, test and events extras.
#
# torch is pinned through constraints.txt: on machines whose pip finds the CPU
# build of torch 2.13.0 locally this avoids downloading a CUDA build. Set
# BUMPNET_CONSTRAINTS=/dev/null to install without the pin.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
constraints="${BUMPNET_CONSTRAINTS:-constraints.txt}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c "$constraints" -e '.[root,test,events]'
.venv/bin/python -c 'import bumpnet_root, torch; print("bumpnet-root", bumpnet_root.__version__, "with torch", torch.__version__)'
