"""A new experiment is one module and its registration: it gets a command, a cache and JSON, nothing else
edited. And the protocol's pieces: settings made from a profile, derived seeds, the Context's runs."""

import json
import textwrap

import pytest

import ltkit
from ltkit.cli import main
from ltkit.errors import LtkitError
from ltkit.experiments.registry import EXPERIMENTS, Context, text_table
from ltkit.experiments.seeds import SEED_RANGES, derived_seed

TOY = '''
"""A toy experiment: the mean input of each split, scaled. One module, one registration."""

from dataclasses import dataclass

from ltkit.engine.training import TrainConfig
from ltkit.experiments.registry import register
from ltkit.settings import Settings, setting

computed = []  # how often the toy really computed (not loaded from the cache)


@dataclass(frozen=True)
class ToyConfig(Settings):
    dataset: str
    model: str
    train: TrainConfig
    seed: int = setting(0, "unused, as in every experiment")
    scale: float = setting(1.0, "what the means are multiplied by")
    parts: tuple = setting(("train", "test"), "the splits measured", item=str)


@dataclass
class ToyRow:
    part: str
    mean_input: float


@dataclass
class ToyResult:
    config: ToyConfig
    means: dict

    def table(self):
        return [ToyRow(part, mean) for part, mean in self.means.items()]

    def to_json(self):
        return dict(config=self.config.to_dict(), means=self.means)


def measure(config, context):
    def compute():
        computed.append(config)
        return {part: config.scale * context.data.split(part)[0].mean().item() for part in config.parts}

    return ToyResult(config, context.run("toy", config).cached("means", compute))


run_toy = register("toy", ToyConfig, measure, ToyResult, "the mean input of each split, scaled")
'''


@pytest.fixture
def toy_plugin(tmp_path):
    path = tmp_path / "toy_experiment.py"
    path.write_text(textwrap.dedent(TOY))
    yield path
    EXPERIMENTS.pop("toy", None)


def test_a_toy_experiment_in_one_module_gets_its_command_cache_and_json(toy_plugin, data_root, tmp_path, capsys):
    out = tmp_path / "toy.json"
    command = ["--plugin", str(toy_plugin), "toy", "--dataset", "mnist1d", "--model", "mlp", "--profile", "ci"]
    assert main([*command, "--scale", "2", "--parts", "train,val", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["config"]["scale"] == 2 and report["config"]["parts"] == ["train", "val"]
    assert set(report["means"]) == {"train", "val"}
    assert "mean_input" in capsys.readouterr().out
    assert [path.name.split("-")[0] for path in (data_root / "runs").iterdir()] == ["toy"]

    toy = EXPERIMENTS["toy"]
    data = ltkit.load_dataset("mnist1d")
    config = toy.config("mnist1d", "mlp", "ci", scale=2, parts=("train", "val"))
    assert toy(config, data=data).to_json() == report  # from the cache: computed once
    assert len(__import__("toy_experiment").computed) == 1
    assert toy(toy.config("mnist1d", "mlp", "ci", scale=3), data=data).means != report["means"]
    assert "mean_input" in text_table(toy(config, data=data).table())

    EXPERIMENTS.pop("toy")  # as in a fresh process, where the plugin registers it anew
    with pytest.raises(SystemExit, match="2"):  # argparse's own errors exit from the parser
        main(["--plugin", str(toy_plugin), "toy", "--dataset", "mnist1d", "--model", "mlp", "--scale", "x"])
    assert "must be float; got x" in capsys.readouterr().err


def test_a_settings_misspelt_or_an_experiment_named_twice_is_one_clear_error():
    with pytest.raises(LtkitError, match=r"imp_config\(\) has no setting round; the settings are: rates, rounds"):
        ltkit.imp_config("mnist1d", "mlp", "ci", round=3)
    imp = EXPERIMENTS["imp"]
    with pytest.raises(LtkitError, match="'imp' is registered already"):
        ltkit.experiments.registry.register("imp", imp.settings, imp.run_with, imp.result, imp.about)
    with pytest.raises(LtkitError, match="imp runs a IMPConfig, not a DenseConfig"):
        imp(ltkit.experiments.dense.DenseConfig("mnist1d", "mlp", ltkit.imp_config("mnist1d", "mlp").train))


def test_every_experiment_of_the_course_is_registered_with_a_result_that_tables_and_jsons():
    assert {"train", "imp", "instability", "rewinding", "curve", "plane", "align", "fge"} <= set(EXPERIMENTS)
    assert {"prune-at-init", "retrain", "oneshot"} <= set(EXPERIMENTS)
    for experiment in EXPERIMENTS.values():
        assert callable(experiment.result.table) and callable(experiment.result.to_json), experiment.name


def test_derived_seeds_keep_the_values_the_lessons_were_checked_with_and_never_meet():
    assert derived_seed("reinit", 10, 1000 * 3) == 10 + 3000 + 1  # IMP's re-initialised control, round 3
    assert derived_seed("random_mask", 10, 3) == 10_003
    assert derived_seed("independent", 10, 1) == 20_021
    assert derived_seed("check", 2, 100 * 1 + 4) == 7_020_104
    with pytest.raises(LtkitError, match="no seeds are drawn for 'dropout'"):
        derived_seed("dropout", 0)
    firsts = {purpose: {derived_seed(purpose, seed, 0) for seed in range(100, 110)} for purpose in SEED_RANGES}
    experiment_seeds = set(range(0, 300))
    assert not firsts["independent"] & experiment_seeds and not firsts["check"] & experiment_seeds


def test_a_context_keys_its_runs_by_the_settings_and_the_data_split(mnist1d):
    config = ltkit.imp_config("mnist1d", "mlp", "ci")
    context = Context(mnist1d)
    assert context.run("imp", config).path == Context(mnist1d, progress=False).run("imp", config).path
    assert context.run("imp", config).path != context.run("imp", config.__class__(**{**vars(config), "seed": 1})).path
    assert context.run("imp", config).config["split"] == mnist1d.split_id
    assert not Context(mnist1d, cache=False).run("imp", config).enabled
