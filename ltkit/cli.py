"""The `ltkit` command: the experiments of the course, headless, for precomputing and for scripts.

    ltkit imp --dataset mnist1d --model mlp            # a lottery-ticket sweep and its table
    ltkit train --dataset fashion-mnist --model lenet300_100 --epochs 2
    ltkit datasets                                     # which datasets are here, and where
    ltkit cache export runs.tar.gz                     # every cached run in one file (ltkit cache import it)
    ltkit instability --dataset mnist1d --model mlp --rewind-iters 0,100,500   # linear mode connectivity
    ltkit rewinding                                                      # late rewinding, lesson 05's experiment
    ltkit curve --dataset fashion-mnist --model lenet300_100             # a Bezier curve between two networks
    ltkit align --dataset fashion-mnist --model lenet300_100             # the line, before and after weight matching
    ltkit prune-at-init --dataset mnist1d --model mlp                    # SNIP, GraSP, SynFlow against IMP
    ltkit fge --dataset fashion-mnist --model lenet300_100               # fast geometric ensembling

Results go through the run cache (data/runs), so the same command again returns at once and an
interrupted sweep resumes where it stopped. A mistake in the arguments prints one line and exits with 2.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from ltkit.engine.datasets import DATASETS, available_datasets, load_dataset
from ltkit.engine.models import MODELS, build_model
from ltkit.engine.runtime import setup
from ltkit.engine.training import train
from ltkit.errors import LtkitError
from ltkit.experiments.align import run_alignment
from ltkit.experiments.at_init import CHECKS, prune_at_init_config, run_prune_at_init
from ltkit.experiments.curves import CURVES, curve_config, run_curve
from ltkit.experiments.fge import fge_config, run_fge
from ltkit.experiments.imp import ARMS, imp_config, run_imp
from ltkit.experiments.instability import instability_config, run_instability
from ltkit.experiments.profiles import PROFILES, training_recipe
from ltkit.experiments.rewinding import rewinding_config, run_rewinding
from ltkit.store.archive import export_runs, import_runs


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (and exit code 2), not a usage block."""

    def error(self, message):
        self.exit(2, f"ltkit: error: {message} (see 'ltkit {self.prog.split()[-1]} --help')\n")


def fraction(text):
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, got {text}")
    return value


def non_negative(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def positive(text):
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def iteration_list(text):
    try:
        values = [int(value) for value in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be iterations separated by commas, like 0,100,500; got {text}"
        ) from None
    if any(value < 0 for value in values):
        raise argparse.ArgumentTypeError(f"iterations must be 0 or more, got {text}")
    return values


def add_common(parser, cached=True):
    parser.add_argument(
        "--dataset", required=True, choices=list(DATASETS), metavar="D", help=f"one of: {', '.join(DATASETS)}"
    )
    parser.add_argument(
        "--model", required=True, choices=list(MODELS), metavar="M", help=f"one of: {', '.join(MODELS)}"
    )
    parser.add_argument(
        "--profile", choices=PROFILES, default=None, help="run size: ci, class (default, or $LTKIT_PROFILE) or paper"
    )
    parser.add_argument("--epochs", type=positive, help="passes over the training set per run (default: the profile's)")
    parser.add_argument("--seed", type=non_negative, default=0, help="initialisation and data-order seed")
    parser.add_argument("--device", help="cpu or cuda (default: a GPU when there is one)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    if cached:
        parser.add_argument("--no-cache", action="store_true", help="recompute everything; read and write no cache")


def build_parser():
    parser = OneLineParser(prog="ltkit", description="Lottery-ticket experiments from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    imp = commands.add_parser("imp", help="iterative magnitude pruning with rewinding, and its controls")
    add_common(imp)
    imp.add_argument("--rounds", type=non_negative, help="pruning rounds after the dense run (default: the profile's)")
    imp.add_argument(
        "--rate",
        type=fraction,
        help="fraction of remaining weights pruned per round in every layer (default: the paper's rates)",
    )
    imp.add_argument(
        "--rewind-iter",
        "--rewind",  # the name before 0.2
        type=non_negative,
        default=0,
        metavar="K",
        dest="rewind_iter",
        help="rewind to iteration K (default 0)",
    )
    imp.set_defaults(run=command_imp)

    tr = commands.add_parser("train", help="train one dense network and report its accuracy")
    add_common(tr, cached=False)
    tr.set_defaults(run=command_train)

    inst = commands.add_parser(
        "instability", help="the error barrier between copies of a network trained on from iteration k"
    )
    add_common(inst)
    inst.add_argument(
        "--rewind-iters",
        "--rewind",  # the name before 0.2
        type=iteration_list,
        required=True,
        metavar="K1,K2,...",
        dest="rewind_iters",
        help="iterations k at which the copies split",
    )
    inst.add_argument(
        "--weights-remaining",
        "--sparsity",  # the name before 0.2
        type=fraction,
        metavar="F",
        dest="weights_remaining",
        help="also the IMP ticket keeping about this fraction of the weights, and its two controls",
    )
    inst.add_argument("--pairs", type=positive_int, help="pairs of copies per k (default: the profile's)")
    inst.set_defaults(run=command_instability)

    curve = commands.add_parser("curve", help="a low-error curve between two independently trained networks")
    add_common(curve)
    curve.add_argument("--kind", choices=list(CURVES), default="bezier", help="the curve's shape (default bezier)")
    curve.set_defaults(run=command_curve)

    align = commands.add_parser(
        "align", help="the line between two independent networks, before and after aligning their hidden units"
    )
    add_common(align)
    align.set_defaults(run=command_align)

    at_init = commands.add_parser(
        "prune-at-init", help="SNIP, GraSP, SynFlow, magnitude and random pruning at initialisation against IMP"
    )
    add_common(at_init)
    at_init.add_argument(
        "--rounds", type=iteration_list, help="IMP rounds whose sparsities are compared, like 2,5,8,10 (the default)"
    )
    at_init.set_defaults(run=command_prune_at_init)

    rewinding = commands.add_parser(
        "rewinding", help="late rewinding: IMP rewound to k=0 against an early k, matching and stability"
    )
    rewinding.add_argument(
        "--profile", choices=PROFILES, default=None, help="run size: ci, class (default, or $LTKIT_PROFILE) or paper"
    )
    rewinding.add_argument("--seed", type=non_negative, default=0, help="initialisation and data-order seed")
    rewinding.add_argument("--device", help="cpu or cuda (default: a GPU when there is one)")
    rewinding.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    rewinding.add_argument("--no-cache", action="store_true", help="recompute everything; read and write no cache")
    rewinding.set_defaults(run=command_rewinding)

    fge = commands.add_parser("fge", help="fast geometric ensembling against a single network and an ensemble")
    add_common(fge)
    fge.set_defaults(run=command_fge)

    ds = commands.add_parser("datasets", help="which datasets are available here, and where")
    ds.set_defaults(run=command_datasets)

    cache = commands.add_parser("cache", help="the run cache in one file: export it, or import one")
    cache.add_argument("action", choices=["export", "import"], help="export data/runs to FILE, or add FILE's runs")
    cache.add_argument("file", type=Path, metavar="FILE", help="the archive (.tar.gz)")
    cache.set_defaults(run=command_cache)
    return parser


def command_cache(args):
    if args.action == "export":
        count = export_runs(args.file)
        print(f"wrote {count} cached files to {args.file}; on another machine: ltkit cache import {args.file.name}")
        return dict(exported=count)
    added, present = import_runs(args.file)
    print(f"added {added} cached runs ({present} were already here and were left as they are)")
    return dict(added=added, already_here=present)


def command_imp(args):
    config = imp_config(
        args.dataset,
        args.model,
        args.profile,
        epochs=args.epochs,
        rounds=args.rounds,
        rates=args.rate,
        rewind_iter=args.rewind_iter,
        seed=args.seed,
    )
    device = setup(args.device, seed=args.seed)
    result = run_imp(config, device=device, cache=not args.no_cache)
    print(format_imp_table(result))
    return result.to_json()


def format_imp_table(result):
    lines = [
        f"IMP: {result.config.model} on {result.config.dataset}, rewind to iteration {result.config.rewind_iter}; "
        f"test accuracy at the end of training, then (at the early-stop iteration @ that iteration)",
        f"{'round':>5}  {'weights':>8}  " + "  ".join(f"{arm:>26}" for arm in ARMS),
    ]
    for row in result.rounds:
        results = [row.results.get(arm) for arm in ARMS]
        cell = lambda r: f"{100 * r.final_test_acc:5.1f}% ({100 * r.test_acc:5.1f}% @{r.early_stop_iter:>6})"
        cells = [cell(r) if r else "-" for r in results]
        lines.append(f"{row.round:>5}  {100 * row.weights_remaining:7.1f}%  " + "  ".join(f"{c:>26}" for c in cells))
    return "\n".join(lines)


def command_train(args):
    device = setup(args.device, seed=args.seed)
    data = load_dataset(args.dataset, device=device)
    config = training_recipe(args.dataset, args.model, args.profile, epochs=args.epochs)
    model = build_model(args.model, data.input_shape, data.num_classes, seed=args.seed, device=device)
    result = train(model, data, config, data_seed=args.seed)
    epochs = config.iterations * config.batch_size / len(data.y_train)
    print(
        f"{args.model} on {args.dataset}: {config.iterations} iterations ({epochs:.1f} epochs) in "
        f"{result.seconds:.1f} s; test accuracy {100 * result.test_acc:.1f}% at the early-stop iteration "
        f"{result.early_stop_iter}, {100 * result.final_test_acc:.1f}% at the end"
    )
    return dict(**result.summary(), train_seconds=result.seconds, epochs=epochs, iterations=config.iterations)


def command_instability(args):
    config = instability_config(
        args.dataset, args.model, args.profile, epochs=args.epochs, seed=args.seed, pairs=args.pairs
    )
    device = setup(args.device, seed=args.seed)
    rows = run_instability(config, args.rewind_iters, args.weights_remaining, device=device, cache=not args.no_cache)
    print(format_instability_table(config, rows))
    arms = lambda row: {arm: instability_json(record) for arm, record in row.items() if arm != "k"}
    return dict(config=config.to_dict(), rewind=[dict(k=row["k"], **arms(row)) for row in rows])


def instability_json(record):
    first = record.lines[0]
    lines = [line.points() for line in record.lines]
    return {**record.summary(), "test_err_ends": first.ends_test_err, "line": lines[0], "lines": lines}


def format_instability_table(config, rows):
    arms = [arm for arm in rows[0] if arm != "k"]
    title = lambda arm: arm if arm == "dense" else f"{arm} {100 * rows[0][arm].weights_remaining:.1f}%"
    lines = [
        f"Instability: {config.model} on {config.dataset}, {config.train.iterations} iterations. Test-error barrier"
        f" (points) between copies trained on from iteration k, mean +- std over {config.pairs} pair(s);"
        f" stable below 2",
        f"{'k':>7}" + "".join(f"  {title(arm):>20}" for arm in arms),
    ]
    for row in rows:
        cells = [f"{100 * row[arm].barrier:5.1f} +- {100 * row[arm].barrier_std:4.1f}" for arm in arms]
        lines.append(f"{row['k']:>7}" + "".join(f"  {cell:>20}" for cell in cells))
    return "\n".join(lines)


def command_rewinding(args):
    config = rewinding_config(args.profile, seed=args.seed)
    device = setup(args.device, seed=args.seed)
    result = run_rewinding(config, device=device, cache=not args.no_cache)
    print(format_rewinding_table(config, result))
    return dict(config=config.to_dict(), **result.to_json())


def format_rewinding_table(config, result):
    reference = result.matching
    lines = [
        f"Late rewinding: {config.model} on {config.dataset}, IMP rewound to iteration k, subnetworks at "
        f"{100 * result.weights_remaining:.1f}% of the weights. Dense network: {100 * reference.dense_final_acc:.1f}% "
        f"final test accuracy over {len(reference.dense_final_accs)} seeds; "
        f"matching from {100 * reference.threshold:.1f}%",
        f"{'k':>7}  {'final test acc':>14}  {'matching':>8}  {'barrier (points)':>18}  {'stable':>6}",
    ]
    for row in result.rows:
        lines.append(
            f"{row['k']:>7}  {100 * row['ticket_final_acc']:13.1f}%  {'yes' if row['matching'] else 'no':>8}  "
            f"{100 * row['barrier']:10.1f} +- {100 * row['barrier_std']:3.1f}  {'yes' if row['stable'] else 'no':>6}"
        )
    return "\n".join(lines)


def command_curve(args):
    config = curve_config(args.dataset, args.model, args.profile, epochs=args.epochs, seed=args.seed)
    device = setup(args.device, seed=args.seed)
    result = run_curve(config, args.kind, device=device, cache=not args.no_cache)
    print(format_curve_table(config, result))
    return dict(
        config=config.to_dict(),
        kind=result.kind,
        seeds=result.seeds,
        line=result.line.points(),
        curve=result.curve.points(),
        barrier_line=result.line.barrier,
        barrier_curve=result.curve.barrier,
    )


def format_curve_table(config, result):
    kind = result.kind
    lines = [
        f"{config.model} on {config.dataset}: the straight line and a fitted {kind} curve between two independently "
        f"trained networks (seeds {result.seeds[0]} and {result.seeds[1]})",
        f"{'t':>6}  {'line test err':>14}  {kind + ' test err':>16}  "
        f"{'line train loss':>15}  {kind + ' train loss':>17}",
    ]
    for line, curve in zip(result.line.points(), result.curve.points()):
        lines.append(
            f"{line['t']:6.3f}  {100 * line['test_err']:13.1f}%  {100 * curve['test_err']:15.1f}%  "
            f"{line['train_loss']:15.3f}  {curve['train_loss']:17.3f}"
        )
    lines.append(
        f"barrier (points): straight line {100 * result.line.barrier:.1f}, "
        f"{kind} curve {100 * result.curve.barrier:.1f}"
    )
    return "\n".join(lines)


def command_align(args):
    config = curve_config(args.dataset, args.model, args.profile, epochs=args.epochs, seed=args.seed)
    device = setup(args.device, seed=args.seed)
    result = run_alignment(config, device=device, cache=not args.no_cache)
    print(format_align_table(config, result))
    return dict(
        config=config.to_dict(),
        seeds=result.seeds,
        **result.summary(),
        line=result.line.points(),
        aligned=result.aligned.points(),
    )


def format_align_table(config, result):
    lines = [
        f"{config.model} on {config.dataset}: the straight line between two independently trained networks (seeds "
        f"{result.seeds[0]} and {result.seeds[1]}), before and after weight matching ({result.sweeps} sweeps)",
        f"{'alpha':>6}  {'test err before':>15}  {'test err after':>14}",
    ]
    for before, after in zip(result.line.points(), result.aligned.points()):
        lines.append(f"{before['t']:6.3f}  {100 * before['test_err']:14.1f}%  {100 * after['test_err']:13.1f}%")
    lines.append(
        f"barrier (points): before {100 * result.line.barrier:.1f}, after alignment {100 * result.aligned.barrier:.1f}"
    )
    return "\n".join(lines)


def command_prune_at_init(args):
    rounds = tuple(args.rounds) if args.rounds else None
    config = prune_at_init_config(
        args.dataset, args.model, args.profile, epochs=args.epochs, seed=args.seed, rounds=rounds
    )
    device = setup(args.device, seed=args.seed)
    result = run_prune_at_init(config, device=device, cache=not args.no_cache)
    report = result.to_json()
    print(format_at_init_table(config, report["methods"]))
    return report


def format_at_init_table(config, methods):
    kept = [row["weights_remaining"] for row in methods["imp"]]
    lines = [
        f"{config.model} on {config.dataset}, seed {config.seed}: final test accuracy (%) of each method's subnetwork,"
        " and of its checks (shuffled within layers / re-initialised / inverted scores)",
        f"{'method':<10}" + "".join(f"{100 * w:>22.1f}%" for w in kept),
    ]
    for method, rows in methods.items():
        cells = []
        for row in rows:
            checks = [row.get(f"{check}_final_test_acc") for check in CHECKS]
            checks = "/".join("-" if acc is None else f"{100 * acc:.1f}" for acc in checks)
            cells.append(f"{100 * row['final_test_acc']:.1f} ({checks})")
        lines.append(f"{method:<10}" + "".join(f"{cell:>23}" for cell in cells))
    return "\n".join(lines)


def command_fge(args):
    config = fge_config(args.dataset, args.model, args.profile, epochs=args.epochs, seed=args.seed)
    device = setup(args.device, seed=args.seed)
    result = run_fge(config, device=device, cache=not args.no_cache)
    print(format_fge_table(config, result))
    return dict(config=config.to_dict(), **result.summary())


def format_fge_table(config, result):
    budget, members = result.budget, config.independent
    rows = [
        (f"the network FGE starts from ({config.train.iterations} iterations)", result.start_acc),
        (f"FGE: {len(result.snapshots)} snapshots, one per cycle of {config.cycle}", result.fge_acc),
        ("the best FGE snapshot alone (chosen on the test set)", result.best_snapshot_acc),
        (f"one network trained {budget} iterations", result.single_acc),
        ("FGE's start network trained on, learning rate annealed", result.annealed_single_acc),
        (f"{members} independent networks, {budget // members} iterations each", result.independent_acc),
    ]
    lines = [f"FGE: {config.model} on {config.dataset}; test accuracy at the same budget of {budget} iterations"]
    lines += [f"  {label:<60}{100 * acc:6.1f}%" for label, acc in rows]
    return "\n".join(lines)


def command_datasets(args):
    rows = available_datasets()
    for row in rows:
        status = "here" if row["available"] else "missing"
        print(f"{row['name']:<14} {status:<8} {row['about']}\n{'':<23} {row['where']}")
    return rows


def check_writable(path):
    """Refuse a --json path that could not be written, before hours of computing rather than after."""
    if path.is_dir():
        raise LtkitError(f"--json {path} is a folder; give a file name, like {path / 'results.json'}")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not os.access(folder, os.W_OK):
        raise LtkitError(f"--json {path} cannot be written: {folder} is not writable")


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "json", None):
            check_writable(args.json)
        output = args.run(args)
    except LtkitError as error:
        print(f"ltkit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ltkit: interrupted; finished steps are cached, so the same command resumes", file=sys.stderr)
        return 130
    if getattr(args, "json", None):
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(output, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
