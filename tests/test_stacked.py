"""Stacked training (ltkit.engine.stacked): N networks in lockstep must train exactly as N networks one at a time."""

import copy
from dataclasses import asdict

import pytest
import torch

from ltkit.engine.datasets import Splits
from ltkit.engine.masks import full_mask, random_mask_like
from ltkit.engine.models import build_model
from ltkit.engine.stacked import Job, stack_size, stacking_pays, train_stack, train_together
from ltkit.engine.training import TrainConfig, train
from ltkit.errors import LtkitError
from ltkit.experiments.imp import IMPConfig, run_imp, run_imps

ADAM = TrainConfig(optimizer="adam", lr=1e-2, batch_size=100, iterations=300, eval_every=30, milestones=(200,))
SGD_BN = TrainConfig(
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    weight_decay=5e-4,
    batch_size=50,
    iterations=20,
    eval_every=5,
    milestones=(10,),
)


def jobs_and_twins(model, config, seeds=(0, 1, 2), start_iter=0, device="cpu"):
    """Jobs for networks of `model` on different seeds, one with no mask and the others with random masks,
    and a deep copy of each network to train one at a time."""
    generator = torch.Generator().manual_seed(0)
    jobs = []
    for i, seed in enumerate(seeds):
        network = build_model(model, (40,), seed=seed, device=device)
        mask = random_mask_like(full_mask(network), generator) if i else None
        jobs.append(Job(network, config, mask, data_seed=seed, start_iter=start_iter))
    return jobs, [copy.deepcopy(job.model) for job in jobs]


def train_each(jobs, twins, data):
    return [
        train(twin, data, job.config, job.mask, job.data_seed, job.start_iter, progress=False)
        for job, twin in zip(jobs, twins)
    ]


def assert_same_training(stacked, alone, jobs, twins, weight_tolerance):
    for result, reference, job, twin in zip(stacked, alone, jobs, twins, strict=True):
        assert [row["iteration"] for row in result.history] == [row["iteration"] for row in reference.history]
        for row, expected in zip(result.history, reference.history):
            for key in ("train_loss", "val_loss"):
                assert row[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-5, nan_ok=True), (row, expected)
        assert result.early_stop_iter == reference.early_stop_iter
        assert result.final_test[1] == pytest.approx(reference.final_test[1], abs=0.002)
        weights, expected = job.model.state_dict(), twin.state_dict()
        for name in expected:
            assert torch.allclose(weights[name].float(), expected[name].float(), atol=weight_tolerance), name
        if job.mask:  # pruned weights stayed exactly zero
            for name, keep in job.mask.items():
                assert not weights[name][~keep].any()


def test_a_stack_of_mlps_trains_step_for_step_as_each_alone(mnist1d):
    """Adam, masks, a learning-rate drop, per-network data order: 300 steps agree to float tolerance."""
    jobs, twins = jobs_and_twins("mlp", ADAM)
    assert_same_training(
        train_stack(jobs, mnist1d, progress=False), train_each(jobs, twins, mnist1d), jobs, twins, 1e-4
    )


def test_a_stack_with_batchnorm_keeps_each_networks_statistics(mnist1d):
    """cnn1d through vmap: SGD with momentum and weight decay, BatchNorm running statistics per network."""
    jobs, twins = jobs_and_twins("cnn1d", SGD_BN)
    stacked = train_stack(jobs, mnist1d, progress=False)
    assert_same_training(stacked, train_each(jobs, twins, mnist1d), jobs, twins, 1e-4)
    means = [job.model.features[1].running_mean for job in jobs]
    assert not torch.allclose(means[0], means[1])  # each network's own statistics, not one shared


def test_a_stack_crops_and_flips_each_networks_images_as_it_would_alone():
    """Augmentation (CIFAR-10's crops and flips) done for the whole stack at once draws, for each network,
    the crops and flips it draws alone."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, 32, 32, generator=generator), torch.randint(0, 10, (64,), generator=generator)
    data = Splits("random", x, y, x[:16], y[:16], x[:16], y[:16])
    config = TrainConfig(optimizer="sgd", lr=0.05, batch_size=16, iterations=6, eval_every=3, augment=True)
    jobs = [Job(build_model("conv2", (3, 32, 32), seed=s), config, data_seed=s) for s in (0, 1)]
    twins = [copy.deepcopy(job.model) for job in jobs]
    assert_same_training(train_stack(jobs, data, progress=False), train_each(jobs, twins, data), jobs, twins, 1e-4)


def test_a_stack_starts_where_its_jobs_start(mnist1d):
    """Rewound networks continue from iteration k: the schedule and the evaluations from there."""
    jobs, twins = jobs_and_twins("mlp", ADAM, start_iter=120)
    stacked = train_stack(jobs, mnist1d, progress=False)
    assert stacked[0].history[0]["iteration"] == 120
    assert_same_training(stacked, train_each(jobs, twins, mnist1d), jobs, twins, 1e-4)


def test_each_network_gets_its_full_gradient_not_a_share(mnist1d):
    """The stacked loss is the sum of the networks' losses: a stack of one and a stack of three move the
    same network by the same step (a mean over networks would make it a third)."""
    config = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0, batch_size=100, iterations=1, eval_every=1)
    alone = Job(build_model("mlp", (40,), seed=0), config)
    stacked = [Job(build_model("mlp", (40,), seed=s), config, data_seed=s) for s in (0, 1, 2)]
    train_stack([alone], mnist1d, progress=False)
    train_stack(stacked, mnist1d, progress=False)
    assert torch.allclose(alone.model.layers[1].weight, stacked[0].model.layers[1].weight, atol=1e-6)


def test_ltkit_stack_0_trains_one_at_a_time_and_groups_by_recipe(mnist1d, monkeypatch):
    stacks = []
    monkeypatch.setattr(
        "ltkit.engine.stacked.train_stack", lambda jobs, *a: stacks.append(len(jobs)) or [None] * len(jobs)
    )
    short = TrainConfig(iterations=10, eval_every=5, batch_size=100)
    jobs = [Job(build_model("mlp", (40,), seed=s), config) for s, config in enumerate([short, short, ADAM, short])]
    train_together(jobs, mnist1d)
    assert stacks == [3]  # the three with one recipe together; the other alone, with training.train
    monkeypatch.setenv("LTKIT_STACK", "2")
    stacks.clear()
    train_together(jobs, mnist1d)
    assert stacks == [2]  # and the third of them alone
    monkeypatch.setenv("LTKIT_STACK", "0")
    stacks.clear()
    results = train_together(jobs[:1], mnist1d, progress=False)
    assert stacks == [] and results[0].history[-1]["iteration"] == 10  # training.train did it


def test_stack_size_is_checked_and_only_small_mlps_stack_on_a_cpu(monkeypatch):
    monkeypatch.setenv("LTKIT_STACK", "many")
    with pytest.raises(LtkitError, match="LTKIT_STACK"):
        stack_size()
    monkeypatch.delenv("LTKIT_STACK")
    assert stack_size("cpu") > 1 and stack_size("cuda") > 1
    assert stacking_pays(build_model("mlp", (40,)), "cpu") and not stacking_pays(build_model("cnn1d", (40,)), "cpu")
    assert not stacking_pays(build_model("lenet300_100", (1, 28, 28)), "cpu")
    assert stacking_pays(build_model("cnn1d", (40,)), "cuda")


def test_sweeps_over_seeds_stack_their_arms_and_match_sweeps_run_alone(mnist1d, data_root, monkeypatch, count_training):
    """run_imps trains each round's arms of every seed as one stack; with LTKIT_STACK=0 the same sweeps,
    one network at a time, give the same rounds (to float tolerance over these 60 steps)."""
    short = TrainConfig(optimizer="adam", lr=1e-2, batch_size=100, iterations=60, eval_every=20)
    configs = [IMPConfig("mnist1d", "mlp", short, rounds=2, rates=0.5, seed=s) for s in (0, 1)]
    stacks = []
    real_train_stack = train_stack
    monkeypatch.setattr(
        "ltkit.engine.stacked.train_stack", lambda jobs, *a: stacks.append(len(jobs)) or real_train_stack(jobs, *a)
    )
    together = run_imps(configs, data=mnist1d)
    assert stacks == [2, 6, 6]  # the two dense networks, then each round's three arms of both seeds
    assert len(count_training) == 2 + 2 * 6
    monkeypatch.setenv("LTKIT_STACK", "0")
    alone = [run_imp(config, data=mnist1d, cache=False) for config in configs]
    for a, b in zip(together, alone):
        for ra, rb in zip(a.table(), b.table()):
            for key, value in asdict(ra).items():
                assert value == pytest.approx(getattr(rb, key), abs=0.003), (key, ra, rb)
