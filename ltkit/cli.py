"""The `ltkit` command: the experiments of the course, headless, for precomputing and for scripts.

    ltkit imp --dataset mnist1d --model mlp            # a lottery-ticket sweep and its table
    ltkit train --dataset fashion-mnist --model lenet300_100 --epochs 2
    ltkit datasets                                     # which datasets are here, and where

Results go through the run cache (data/runs), so the same command again returns at once and an
interrupted sweep resumes where it stopped. A mistake in the arguments prints one line and exits with 2.
"""

import argparse
import json
import sys
from pathlib import Path

from ltkit.data import DATASETS, available_datasets, load_dataset
from ltkit.errors import LtkitError
from ltkit.lottery import ARMS, imp_config, run_imp
from ltkit.models import MODELS, build_model
from ltkit.profiles import PROFILES, settings
from ltkit.runtime import setup
from ltkit.train import iterations_for, resize, train


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


def positive(text):
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_common(parser):
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
    imp.add_argument("--rewind", type=non_negative, default=0, metavar="K", help="rewind to iteration K (default 0)")
    imp.add_argument("--no-cache", action="store_true", help="recompute everything; read and write no cache")
    imp.set_defaults(run=command_imp)

    tr = commands.add_parser("train", help="train one dense network and report its accuracy")
    add_common(tr)
    tr.set_defaults(run=command_train)

    ds = commands.add_parser("datasets", help="which datasets are available here, and where")
    ds.set_defaults(run=command_datasets)
    return parser


def command_imp(args):
    config = imp_config(
        args.dataset,
        args.model,
        args.profile,
        epochs=args.epochs,
        rounds=args.rounds,
        rates=args.rate,
        rewind_iter=args.rewind,
        seed=args.seed,
    )
    device = setup(args.device, seed=args.seed)
    result = run_imp(config, device=device, cache=not args.no_cache)
    print(format_imp_table(result))
    return result.to_json()


def format_imp_table(result):
    lines = [
        f"IMP: {result.config.model} on {result.config.dataset}, rewind to iteration {result.config.rewind_iter}; "
        f"test accuracy at the early-stop iteration (iteration in brackets)",
        f"{'round':>5}  {'weights':>8}  " + "  ".join(f"{arm:>17}" for arm in ARMS),
    ]
    for row in result.rounds:
        cells = [
            f"{100 * row[arm]['test_acc']:6.1f}% ({row[arm]['early_stop_iter']:>6})" if row[arm] else "-"
            for arm in ARMS
        ]
        lines.append(
            f"{row['round']:>5}  {100 * row['weights_remaining']:7.1f}%  " + "  ".join(f"{c:>17}" for c in cells)
        )
    return "\n".join(lines)


def command_train(args):
    device = setup(args.device, seed=args.seed)
    data = load_dataset(args.dataset, device=device)
    config = settings(args.model, args.profile, len(data.y_train))["train"]
    if args.epochs is not None:
        config = resize(config, iterations_for(args.epochs, len(data.y_train), config.batch_size))
    model = build_model(args.model, data.input_shape, data.num_classes, seed=args.seed, device=device)
    result = train(model, data, config, data_seed=args.seed)
    summary = result.summary()
    epochs = config.iterations * config.batch_size / len(data.y_train)
    print(
        f"{args.model} on {args.dataset}: {config.iterations} iterations ({epochs:.1f} epochs) in "
        f"{result.seconds:.1f} s; test accuracy {100 * summary['test_acc']:.1f}% at the early-stop iteration "
        f"{summary['early_stop_iter']}, {100 * summary['final_test_acc']:.1f}% at the end"
    )
    return dict(**summary, train_seconds=result.seconds, epochs=epochs, iterations=config.iterations)


def command_datasets(args):
    rows = available_datasets()
    for row in rows:
        status = "here" if row["available"] else "missing"
        print(f"{row['name']:<14} {status:<8} {row['about']}\n{'':<23} {row['where']}")
    return rows


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
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
