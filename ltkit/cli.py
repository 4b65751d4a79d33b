"""The `ltkit` command: every registered experiment, headless, for precomputing and for scripts.

    ltkit imp --dataset mnist1d --model mlp --profile ci          # a lottery-ticket sweep and its table
    ltkit instability --dataset mnist1d --model mlp --rewind-iters 0,100,500 --json barriers.json
    ltkit --plugin my_network.py imp --dataset my-data --model my-net   # your own network and data
    ltkit datasets; ltkit cache export runs.tar.gz                # the datasets here; the run cache in a file
    ltkit imp --dataset mnist1d --model mlp --seeds 0-3 --executor submitit --workers 2   # 2 workers; cache status

One subcommand per experiment of ltkit.experiments.registry, a flag per field of its settings (with the
field's help); the table printed is the result's table(), the JSON its to_json(). A plugin registers
datasets, networks or experiments on import. A mistake in the arguments prints one line and exits with 2.
"""

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import ltkit  # noqa: F401 (importing ltkit registers every built-in experiment)
from ltkit.cluster.command import add_cluster_flags, print_status, run_sweep
from ltkit.cluster.units import cache_status
from ltkit.engine.datasets import available_datasets, dataset_names
from ltkit.engine.models import model_names
from ltkit.engine.runtime import setup
from ltkit.errors import LtkitError
from ltkit.experiments.profiles import PROFILES
from ltkit.experiments.registry import EXPERIMENTS, text_table
from ltkit.plugins import load_plugin
from ltkit.store.archive import export_runs, import_runs

FIXED = ("dataset", "model", "train")  # every experiment's first fields: flags of their own


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (and exit code 2), not a usage block."""

    def error(self, message):
        self.exit(2, f"ltkit: error: {message} (see 'ltkit {self.prog.split()[-1]} --help')\n")


def parse_as(field):
    """How a flag's text becomes the field's value, by the field's type: a tuple's items separated by
    commas, pruning rates (type object) one number or kind=rate pairs."""
    item = field.metadata.get("item", int)
    expected = {tuple: f"{item.__name__}s separated by commas", object: "a rate like 0.2, or fc=0.2,output=0.1"}

    def parse(text):
        try:
            if field.type is tuple:
                return tuple(item(value) for value in text.split(","))
            if field.type is object:
                pairs = [part.split("=") for part in text.split(",")] if "=" in text else None
                return {kind: float(rate) for kind, rate in pairs} if pairs else float(text)
            return field.type(text)
        except ValueError:
            message = f"must be {expected.get(field.type, field.type.__name__)}; got {text}"
            raise argparse.ArgumentTypeError(message) from None

    return parse


def add_setting(parser, field):
    """The flag of one settings field (and its older names), with the field's help."""
    names = [f"--{field.name.replace('_', '-')}", *field.metadata.get("aliases", ())]
    where = dict(dest=field.name, default=None, help=field.metadata["help"])
    if field.type is bool:
        parser.add_argument(*names, action=argparse.BooleanOptionalAction, **where)
    else:
        parser.add_argument(*names, type=parse_as(field), choices=field.metadata.get("choices"), **where)
    if "none_flag" in field.metadata:  # a tuple's flag for none of its items: --no-controls
        parser.add_argument(field.metadata["none_flag"], dest=field.name, action="store_const", const=(), help="none")


def add_experiment(commands, experiment):
    about = f"{experiment.about}. A setting left out is the profile's."
    parser = commands.add_parser(experiment.name, help=experiment.about, description=about)
    network = experiment.network or (None, None)
    for name, known, default in (("dataset", dataset_names(), network[0]), ("model", model_names(), network[1])):
        known = dict(choices=known, metavar=name[0].upper(), help=f"one of: {', '.join(known)}")
        parser.add_argument(f"--{name}", required=default is None, default=default, **known)
    parser.add_argument("--profile", choices=PROFILES, help="run size: ci, class (default, or $LTKIT_PROFILE), paper")
    parser.add_argument("--epochs", type=float, help="passes over the training set per run (default: the profile's)")
    parser.add_argument("--lr", type=float, help="the learning rate (default: the recipe's)")
    for field in dataclasses.fields(experiment.settings):
        if field.name not in FIXED:
            add_setting(parser, field)
    parser.add_argument("--device", help="cpu or cuda (default: a GPU when there is one)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    parser.add_argument("--no-cache", action="store_true", help="recompute everything; read and write no cache")
    add_cluster_flags(parser, seeded="seed" in {f.name for f in dataclasses.fields(experiment.settings)})
    parser.set_defaults(run=lambda args: run_experiment(experiment, args))


def run_experiment(experiment, args):
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(experiment.settings) if f.name not in FIXED}
    if getattr(args, "seeds", None) is not None or args.executor != "local":
        return run_sweep(experiment, args, fields)
    config = experiment.config(args.dataset, args.model, args.profile, args.epochs, args.lr, **fields)
    device = setup(args.device, seed=getattr(config, "seed", 0))
    result = experiment(config, device=device, cache=not args.no_cache)
    print(experiment.heading(config))
    print(text_table(result.table()))
    return result.to_json()


def command_datasets(args):
    rows = available_datasets()
    for row in rows:
        status = "here" if row["available"] else "missing"
        print(f"{row['name']:<14} {status:<8} {row['about']}\n{'':<23} {row['where']}")
    return rows


def command_cache(args):
    if args.action == "status":
        return print_status(cache_status())
    if args.file is None:
        raise LtkitError(f"cache {args.action} needs a FILE: ltkit cache {args.action} runs.tar.gz")
    if args.action == "export":
        count = export_runs(args.file)
        name = Path(args.file).name
        print(f"wrote {count} cached files to {args.file} (and {name}.sha256); elsewhere: ltkit cache import {name}")
        return dict(exported=count)
    added, present = import_runs(args.file, sha256=args.sha256)
    print(f"added {added} cached runs ({present} were already here and were left as they are)")
    return dict(added=added, already_here=present)


def build_parser():
    parser = OneLineParser(prog="ltkit", description="Lottery-ticket experiments from the command line.")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE",
        help="a Python file or module that registers your own dataset, network or experiment",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for experiment in EXPERIMENTS.values():
        add_experiment(commands, experiment)
    commands.add_parser("datasets", help="which datasets are available here, and where").set_defaults(
        run=command_datasets
    )
    about = "the run cache in one file: export it with its FILE.sha256, or import one by path or URL"
    cache = commands.add_parser("cache", help=about, description=about)
    cache.add_argument(
        "action",
        choices=["export", "import", "status"],
        help="export data/runs to FILE, add FILE's new runs, or show each sweep's units: done, running, missing",
    )
    cache.add_argument("file", nargs="?", metavar="FILE", help="the archive (.tar.gz): a path, or for import a URL")
    cache.add_argument("--sha256", metavar="HEX", help="import: FILE's expected SHA-256 (default: FILE.sha256, if any)")
    cache.set_defaults(run=command_cache)
    return parser


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
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        early = argparse.ArgumentParser(add_help=False)
        early.add_argument("--plugin", action="append", default=[])
        for plugin in early.parse_known_args(argv)[0].plugin:  # before the parser: they add its choices
            load_plugin(plugin)
        args = build_parser().parse_args(argv)
        if getattr(args, "json", None):
            check_writable(args.json)
        output = args.run(args)
        if getattr(args, "json", None):
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(output, indent=2))
    except LtkitError as error:
        print(f"ltkit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ltkit: interrupted; finished steps are cached, so the same command resumes", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
