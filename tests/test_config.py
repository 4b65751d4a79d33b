"""Settings: every field of every experiment's settings decides its cache key, unless it says otherwise."""

import dataclasses
import importlib
import pkgutil

import pytest

import ltkit
from ltkit.engine.training import TrainConfig
from ltkit.errors import LtkitError
from ltkit.experiments.align import AlignConfig
from ltkit.experiments.at_init import PruneAtInitConfig
from ltkit.experiments.curves import CurveConfig
from ltkit.experiments.dense import DenseConfig
from ltkit.experiments.fge import FGEConfig
from ltkit.experiments.imp import IMPConfig
from ltkit.experiments.instability import InstabilityConfig
from ltkit.experiments.oneshot import OneShotConfig
from ltkit.experiments.paths import TwoNetworksConfig
from ltkit.experiments.plane import PlaneConfig
from ltkit.experiments.pretrained import PretrainedIMPConfig, TaskSweep
from ltkit.experiments.registry import EXPERIMENTS
from ltkit.experiments.retraining import RetrainConfig
from ltkit.experiments.rewinding import RewindingConfig
from ltkit.settings import Settings, check_fields

TRAIN = TrainConfig(iterations=40, batch_size=50, eval_every=20)
EXAMPLES = {  # one valid instance of every settings class, every optional setting set
    TrainConfig: TRAIN,
    DenseConfig: DenseConfig("mnist1d", "mlp", TRAIN),
    IMPConfig: IMPConfig("mnist1d", "mlp", TRAIN, rates=0.2, rounds=2),
    InstabilityConfig: InstabilityConfig("mnist1d", "mlp", TRAIN, weights_remaining=0.5, arms=("dense",)),
    RewindingConfig: RewindingConfig("mnist1d", "cnn1d", TRAIN, rewind_iters=(0, 10)),
    CurveConfig: CurveConfig("mnist1d", "mlp", TRAIN),
    PlaneConfig: PlaneConfig("mnist1d", "mlp", TRAIN),
    AlignConfig: AlignConfig("mnist1d", "mlp", TRAIN),
    TwoNetworksConfig: TwoNetworksConfig("mnist1d", "mlp", TRAIN),
    FGEConfig: FGEConfig("mnist1d", "mlp", TRAIN),
    PruneAtInitConfig: PruneAtInitConfig("mnist1d", "mlp", TRAIN, rounds=(1, 2)),
    RetrainConfig: RetrainConfig("mnist1d", "mlp", TRAIN, rewind_iter=10),
    OneShotConfig: OneShotConfig("mnist1d", "mlp", TRAIN, retrain_iterations=20),
    PretrainedIMPConfig: PretrainedIMPConfig("stdlib", "transformer", TRAIN, task="textkinds", rounds=2),
    TaskSweep: TaskSweep("textkinds", "window_classifier", TRAIN, rates=dict(mlp=0.36), seed=0, pretrained="dense-1"),
}
OTHER_STRINGS = dict(
    optimizer="sgd",
    dataset="fashion-mnist",
    model="lenet300_100",
    scope="global",
    shape="polychain",
    task="heldout-lm",
    pretrained="dense-2",
)
OTHER_STRINGS_OF = {
    PretrainedIMPConfig: dict(dataset="charlm"),  # the other text its language model reads
    IMPConfig: dict(controls=("reinit",)),  # one control, not both
}
ONLY_VALUE = {(PretrainedIMPConfig, "model")}  # the one model that fits the others: in the key by name only


def other_value(name, value):
    """A different value that the settings still accept, whatever the field's type."""
    if dataclasses.is_dataclass(value):
        first = dataclasses.fields(value)[0].name
        return dataclasses.replace(value, **{first: other_value(first, getattr(value, first))})
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 2  # keeps even lengths even (an FGE cycle) and stays below a 40-iteration run
    if isinstance(value, float):
        return value / 2 if value else 0.125
    if isinstance(value, tuple):
        return (*value, {"weights_remaining": 0.05, "arms": "ticket"}.get(name, 7))
    if isinstance(value, dict):
        return {key: other_value(key, item) for key, item in value.items()}
    if isinstance(value, str) and name in OTHER_STRINGS:
        return OTHER_STRINGS[name]
    raise AssertionError(f"no other value known for the field {name}={value!r}: add one to this test")


def all_settings_classes():
    for module in pkgutil.walk_packages(ltkit.__path__, "ltkit."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found, todo = set(), list(Settings.__subclasses__())
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += cls.__subclasses__()
    return {cls for cls in found if cls.__module__.startswith("ltkit.")}  # not a test's own experiment


def test_every_settings_class_of_ltkit_is_checked_here():
    assert all_settings_classes() == set(EXAMPLES), "give a new settings class an example in EXAMPLES"


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda cls: cls.__name__)
def test_every_field_changes_the_cache_key_unless_it_is_declared_not_to(cls):
    example = EXAMPLES[cls]
    names = [f.name for f in dataclasses.fields(cls)]
    assert set(cls.NOT_IN_KEY) <= set(names), f"NOT_IN_KEY names no field: {set(cls.NOT_IN_KEY) - set(names)}"
    for name in names:
        if (cls, name) in ONLY_VALUE:
            assert name in example.cache_key()
            continue
        other = OTHER_STRINGS_OF.get(cls, {}).get(name) or other_value(name, getattr(example, name))
        changed = dataclasses.replace(example, **{name: other})
        assert changed.to_dict() != example.to_dict(), name
        if name in cls.NOT_IN_KEY:
            assert changed.cache_key() == example.cache_key(), name
        else:
            assert changed.cache_key() != example.cache_key(), f"{cls.__name__}.{name} is not in the cache key"


def test_only_the_settings_that_choose_which_units_to_run_stay_out_of_the_keys():
    """Each of these selects units (rounds, pairs, values of k, arms, sparsities) cached as steps of their
    own, named by the selecting value: more of them extend a result, fewer read part of it."""
    assert {cls.__name__: cls.NOT_IN_KEY for cls in EXAMPLES if cls.NOT_IN_KEY} == {
        "IMPConfig": ("rounds", "controls"),  # each arm of a round is cached as a step of its own
        "InstabilityConfig": ("pairs", "rewind_iters", "arms"),
        "RewindingConfig": ("pairs", "rewind_iters"),
        "PruneAtInitConfig": ("rounds",),
        "RetrainConfig": ("weights_remaining",),
        "PretrainedIMPConfig": ("rounds", "task"),  # each task is cached on its own (TaskSweep)
    }


def test_every_registered_experiment_has_an_example_here_and_help_for_every_setting():
    for experiment in EXPERIMENTS.values():
        assert experiment.settings in EXAMPLES, f"give {experiment.settings.__name__} an example in EXAMPLES"
        for field in dataclasses.fields(experiment.settings)[3:]:
            assert field.metadata.get("help"), f"{experiment.settings.__name__}.{field.name} has no help"


def test_instabilitys_sparsity_and_arms_are_settings_of_its_config():
    names = [field.name for field in dataclasses.fields(InstabilityConfig)]
    assert {"rewind_iters", "weights_remaining", "arms", "pairs"} <= set(names)


def test_to_dict_is_plain_json_data_with_nested_settings_as_dicts():
    config = IMPConfig("mnist1d", "mlp", TrainConfig(milestones=(10, 20)), rates=dict(fc=0.2, output=0.1))
    plain = config.to_dict()
    assert plain["train"] == dict(
        optimizer="adam",
        lr=1.2e-3,
        batch_size=60,
        iterations=5000,
        momentum=0.9,
        weight_decay=0.0,
        milestones=[10, 20],
        gamma=0.1,
        warmup=0,
        eval_every=500,
        augment=False,
    )
    assert plain["rates"] == {"fc": 0.2, "output": 0.1} and plain["rounds"] == 10
    assert plain["controls"] == ["reinit", "random_mask"]
    assert config.cache_key() == {key: value for key, value in plain.items() if key not in ("rounds", "controls")}


def test_unknown_keyword_settings_are_named_with_the_ones_that_exist():
    check_fields({"seed": 1, "rounds": 2}, IMPConfig, "imp_config")  # known: no error
    with pytest.raises(LtkitError, match=r"f\(\) has no setting pair, rewind; the settings are: seed, rates"):
        check_fields({"rewind": 1, "pair": 2}, InstabilityConfig, "f")


def test_an_int_given_for_a_float_setting_is_the_same_setting():
    assert dataclasses.replace(TRAIN, lr=1).cache_key() == dataclasses.replace(TRAIN, lr=1.0).cache_key()
    assert FGEConfig("mnist1d", "mlp", TRAIN, lr_high=1, lr_low=0.5).to_dict()["lr_high"] == 1.0
