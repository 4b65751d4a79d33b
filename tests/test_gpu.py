"""The GPU paths Colab users take. Skipped where there is no CUDA device (as in CI)."""

import pytest
import torch

from ltkit.data import augment_images, load_dataset
from ltkit.lottery import IMPConfig, pruned_accuracy, run_imp, train_dense
from ltkit.models import build_model
from ltkit.train import TrainConfig, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture
def mnist1d(data_root):
    return load_dataset("mnist1d", device=CUDA)


def test_datasets_live_on_the_gpu(mnist1d):
    assert mnist1d.x_train.is_cuda and mnist1d.y_test.is_cuda


def test_imp_on_the_gpu_keeps_masks_exact_and_caches(mnist1d):
    config = IMPConfig(
        dataset="mnist1d",
        model="mlp",
        train=TrainConfig(iterations=60, batch_size=50, eval_every=20),
        rounds=2,
        rates=0.5,
        rewind_iter=5,
    )
    result = run_imp(config, data=mnist1d, progress=False)
    last = result.rounds[-1]
    assert all(m.is_cuda for m in last["mask"].values())
    for name, keep in last["mask"].items():
        assert last["ticket_state"][name].is_cuda
        assert torch.count_nonzero(last["ticket_state"][name][~keep]) == 0
    again = run_imp(config, data=mnist1d, progress=False)  # from the cache, back onto the GPU
    assert again.to_json() == result.to_json() and again.rounds[1]["mask"]["layers.1.weight"].is_cuda


def test_one_shot_pruning_and_the_dense_network_on_the_gpu(mnist1d):
    model, record = train_dense(mnist1d, "mlp", "ci", progress=False)
    assert next(model.parameters()).is_cuda and record["test_acc"] > 0.5
    accuracy, mask = pruned_accuracy(model, mnist1d, 0.1, "global")
    assert 0 < accuracy < record["final_test_acc"] and mask["layers.1.weight"].is_cuda


def test_resnet20_trains_with_augmentation_on_the_gpu():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, 32, 32, generator=generator).to(CUDA)
    assert augment_images(x, generator).is_cuda
    from ltkit.data import Splits

    y = torch.randint(0, 10, (256,), generator=generator).to(CUDA)
    data = Splits("random", x, y, x[:64], y[:64], x[:64], y[:64])
    model = build_model("resnet20", (3, 32, 32), device=CUDA)
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
    assert len(result.history) == 3 and result.final["train_loss"] == result.final["train_loss"]  # not nan


def test_instability_curves_and_fge_run_on_the_gpu(mnist1d):
    from ltkit.connectivity import ConnectivityConfig, run_curve, run_fge, run_instability

    short = TrainConfig(lr=1e-2, batch_size=50, iterations=60, eval_every=20)
    config = ConnectivityConfig(
        dataset="mnist1d", model="mlp", train=short, points=5, train_examples=500, fge_cycles=2, fge_cycle=10, rates=0.5
    )
    rows = run_instability(config, [0, 20], weights_remaining=0.3, data=mnist1d, progress=False)
    assert all(0 <= row[arm]["barrier"] <= 1 for row in rows for arm in ("dense", "ticket"))
    curve = run_curve(config, "bezier", data=mnist1d, progress=False)
    assert curve["bend"]["layers.1.weight"].is_cuda and len(curve["curve"]["t"]) == 5
    fge = run_fge(config, data=mnist1d, progress=False)
    assert len(fge["snapshots"]) == 2 and 0 < fge["fge_acc"] <= 1


def test_a_resnet_line_recomputes_batchnorm_on_the_gpu():
    from ltkit.connectivity import evaluate_line
    from ltkit.data import Splits

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(128, 3, 32, 32, generator=generator).to(CUDA)
    y = torch.randint(0, 10, (128,), generator=generator).to(CUDA)
    data = Splits("random", x, y, x[:32], y[:32], x[:64], y[:64])
    ends = [build_model("resnet20", (3, 32, 32), seed=s, device=CUDA).state_dict() for s in (0, 1)]
    line = evaluate_line(build_model("resnet20", (3, 32, 32), device=CUDA), *ends, data, points=3, train_examples=128)
    assert len(line["test_err"]) == 3 and line["barrier"] >= 0


def test_a_result_cached_on_the_gpu_loads_on_a_cpu(data_root):
    from ltkit.runs import Run

    run = Run("demo", {"gpu": True})
    run.save("step", {"w": torch.ones(3, device=CUDA)})
    assert run.load("step")["w"].device.type == "cpu" and run.load("step", CUDA)["w"].is_cuda


def test_a_curve_loaded_from_the_cache_comes_back_on_the_gpu(mnist1d):
    from ltkit.connectivity import ConnectivityConfig, run_curve, run_plane

    short = TrainConfig(lr=1e-2, batch_size=50, iterations=40, eval_every=20)
    config = ConnectivityConfig(
        dataset="mnist1d", model="mlp", train=short, points=3, train_examples=500, plane_resolution=3
    )
    run_curve(config, data=mnist1d, progress=False)
    again = run_curve(config, data=mnist1d, progress=False)  # from the cache
    assert again["bend"]["layers.1.weight"].is_cuda
    assert len(run_plane(config, data=mnist1d, progress=False)["test_err"]) == 3
