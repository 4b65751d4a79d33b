"""ltkit side by side with open_lth (Frankle's own framework) on one lottery-ticket job, same settings:
LeNet-300-100 on Fashion-MNIST, SGD at 0.1 without momentum, batch 128, 2 epochs (938 iterations) a
level, the dense level and 4 levels of global 20% pruning (the output layer left out, as open_lth's
default leaves it), no controls, one CPU thread each. This script runs ltkit's half and prints its time;
open_lth's half runs from a copy of open_lth outside this repository (its code never enters ours):

    git clone https://github.com/facebookresearch/open_lth /tmp/open_lth && cd /tmp/open_lth
    # two fixes for today's torch and numpy (open_lth is from 2020):
    # in models/base.py, `class DistributedDataParallel(Model, torch.nn.parallel.DistributedDataParallel):`
    # becomes `class DistributedDataParallel(Model):` (unused on one machine; torch 2 refuses its MRO)
    grep -rl "np.product" . | xargs sed -i 's/np\\.product(/np.prod(/g'
    # Fashion-MNIST where open_lth looks for MNIST (same IDX format and sizes; torchvision reads it as MNIST):
    mkdir -p ~/open_lth_datasets/mnist/MNIST/raw && cd ~/open_lth_datasets/mnist/MNIST/raw
    for f in /usr/share/datasets/fashion-mnist/*.gz; do zcat $f > $(basename $f .gz); done
    cd /tmp/open_lth && time OMP_NUM_THREADS=1 python open_lth.py lottery \\
        --default_hparams=mnist_lenet_300_100 --training_steps=2ep --levels=4 --quiet

    python benchmarks/open_lth.py [--threads 1] [--eval-every 469]

The two do the same training steps, not the same bookkeeping: open_lth evaluates on the test set at
every epoch boundary and saves checkpoints; ltkit evaluates on 5,000 held-out
validation examples every 1% of training (for the early-stop iteration), the test set after it, and
caches every level (here to a temporary folder); `--eval-every 469` validates once an epoch instead, as
open_lth tests. open_lth trains on all 60,000 images; ltkit on 55,000
(5,000 are its validation set), for the same 938 iterations (open_lth's two epochs of 469 batches, the
last of each partial).
"""

import argparse
import os
import tempfile
import time

from ltkit.engine.datasets import load_dataset
from ltkit.engine.runtime import set_cpu_threads
from ltkit.engine.training import TrainConfig
from ltkit.experiments.imp import IMPConfig, run_imp

ITERATIONS = 2 * 469  # open_lth's 2 epochs of 60,000 images in batches of 128 (the last one partial)


def ltkit_config(eval_every):
    train = TrainConfig(
        optimizer="sgd", lr=0.1, momentum=0.0, batch_size=128, iterations=ITERATIONS, eval_every=eval_every
    )
    return IMPConfig(
        "fashion-mnist",
        "lenet300_100",
        train,
        rates={"fc": 0.2, "output": 0.0},
        scope="global",
        rounds=4,
        controls=(),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--eval-every", type=int, default=ITERATIONS // 100, help="iterations between validations (469: per epoch)"
    )
    args = parser.parse_args()
    set_cpu_threads(args.threads)
    data = load_dataset("fashion-mnist")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["LTKIT_DATA"] = cache  # a cold cache, thrown away after
        started = time.perf_counter()
        result = run_imp(ltkit_config(args.eval_every), data=data, progress=False)
        seconds = time.perf_counter() - started
    accuracies = ", ".join(f"{100 * r.results['ticket'].final_test_acc:.1f}" for r in result.rounds)
    print(f"ltkit: {seconds:.1f} s for 5 levels of {ITERATIONS} iterations; final test accuracy by level: {accuracies}")


if __name__ == "__main__":
    main()
