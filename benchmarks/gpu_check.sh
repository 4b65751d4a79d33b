#!/usr/bin/env bash
# The GPU checks of the kit in one run, for a machine with a CUDA GPU (Colab, or a lent one), from the
# repository's root: the GPU tests, the stacked benchmark with and without CUDA graphs, the paper
# estimates, and the LeNet figure's first round at full length. Figures and logs go to $OUT.
#
# Needs torch with CUDA, and ltkit's other dependencies (pip install -e .); where they cannot be
# downloaded, wheels in .whl/ are installed from there. The paper run reads Fashion-MNIST from
# data/fashion-mnist (the four IDX .gz files).
set -u
OUT=${OUT:-/tmp/ltkit-gpu-check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --find-links .whl ipywidgets mnist1d jupyter_client 2>&1 | tail -3
fi
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
run() { echo "== $*"; "$@" 2>&1 | tee -a "$OUT/log.txt"; }
run timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py
run timeout 100 python3 benchmarks/stacked.py --device cuda --models mlp,lenet300_100 --steps 500 --json "$OUT/stacked_graphs.json"
run env LTKIT_CUDA_GRAPHS=0 timeout 100 python3 benchmarks/stacked.py --device cuda --models mlp,lenet300_100 --steps 500 \
    --json "$OUT/stacked_eager.json"
run timeout 200 python3 benchmarks/stacked.py --device cuda --paper --paper-run 1 --json "$OUT/paper.json"
run timeout 100 python3 benchmarks/stacked.py --device cuda --models conv2,resnet20 --stacks 1,3,9 \
    --json "$OUT/stacked_conv.json"
