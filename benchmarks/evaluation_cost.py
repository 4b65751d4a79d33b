"""What validating costs a run: one LeNet-300-100 run evaluated 100 times, 25 times and once.

    python benchmarks/evaluation_cost.py [--profile ci] [--threads 1]

Each run trains the same network from the same seed on the same batches (evaluating draws no random
numbers; the profiles validate a shortened run 25 times), so the final test accuracies must agree
exactly: the script checks that they do. It prints the seconds of each run side by side, and the
early-stop iteration each count finds.
"""

import argparse
import time
from dataclasses import replace

import torch

from ltkit.engine.datasets import load_dataset
from ltkit.engine.models import build_model
from ltkit.engine.runtime import set_cpu_threads
from ltkit.engine.training import train
from ltkit.experiments.profiles import PROFILES, training_recipe


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES[:2], default="ci")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_cpu_threads(args.threads)
    data = load_dataset("fashion-mnist", device="cpu")
    recipe = training_recipe("fashion-mnist", "lenet300_100", args.profile)
    print(f"LeNet-300-100, Fashion-MNIST, {args.profile}: {recipe.iterations} iterations, {args.threads} thread(s)")
    finals = set()
    for evaluations in (100, 25, 1):
        config = replace(recipe, eval_every=max(1, recipe.iterations // evaluations))
        torch.manual_seed(0)
        model = build_model("lenet300_100", data.input_shape, seed=0)
        started = time.perf_counter()
        result = train(model, data, config, progress=False)
        seconds = time.perf_counter() - started
        finals.add(result.final_test_acc)
        print(
            f"  {evaluations:>3} evaluations: {seconds:5.2f} s, early stop at iteration "
            f"{result.early_stop_iter}, final test accuracy {100 * result.final_test_acc:.2f}%"
        )
    assert len(finals) == 1, f"evaluating changed training: final accuracies {sorted(finals)}"
    print("final test accuracy the same at every count: evaluating changes nothing in training")


if __name__ == "__main__":
    main()
