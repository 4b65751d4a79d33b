"""The papers' recipes and the course's three sizes."""

import pytest

import ltkit
from ltkit.errors import LtkitError
from ltkit.experiments.imp import IMPConfig
from ltkit.experiments.profiles import (
    RECIPES,
    TRANSFORMER_TICKETS,
    connectivity_images,
    current_profile,
    profile_table,
    training_recipe,
    with_overrides,
)


def test_the_profile_comes_from_the_argument_then_the_environment_then_class(monkeypatch):
    monkeypatch.delenv("LTKIT_PROFILE", raising=False)
    assert current_profile() == "class"
    monkeypatch.setenv("LTKIT_PROFILE", "ci")
    assert current_profile() == "ci" and current_profile("paper") == "paper"
    assert training_recipe("fashion-mnist", "lenet300_100").iterations == 55_000 // 60  # ci: one epoch
    with pytest.raises(LtkitError, match="unknown profile 'huge'; choose one of: ci, class, paper"):
        current_profile("huge")


def test_profiles_change_only_the_length_of_a_recipe():
    paper = RECIPES["resnet20"]["train"]
    ci = training_recipe("cifar10", "resnet20", "ci")
    assert ci.iterations == 2 * (45_000 // 128) and ci.milestones == (ci.iterations // 2, round(ci.iterations * 0.75))
    assert (ci.optimizer, ci.lr, ci.momentum, ci.weight_decay, ci.batch_size, ci.augment) == (
        paper.optimizer,
        paper.lr,
        paper.momentum,
        paper.weight_decay,
        paper.batch_size,
        paper.augment,
    )
    assert training_recipe("cifar10", "resnet20", "paper") == paper
    assert training_recipe("mnist1d", "mlp", "ci") == RECIPES["mlp"]["train"]  # the MLP's own length everywhere


def test_every_experiment_trains_a_network_by_the_same_recipe_and_overrides_replace_it():
    assert training_recipe("mnist1d", "mlp", "ci").lr == 1e-2  # the dense MLP's best (profiles.py says how)
    recipe = training_recipe("fashion-mnist", "lenet300_100", "ci")
    for make in (
        ltkit.imp_config,
        ltkit.instability_config,
        ltkit.curve_config,
        ltkit.plane_config,
        ltkit.align_config,
        ltkit.fge_config,
    ):
        assert make("fashion-mnist", "lenet300_100", "ci").train == recipe
    assert training_recipe("fashion-mnist", "lenet300_100", "ci", epochs=3, lr=1e-3).lr == 1e-3


def test_the_late_rewinding_experiment_is_the_small_convolutional_network_on_mnist1d():
    config = ltkit.rewinding_config(profile="ci", seed=3)
    assert (config.dataset, config.model, config.seed, config.scope) == ("mnist1d", "cnn1d", 3, "global")
    assert config.train == RECIPES["cnn1d"]["train"] and config.pairs >= 3


def test_the_transformer_lessons_late_k_lies_inside_every_profiles_run():
    tickets = TRANSFORMER_TICKETS
    for profile in ("ci", "class", "paper"):
        config = ltkit.imp_config(tickets["dataset"], tickets["model"], profile)
        assert config.rates == dict(embedding=0.25, attention=0.5, mlp=0.5, output=0.25)
        assert 0 == tickets["rewind_iters"][0] < tickets["rewind_iters"][1] < config.train.iterations
        assert tickets["rounds"][profile] >= 1 and tickets["matching_seeds"][profile] >= 2


def test_the_image_experiments_of_the_connectivity_lessons_follow_the_profile():
    assert connectivity_images("paper") == ("cifar10", "resnet20")
    assert connectivity_images("ci") == connectivity_images("class") == ("fashion-mnist", "lenet300_100")
    assert connectivity_images("ci", images="mnist") == ("mnist", "lenet300_100")


def test_the_profile_table_shows_each_profiles_run_lengths():
    rows = profile_table()
    assert len(rows) == 3 * 4
    for row in rows:
        dataset = row["experiment"].split(" on ")[1]
        model = row["experiment"].split(" on ")[0]
        assert row["iterations"] == training_recipe(dataset, model, row["profile"]).iterations
    assert {row["imp_rounds"] for row in rows if row["profile"] == "paper"} == {20}


def test_overrides_replace_defaults_and_none_keeps_them():
    defaults = dict(rounds=10, seed=0)
    assert with_overrides(defaults, dict(rounds=None, seed=3), IMPConfig, "f") == dict(rounds=10, seed=3)
    with pytest.raises(LtkitError, match=r"f\(\) has no setting round;"):
        with_overrides(defaults, dict(round=3), IMPConfig, "f")


def test_the_package_exports_exactly_what_it_lists():
    assert all(hasattr(ltkit, name) for name in ltkit.__all__)
    assert len(set(ltkit.__all__)) == len(ltkit.__all__)
