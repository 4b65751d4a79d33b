"""N networks trained as one stack against the same N one at a time: time per step, networks per second,
peak memory, for N = 1, 3, 9, 27 and the course's four architectures.

Random data of each dataset's shape (nothing to download). One at a time is measured on one network and
multiplied by N (training one network after another is N times one network); the stack is measured as
it is. "Networks/s" is how many networks of the class profile's length (MLP 3000 iterations, LeNet 5
epochs of Fashion-MNIST, Conv-2 10 and ResNet-20 20 epochs of CIFAR-10) each way trains per second.
Peak memory is CUDA's peak allocation on a GPU, and the process's peak resident size on a CPU (which only
grows, so each row shows the largest so far: the stacks are measured from small to large). Run:

    python benchmarks/stacked.py [--device cpu|cuda] [--models mlp,lenet300_100] [--stacks 1,3,9] [--json FILE]
    python benchmarks/stacked.py --paper [--device cuda]
    python benchmarks/stacked.py --paper-run 1 --device cuda

--paper estimates, from step and evaluation times measured here, what two of the papers' experiments cost
at full length on this device, one network at a time and stacked:
- Frankle & Carbin's LeNet-300-100 figure: 5 seeds, the dense network and 20 rounds of IMP with both
  controls, 50,000 iterations each, evaluated every 100 (stacks: the 5 dense networks, then each round's
  15 arms);
- Frankle et al.'s ResNet-20 instability curve: copies trained from 5 iterations k (0, 100, 500, 2000,
  5000), 3 pairs each, to iteration 62,400, evaluated every 100 (stacks: each k's 6 copies).
--paper-run R runs the LeNet figure itself, its dense networks and first R rounds at full length, and
extrapolates the whole figure from their time (on Fashion-MNIST, which is had offline).

On a GPU a stack's steps replay a CUDA graph, and one network alone trains as a stack of one
($LTKIT_CUDA_GRAPHS=0 measures them launched one by one); image convolutions compute in bfloat16
($LTKIT_MIXED_PRECISION=0: in float32).
"""

import argparse
import json
import resource
import time
from dataclasses import replace

import torch

from ltkit.engine.datasets import Splits, load_dataset
from ltkit.engine.models import build_model
from ltkit.engine.runtime import pick_device, set_cpu_threads
from ltkit.engine.stacked import Job, StackedNetwork, evaluate_stack, train_stack
from ltkit.engine.training import train
from ltkit.experiments.imp import imp_config, run_imps
from ltkit.experiments.profiles import training_recipe

ARCHITECTURES = {  # model: (dataset of its recipe, input shape, steps timed on a CPU)
    "mlp": ("mnist1d", (40,), 300),
    "lenet300_100": ("fashion-mnist", (1, 28, 28), 100),
    "conv2": ("cifar10", (3, 32, 32), 2),
    "resnet20": ("cifar10", (3, 32, 32), 2),
}


COLUMNS = (13, 4, 12, 12, 10, 12, 12, 10)


def random_splits(shape, device, n=5000, held_out=500):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=generator).to(device)
    y = torch.randint(0, 10, (n,), generator=generator).to(device)
    return Splits("random", x, y, x[:held_out], y[:held_out], x[:held_out], y[:held_out])


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def seconds_per_step(train_jobs, jobs, steps, device):
    """Seconds per step of `train_jobs(jobs)`, after a warm-up of a few steps."""
    train_jobs([replace(job, config=replace(job.config, iterations=3)) for job in jobs])
    synchronize(device)
    started = time.perf_counter()
    train_jobs(jobs)
    synchronize(device)
    return (time.perf_counter() - started) / steps


def peak_memory_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model_name, stacks, device, steps):
    dataset, shape, cpu_steps = ARCHITECTURES[model_name]
    steps = steps or (cpu_steps if device.type == "cpu" else 200)
    recipe = training_recipe(dataset, model_name, "class")
    config = replace(recipe, iterations=steps, eval_every=10**9, milestones=())
    data = random_splits(shape, device)

    def jobs(n):
        return [Job(build_model(model_name, shape, seed=s, device=device), config, data_seed=s) for s in range(n)]

    alone = seconds_per_step(
        lambda js: [train(j.model, data, j.config, progress=False) for j in js], jobs(1), steps, device
    )
    rows = []
    for n in stacks:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        stacked = seconds_per_step(lambda js: train_stack(js, data, progress=False), jobs(n), steps, device)
        rows.append(
            dict(
                model=model_name,
                networks=n,
                ms_per_step_stacked=1000 * stacked,
                ms_per_step_one_at_a_time=1000 * alone * n,
                speedup=alone * n / stacked,
                networks_per_s_stacked=n / (stacked * recipe.iterations),
                networks_per_s_one_at_a_time=1 / (alone * recipe.iterations),
                peak_memory_mb=peak_memory_mb(device),
            )
        )
        print(
            f"{model_name:<13}{n:>4}{rows[-1]['ms_per_step_stacked']:>12.2f}{rows[-1]['ms_per_step_one_at_a_time']:>12.2f}"
            f"{rows[-1]['speedup']:>9.2f}x{rows[-1]['networks_per_s_stacked']:>12.3f}"
            f"{rows[-1]['networks_per_s_one_at_a_time']:>12.3f}{rows[-1]['peak_memory_mb']:>10.0f}",
            flush=True,
        )
    return rows


LENET_FIGURE = dict(model="lenet300_100", shape=(1, 28, 28), seeds=5, rounds=20, iterations=50_000)
INSTABILITY_CURVE = dict(model="resnet20", shape=(3, 32, 32), ks=(0, 100, 500, 2000, 5000), pairs=3)


def step_and_eval_seconds(model_name, shape, n, device, steps):
    """(seconds per step, seconds per evaluation on 5,000 examples) of a stack of n, by the paper recipe;
    for n=1 one network alone with training.train."""
    recipe = training_recipe(ARCHITECTURES[model_name][0], model_name, "paper")
    config = replace(recipe, iterations=steps, eval_every=10**9, milestones=())
    data = random_splits(shape, device, n=10_000, held_out=5000)
    jobs = [Job(build_model(model_name, shape, seed=s, device=device), config, data_seed=s) for s in range(n)]
    if n == 1:
        step = seconds_per_step(lambda js: train(js[0].model, data, js[0].config, progress=False), jobs, steps, device)
    else:
        step = seconds_per_step(lambda js: train_stack(js, data, progress=False), jobs, steps, device)
    net = StackedNetwork([job.model for job in jobs])
    evaluate_stack(net, data.x_val, data.y_val)
    synchronize(device)
    started = time.perf_counter()
    evaluate_stack(net, data.x_val, data.y_val)
    synchronize(device)
    return step, time.perf_counter() - started


def paper_costs(device, steps):
    """Hours each paper experiment takes on `device`: one network at a time, and stacked."""
    lenet, resnet = LENET_FIGURE, INSTABILITY_CURVE
    t = {n: step_and_eval_seconds(lenet["model"], lenet["shape"], n, device, steps) for n in (1, 5, 15)}
    evals = lenet["iterations"] // 100
    runs = lenet["seeds"] * (1 + 3 * lenet["rounds"])
    alone = runs * (lenet["iterations"] * t[1][0] + evals * t[1][1])
    stacked = (1 * (lenet["iterations"] * t[5][0] + evals * t[5][1])) + lenet["rounds"] * (
        lenet["iterations"] * t[15][0] + evals * t[15][1]
    )
    rows = [dict(experiment="LeNet-300-100 figure", one_at_a_time_h=alone / 3600, stacked_h=stacked / 3600)]
    print_cost(rows[-1])
    steps = max(1, steps // 20)
    t = {n: step_and_eval_seconds(resnet["model"], resnet["shape"], n, device, steps) for n in (1, 2 * resnet["pairs"])}
    lengths = [62_400 - k for k in resnet["ks"]]
    alone = sum(2 * resnet["pairs"] * (n * t[1][0] + n // 100 * t[1][1]) for n in lengths)
    stacked = sum(n * t[2 * resnet["pairs"]][0] + n // 100 * t[2 * resnet["pairs"]][1] for n in lengths)
    rows.append(dict(experiment="ResNet-20 instability curve", one_at_a_time_h=alone / 3600, stacked_h=stacked / 3600))
    print_cost(rows[-1])
    return rows


def paper_lenet_run(device, rounds):
    """Frankle & Carbin's LeNet-300-100 figure at full length (5 seeds, both controls, 50,000 iterations a
    run, evaluated every 100), its dense networks and first `rounds` rounds measured with run_imps, and the
    whole figure (20 rounds) extrapolated from the rounds' mean time. Fashion-MNIST stands in for MNIST
    (same shapes and sizes; MNIST needs a download)."""
    data = load_dataset("fashion-mnist", device=device)
    configs = [imp_config(data.name, "lenet300_100", "paper", seed=s, rounds=rounds) for s in range(5)]
    synchronize(device)
    started = time.perf_counter()
    results = run_imps(configs, data=data, cache=False, progress=False)
    synchronize(device)
    seconds = time.perf_counter() - started
    row = dict(
        experiment=f"LeNet-300-100 figure, dense + {rounds} round(s) run",
        measured_s=seconds,
        figure_estimate_min=seconds / (rounds + 1) * (LENET_FIGURE["rounds"] + 1) / 60,
        rounds=[  # per round and arm, each seed's (early-stop, final) test accuracy
            dict(
                weights_remaining=r.weights_remaining,
                **{
                    arm: [
                        (s.rounds[r.round].results[arm].test_acc, s.rounds[r.round].results[arm].final_test_acc)
                        for s in results
                    ]
                    for arm in r.results
                },
            )
            for r in results[0].rounds
        ],
    )
    print(
        f"{row['experiment']}: {seconds:.0f} s measured; the whole figure about {row['figure_estimate_min']:.1f} min",
        flush=True,
    )
    return row


def print_cost(row):
    hours = f"{row['one_at_a_time_h']:>10.2f} h one at a time{row['stacked_h']:>10.2f} h stacked"
    print(f"{row['experiment']:<30}{hours}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--models", default=",".join(ARCHITECTURES))
    parser.add_argument("--stacks", default="1,3,9,27")
    parser.add_argument(
        "--steps", type=int, default=None, help="steps timed (default: per model on a CPU, 200 on a GPU)"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--paper", action="store_true", help="estimate two paper experiments' cost instead")
    parser.add_argument(
        "--paper-run", type=int, default=0, metavar="ROUNDS", help="run the LeNet figure for ROUNDS rounds, and time it"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    threads = set_cpu_threads(args.threads)
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {threads} thread(s)"
    print(f"device: {device} ({name})")
    if args.paper or args.paper_run:
        rows = paper_costs(device, args.steps or (100 if device.type == "cpu" else 500)) if args.paper else []
        rows += [paper_lenet_run(device, args.paper_run)] if args.paper_run else []
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(device=name, paper=rows), f, indent=1)
        return
    header = ("model", "N", "ms/step", "one by one", "speed-up", "nets/s", "one by one", "peak MB")
    print("".join(f"{h:<13}" if i == 0 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(header, COLUMNS))))
    rows = []
    for model_name in args.models.split(","):
        rows += measure(model_name, [int(n) for n in args.stacks.split(",")], device, args.steps)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=name, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
