"""The sparsest matching subnetwork of each arm on each task of lesson 11 (the README's table).

    python benchmarks/pretrained_matching.py --profile class --seeds 200,205

Per lesson seed S the lesson's own runs (ltkit.pretrained_seeds(profile, seed=S): its sweep seeds and its
matching seeds, trained or loaded from the run cache). An arm matches at a round when its final test
accuracy, the mean over the sweep seeds, reaches the dense fine-tuning's mean less one standard deviation
over the matching seeds (ltkit.pretrained_matching). Printed per task and arm: the sparsest round where it
matches, as weights remaining, on each seed ("none": not even at the first round).
"""

import argparse

import ltkit
from ltkit.experiments.profiles import PROFILES

NAMES = {
    "ticket": "pre-trained ticket (IMP rewound to the pre-trained weights)",
    "random_mask": "random mask on the pre-trained weights",
    "reinit": "IMP's mask on fresh weights",
    "random_init": "IMP from a random initialisation",
    "stdlib_mask": "the mask IMP found on stdlib",
    "heldout-lm_mask": "heldout-lm's mask",
}


def sparsest_matching(sweeps, dense, task):
    """{line: the smallest weights remaining among its pruned rounds that match, or None}."""
    matches = ltkit.pretrained_matching(dense, task)
    found = {}
    for name, line in ltkit.pretrained_across_seeds(sweeps, task).items():
        matching = [
            kept for r, (kept, acc) in enumerate(zip(line["weights_remaining"], line["mean"])) if r and matches(acc)
        ]
        found[name] = min(matching) if matching else None
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, required=True)
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], required=True)
    args = parser.parse_args()
    per_seed = {}
    for seed in args.seeds:
        sweeps, dense = ltkit.pretrained_seeds(args.profile, seed=seed)
        per_seed[seed] = {task: sparsest_matching(sweeps, dense, task) for task in sweeps[0].tasks}
    tasks = list(per_seed[args.seeds[0]])
    print(
        f"Sparsest matching subnetwork, weights remaining ({args.profile}, seeds {', '.join(map(str, args.seeds))})\n"
    )
    print("| arm | " + " | ".join(tasks) + " |")
    print("|---|" + "---|" * len(tasks))
    for name, words in NAMES.items():
        cells = []
        for task in tasks:
            found = [per_seed[seed][task].get(name, "-") for seed in args.seeds]
            cells.append(", ".join("-" if f == "-" else "none" if f is None else f"{100 * f:.0f}%" for f in found))
        print(f"| {words} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
