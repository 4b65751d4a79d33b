"""Every experiment, registered once: its settings, how it runs, and what it returns.

An experiment is three things:
- its settings: a frozen dataclass of `Settings` (dataset, model, train, then one field per setting, each
  made with `settings.setting(default, help)`), so that every setting is in the cache key unless the
  class names it in NOT_IN_KEY, and the command line has a flag for it;
- a run function `run(settings, context)`, where the Context holds the data, the device they are on,
  and whether to cache and show progress;
- its result, a class with `table()` (typed rows: dataclasses) and `to_json()` (the settings included).
`register` makes the Experiment. Calling it runs the experiment (`ltkit.run_imp(config)`); its `config`
makes the settings a profile gives (`ltkit.imp_config("mnist1d", "mlp", "ci")`); the command line has
one subcommand per registered experiment. A new experiment is one module that calls `register`.
"""

from dataclasses import asdict, dataclass, is_dataclass

from ltkit.engine.datasets import Splits, data_for
from ltkit.engine.models import architecture_key
from ltkit.errors import LtkitError
from ltkit.experiments.profiles import training_recipe, with_overrides
from ltkit.store.runs import Run

EXPERIMENTS = {}  # name: Experiment, in the order they were registered


@dataclass
class Context:
    """What an experiment runs with besides its settings: the data (on the device it trains on), and
    whether to read and write the run cache and to show progress bars."""

    data: Splits
    cache: bool = True
    progress: bool = True

    @classmethod
    def of(cls, config, data=None, device="cpu", cache=True, progress=True):
        """The context of `config`: `data`, or else its dataset loaded on `device` (another dataset than
        the config's is refused)."""
        return cls(data_for(config, data, device), cache, progress)

    @property
    def device(self):
        return self.data.device

    def run(self, kind, config, records=()):
        """The cached run of `config` (a folder data/runs/<kind>-<hash>): keyed by every field of its
        cache key and by the data's split, so no setting can be left out of the key by hand. A registered
        model's runs are keyed by its architecture's fingerprint too, so a changed network under its old
        name is never served the old one's results (the built-in models' keys have no such entry)."""
        key = {**config.cache_key(), "split": self.data.split_id, **architecture_key(config.model, self.data)}
        return Run(kind, key, records=records, enabled=self.cache)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: call it with its settings to run it (or load it from the cache)."""

    name: str  # its command: ltkit <name>
    settings: type  # its Settings dataclass
    run_with: object  # run_with(settings, context) -> result
    result: type  # what it returns: table() and to_json()
    about: str  # one line: what it measures (the command's help)
    defaults: object = None  # defaults(dataset, model, profile, train) -> {field: value}, the profile's sizes
    network: tuple = None  # (dataset, model) it runs on when none is given; None: both must be given
    recipe: object = None  # recipe(dataset, model, profile, epochs, lr) -> TrainConfig; None: the model's
    together: object = None  # together(configs, context) -> results: several configs as one stack; None: in turn
    parts: object = None  # parts(config) -> configs that can run apart and whose runs make up config's; None: whole

    def __call__(self, config, data=None, device="cpu", cache=True, progress=True):
        """Run the experiment `config` describes on `data` (default: its dataset, loaded on `device`),
        from the run cache where it was run before; returns its result."""
        if not isinstance(config, self.settings):
            raise LtkitError(
                f"{self.name} runs a {self.settings.__name__}, not a {type(config).__name__}; "
                f"make it with this experiment's config(dataset, model, profile, ...)"
            )
        return self.run_with(config, Context.of(config, data, device, cache, progress))

    def run_many(self, configs, data=None, device="cpu", cache=True, progress=True):
        """Run several configs of this experiment (one per seed, say): as one stack where the experiment
        trains them together, else one after another; returns their results, in order."""
        if self.together is None:
            return [self(config, data, device, cache, progress) for config in configs]
        return self.together(list(configs), Context.of(configs[0], data, device, cache, progress))

    def config(self, dataset=None, model=None, profile=None, epochs=None, lr=None, train=None, **fields):
        """The settings of this experiment for `model` on `dataset` in a profile (default: $LTKIT_PROFILE,
        else "class"): the model's training recipe, or the experiment's own (resized to `epochs`, its
        learning rate `lr`; or `train`, a TrainConfig, instead), the profile's sizes; other keyword
        arguments replace fields (None keeps)."""
        if (dataset is None or model is None) and self.network is None:
            raise LtkitError(f"{self.name} needs a dataset and a model; give both")
        dataset, model = dataset or self.network[0], model or self.network[1]
        train = train or (self.recipe or training_recipe)(dataset, model, profile, epochs, lr)
        defaults = self.defaults(dataset, model, profile, train) if self.defaults else {}
        overrides = with_overrides(defaults, fields, self.settings, f"{self.name}_config")
        return self.settings(dataset, model, train, **overrides)

    def heading(self, config):
        """What a table of its results is about: 'imp: iterative magnitude pruning ...; mlp on mnist1d, ...'."""
        return (
            f"{self.name}: {self.about}; {config.model} on {config.dataset}, {config.train.iterations} iterations a run"
        )

    def __repr__(self):
        return f"<experiment {self.name!r}: {self.about}>"


def register(name, settings, run_with, result, about, **optional):
    """Register an experiment (see the module's docstring) and return it; a name is registered once.
    `optional`: Experiment's fields from `defaults` on."""
    if name in EXPERIMENTS:
        raise LtkitError(f"an experiment named {name!r} is registered already; choose another name")
    EXPERIMENTS[name] = Experiment(name, settings, run_with, result, about, **optional)
    return EXPERIMENTS[name]


PERCENT = ("acc", "err", "barrier", "barrier_std", "weights_remaining", "threshold")  # figures shown as percentages


def row_dict(row):
    """A row of a result's table as a plain dict (rows are dataclasses; a dict stays as it is)."""
    return asdict(row) if is_dataclass(row) else dict(row)


def is_percent(column):
    """Whether a column holds a fraction best read as a percentage, by its name (test_acc, barrier, ...)."""
    return column.endswith(PERCENT)


def text_table(rows):
    """A result's table() as aligned text, fractions (accuracies, errors, barriers...) in percent."""
    rows = [row_dict(row) for row in rows]
    columns = list(rows[0]) if rows else []
    cells = [[cell_text(column, row[column]) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]
    return "\n".join("  ".join(text.rjust(width) for text, width in zip(line, widths)) for line in [columns, *cells])


def cell_text(column, value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if is_percent(column) else f"{value:.4g}"
    return str(value)
