#!/usr/bin/env bash
# The device checks of issue 17, as one script for a session that is lent a GPU (about 6 minutes
# on an H200 once the virtual environment is there): our training loop against a bare PyTorch
# loop with AMP on EfficientNet-B0 and ResNet50 (published patch lengths), the input pipeline's
# crops/s, and the mel front end's audio-s/s on the GPU. Prints the load average first; every
# benchmark prints its own reference next to our figure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
uptime
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
$PY benchmarks/bench_train.py --device cuda --batch-size 128 --steps 30 --frames published \
    --backbones efficientnet_b0,resnet50 --repeats 2
$PY benchmarks/bench_train.py --loader-only --batch-size 128 --repeats 2 --tracks 512
$PY benchmarks/bench_features.py --tracks 32 --seconds 60 --workers 8 --mel torch --device cuda --repeats 2
