"""The GPU paths Colab users take. Skipped where there is no CUDA device (as in CI)."""

import copy
from dataclasses import dataclass

import pytest
import torch

from ltkit.engine.batches import augment_images
from ltkit.engine.datasets import Splits, load_dataset
from ltkit.engine.models import build_model
from ltkit.engine.stacked import train_stack
from ltkit.engine.training import TrainConfig, evaluate, train
from ltkit.experiments.curves import CurveConfig, run_curve
from ltkit.experiments.dense import train_dense
from ltkit.experiments.fge import FGEConfig, run_fge
from ltkit.experiments.imp import ARMS, IMPConfig, run_imp
from ltkit.experiments.instability import InstabilityConfig, run_instability
from ltkit.experiments.oneshot import pruned_accuracy, pruned_copy
from ltkit.experiments.paths import evaluate_line, recompute_batchnorm
from ltkit.experiments.plane import PlaneConfig, run_plane
from ltkit.store.runs import Run
from tests.test_stacked import ADAM, SGD_BN, jobs_and_twins

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
GPU = torch.device("cuda")
SHORT = TrainConfig(lr=1e-2, batch_size=50, iterations=60, eval_every=20)


def on_gpu(tensor):
    return tensor.device.type == GPU.type


def barrier_of(test_err):
    return max(test_err) - (test_err[0] + test_err[-1]) / 2


@dataclass
class Saved:
    weights: dict


@pytest.fixture
def mnist1d(data_root):
    return load_dataset("mnist1d", device=GPU)


def random_images(n_train, n_test):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n_train, 3, 32, 32, generator=generator).to(GPU)
    y = torch.randint(0, 10, (n_train,), generator=generator).to(GPU)
    return Splits("random", x, y, x[:32], y[:32], x[:n_test], y[:n_test])


def test_datasets_live_on_the_gpu(mnist1d):
    assert on_gpu(mnist1d.x_train) and on_gpu(mnist1d.y_test)


def test_imp_on_the_gpu_keeps_masks_exact_and_caches(mnist1d):
    config = IMPConfig(dataset="mnist1d", model="mlp", train=SHORT, rounds=2, rates=0.5, rewind_iter=5)
    result = run_imp(config, data=mnist1d, progress=False)
    last = result.rounds[-1]
    assert all(on_gpu(m) for arm in ARMS for m in last.masks[arm].values())
    for arm in ARMS:
        for name, keep in last.masks[arm].items():
            assert on_gpu(last.states[arm][name]) and torch.count_nonzero(last.states[arm][name][~keep]) == 0
    ticket = result.ticket(last.weights_remaining)
    for name, value in ticket.state_dict().items():
        assert on_gpu(value)
        keep = last.mask.get(name, torch.ones_like(value, dtype=torch.bool))
        assert torch.count_nonzero(value[~keep]) == 0 and torch.equal(value[keep], result.rewind_state[name][keep])
    again = run_imp(config, data=mnist1d, progress=False)  # from the cache, back onto the GPU
    assert again.to_json() == result.to_json() and on_gpu(again.rounds[1].mask["layers.1.weight"])
    assert on_gpu(again.rounds[2].states["reinit"]["layers.1.weight"]) and on_gpu(again.rewind_state["layers.1.bias"])


def test_one_shot_pruning_and_the_dense_network_on_the_gpu(mnist1d):
    model, result = train_dense(mnist1d, "mlp", "ci", progress=False)
    assert on_gpu(next(model.parameters())) and result.test_acc > 0.5
    assert evaluate(model, mnist1d.x_test, mnist1d.y_test) == pytest.approx(result.final_test, rel=1e-5)
    accuracy, mask = pruned_accuracy(model, mnist1d, 0.1, "global")
    assert on_gpu(mask["layers.1.weight"])
    assert accuracy == evaluate(pruned_copy(model, mask), mnist1d.x_test, mnist1d.y_test)[1]
    cpu_accuracy, cpu_mask = pruned_accuracy(copy.deepcopy(model).cpu(), mnist1d.to("cpu"), 0.1, "global")
    assert all(torch.equal(cpu_mask[name], keep.cpu()) for name, keep in mask.items())  # the same ranking
    assert cpu_accuracy == pytest.approx(accuracy, abs=0.002)  # and the same predictions, but for rounding


def test_resnet20_trains_with_augmentation_on_the_gpu():
    data = random_images(256, 64)
    assert on_gpu(augment_images(data.x_train, torch.Generator().manual_seed(0)))
    model = build_model("resnet20", (3, 32, 32), device=GPU)
    config = TrainConfig(
        optimizer="sgd",
        lr=0.1,
        weight_decay=1e-4,
        batch_size=64,
        iterations=8,
        eval_every=4,
        augment=True,
        milestones=(6,),
    )
    result = train(model, data, config, progress=False)
    assert [row["iteration"] for row in result.history] == [0, 4, 8]
    assert result.final["train_loss"] == result.final["train_loss"]  # not nan


def test_instability_curves_and_fge_run_on_the_gpu(mnist1d):
    instability = InstabilityConfig(
        "mnist1d",
        "mlp",
        SHORT,
        points=5,
        train_examples=500,
        rates=0.5,
        pairs=2,
        rewind_iters=(0, 20),
        weights_remaining=0.3,
    )
    for row in run_instability(instability, data=mnist1d, progress=False).rows:
        for arm in ("dense", "ticket", "random_mask", "reinit"):
            result = row[arm]
            barriers = [barrier_of(line.test_err) for line in result.lines]
            assert result.barriers == barriers and result.barrier == pytest.approx(sum(barriers) / 2)
        assert row["ticket"].weights_remaining == pytest.approx(0.25, abs=0.01)
    curve = run_curve(CurveConfig("mnist1d", "mlp", SHORT, points=5, train_examples=500), data=mnist1d, progress=False)
    assert on_gpu(curve.bend["layers.1.weight"]) and curve.curve.t == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert curve.curve.ends_test_err == curve.line.ends_test_err
    config = FGEConfig("mnist1d", "mlp", SHORT, cycles=2, cycle=10)
    fge = run_fge(config, data=mnist1d, progress=False)
    assert [s["iteration"] for s in fge.snapshots] == [5, 15] and fge.budget == 60 + 20
    assert fge.best_snapshot_acc == max(s["test_acc"] for s in fge.snapshots)


@pytest.fixture
def exact_convolutions():
    """Full float32 convolutions, always by the same algorithm (no TF32), so the GPU can match the CPU."""
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False):
        yield


def test_a_resnet_line_recomputes_batchnorm_on_the_gpu_as_on_the_cpu(exact_convolutions):
    data = random_images(128, 64)
    ends = [build_model("resnet20", (3, 32, 32), seed=s, device=GPU).state_dict() for s in (0, 1)]
    scratch = build_model("resnet20", (3, 32, 32), device=GPU)
    line = evaluate_line(scratch, *ends, data, points=3, train_examples=128)
    own = []
    for state in (ends[0], {n: (a + ends[1][n]) / 2 if a.is_floating_point() else a for n, a in ends[0].items()}):
        network = build_model("resnet20", (3, 32, 32), device=GPU)
        network.load_state_dict(state)
        recompute_batchnorm(network, data.x_train)
        own.append(evaluate(network, data.x_test, data.y_test))
    assert [line.test_loss[0], line.test_loss[1]] == pytest.approx([own[0][0], own[1][0]], rel=1e-4)
    assert [line.test_err[0], line.test_err[1]] == [1 - own[0][1], 1 - own[1][1]]
    to_itself = evaluate_line(scratch, ends[1], ends[1], data, points=3, train_examples=128)
    assert to_itself.barrier == 0.0 and to_itself.test_err == [line.test_err[-1]] * 3

    on_cpu = evaluate_line(
        build_model("resnet20", (3, 32, 32)),
        *[{n: v.cpu() for n, v in state.items()} for state in ends],
        data.to("cpu"),
        points=3,
        train_examples=128,
    )
    assert on_cpu.test_loss == pytest.approx(line.test_loss, rel=1e-3)
    assert on_cpu.test_err == pytest.approx(line.test_err, abs=2 / 64)  # a prediction or two may flip


def test_a_result_cached_on_the_gpu_loads_on_a_cpu(data_root):
    run = Run("demo", {"gpu": True}, records=(Saved,))
    run.save("step", {"w": torch.ones(3, device=GPU)})
    assert run.load("step")["w"].device.type == "cpu" and on_gpu(run.load("step", GPU)["w"])
    run.save("record", Saved({"w": torch.ones(2, device=GPU)}))
    assert run.load("record").weights["w"].device.type == "cpu" and on_gpu(run.load("record", GPU).weights["w"])


def test_a_curve_and_its_plane_loaded_from_the_cache_come_back_on_the_gpu(mnist1d):
    config = PlaneConfig("mnist1d", "mlp", SHORT, points=3, train_examples=500, resolution=3)
    first = run_curve(config.as_curve(), data=mnist1d, progress=False)
    again = run_curve(config.as_curve(), data=mnist1d, progress=False)  # from the cache
    assert on_gpu(again.bend["layers.1.weight"]) and torch.equal(
        again.bend["layers.1.weight"], first.bend["layers.1.weight"]
    )
    plane = run_plane(config, data=mnist1d, progress=False)
    assert len(plane.test_err) == 3 and all(len(row) == 3 for row in plane.test_err)
    assert run_plane(config, data=mnist1d, progress=False) == plane


@pytest.mark.parametrize("model_name, recipe", [("mlp", ADAM), ("cnn1d", SGD_BN)])
def test_a_stack_replayed_as_a_cuda_graph_trains_as_it_does_step_by_step(mnist1d, monkeypatch, model_name, recipe):
    """The graph reads its batches, masks and the learning rate after the drop (Adam, and SGD with
    momentum, weight decay and BatchNorm through vmap), and trains as the stack does launch by launch."""

    def trained(graphs):
        monkeypatch.setenv("LTKIT_CUDA_GRAPHS", "1" if graphs else "0")
        jobs, _ = jobs_and_twins(model_name, recipe, device=GPU)
        return jobs, train_stack(jobs, mnist1d, progress=False)

    graphed_jobs, graphed = trained(graphs=True)
    eager_jobs, eager = trained(graphs=False)
    for a, b in zip(graphed, eager, strict=True):
        assert [row["val_loss"] for row in a.history] == pytest.approx([row["val_loss"] for row in b.history], rel=1e-4)
        assert a.final_test == pytest.approx(b.final_test, rel=1e-4)
    for a, b in zip(graphed_jobs, eager_jobs):
        for (key, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
            assert torch.allclose(x.float(), y.float(), rtol=1e-4, atol=1e-5), key
        for name, keep in (a.mask or {}).items():  # pruned weights stayed exactly zero
            assert not a.model.state_dict()[name][~keep].any()


@pytest.mark.parametrize("model_name, recipe, start", [("mlp", ADAM, 120), ("cnn1d", SGD_BN, 0)])
def test_one_network_alone_trains_as_a_replayed_stack_of_one_as_it_does_launch_by_launch(
    mnist1d, monkeypatch, model_name, recipe, start
):
    """training.train on a GPU is a stack of one replayed as a CUDA graph: rewound, masked, through a
    learning-rate drop, it trains as the same network launched kernel by kernel."""

    def trained(graphs):
        monkeypatch.setenv("LTKIT_CUDA_GRAPHS", "1" if graphs else "0")
        (_, job), _ = jobs_and_twins(model_name, recipe, seeds=(0, 1), start_iter=start, device=GPU)
        result = train(job.model, mnist1d, job.config, job.mask, job.data_seed, start, progress=False)
        return job, result

    (graphed_job, graphed), (eager_job, eager) = trained(graphs=True), trained(graphs=False)
    assert [row["iteration"] for row in graphed.history] == [row["iteration"] for row in eager.history]
    assert [row["val_loss"] for row in graphed.history] == pytest.approx(
        [row["val_loss"] for row in eager.history], rel=1e-4
    )
    assert graphed.early_stop_iter == eager.early_stop_iter and graphed.final_test == pytest.approx(
        eager.final_test, rel=1e-4
    )
    weights = graphed_job.model.state_dict()
    for name, value in eager_job.model.state_dict().items():
        assert torch.allclose(weights[name].float(), value.float(), rtol=1e-4, atol=1e-5), name
    for name, keep in graphed_job.mask.items():
        assert not weights[name][~keep].any()


def test_image_convolutions_train_in_bfloat16_inside_the_graph_with_their_augmentation(monkeypatch):
    """Conv-2 with crops and flips: bfloat16 forward passes where the GPU has them (float32 weights), the
    graph's step (gathering and augmenting inside it) equal to the eager one, and close to float32."""
    from ltkit.engine.stacked import uses_mixed_precision

    data = random_images(512, 64)
    config = TrainConfig(optimizer="sgd", lr=0.05, batch_size=64, iterations=40, eval_every=20, augment=True)
    assert not uses_mixed_precision(build_model("mlp", (40,)), GPU)
    assert not uses_mixed_precision(build_model("cnn1d", (40,)), GPU)
    assert uses_mixed_precision(build_model("conv2", (3, 32, 32)), GPU) == torch.cuda.is_bf16_supported(False)

    def trained(graphs, mixed):
        monkeypatch.setenv("LTKIT_CUDA_GRAPHS", "1" if graphs else "0")
        monkeypatch.setenv("LTKIT_MIXED_PRECISION", "1" if mixed else "0")
        from ltkit.engine.stacked import Job

        jobs = [Job(build_model("conv2", (3, 32, 32), seed=s, device=GPU), config, data_seed=s) for s in (0, 1)]
        return jobs, train_stack(jobs, data, progress=False)

    (jobs, graphed), (_, eager), (_, full) = trained(True, True), trained(False, True), trained(True, False)
    assert all(p.dtype == torch.float32 for job in jobs for p in job.model.parameters())
    for a, b, c in zip(graphed, eager, full, strict=True):
        losses = [row["train_loss"] for row in a.history[1:]]
        assert losses == pytest.approx([row["train_loss"] for row in b.history[1:]], rel=1e-3)
        assert losses == pytest.approx([row["train_loss"] for row in c.history[1:]], rel=0.05)
