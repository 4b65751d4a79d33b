#!/usr/bin/env bash
# The GPU checks of the kit in one run, for a machine with a CUDA GPU (Colab, or a lent one), from the
# repository's root: the GPU tests; one network alone against a stack of one and of 15, with and without
# CUDA graphs; the convolutional networks in bfloat16 and in float32; the paper estimates; and the LeNet
# figure's dense networks and first two rounds at full length. Figures and logs go to $OUT. A few minutes
# on an H200.
#
# Needs torch with CUDA, and ltkit's other dependencies (pip install -e .); where they cannot be
# downloaded, wheels in .whl/ are installed from there. The paper run reads Fashion-MNIST from
# data/fashion-mnist (the four IDX .gz files).
set -u
OUT=${OUT:-/tmp/ltkit-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --find-links .whl ipywidgets mnist1d jupyter_client submitit 2>&1 | tail -3
fi
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
run() { echo "== $*" | tee -a "$OUT/log.txt"; "$@" 2>&1 | tee -a "$OUT/log.txt"; }
bench="python3 benchmarks/stacked.py --device cuda"
run timeout 170 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py
run timeout 45 $bench --models mlp,lenet300_100 --stacks 1,15 --steps 500 --json "$OUT/stacked_graphs.json"
run env LTKIT_CUDA_GRAPHS=0 timeout 45 $bench --models mlp,lenet300_100 --stacks 1 --steps 300 \
    --json "$OUT/stacked_eager.json"
run timeout 60 $bench --models conv2,resnet20 --stacks 1,6 --steps 100 --json "$OUT/conv_bf16.json"
run env LTKIT_MIXED_PRECISION=0 timeout 60 $bench --models conv2,resnet20 --stacks 1,6 --steps 100 \
    --json "$OUT/conv_fp32.json"
run timeout 90 $bench --paper --steps 1000 --json "$OUT/paper.json"
run timeout 150 $bench --paper-run 2 --json "$OUT/paper_run.json"
