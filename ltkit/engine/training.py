"""One training loop, for dense and pruned networks alike.

Lengths are counted in iterations (mini-batch steps), as the papers count them. The loop can start at
iteration k (to continue from weights rewound to iteration k, with the learning-rate schedule where it was),
and train with a mask: the gradients of
pruned weights are zeroed before every step, so those weights stay exactly zero and so does the optimizer
state behind them (Adam's moments, SGD's momentum, weight decay: all are zero for a zero weight with a
zero gradient).

The network is evaluated on validation data every `eval_every` iterations; the early-stop iteration is
the one of minimum validation loss (Frankle & Carbin). The test set is only measured after training, on
the weights of the early-stop iteration and on the final weights, so nothing is ever chosen by it.
"""

import copy
import os
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ltkit.engine.batches import augment_images, batch_indices
from ltkit.engine.masks import apply_mask
from ltkit.engine.progress import progress_bar
from ltkit.errors import LtkitError
from ltkit.settings import Settings


@dataclass(frozen=True)
class TrainConfig(Settings):
    optimizer: str = "adam"  # "adam" or "sgd" (with momentum)
    lr: float = 1.2e-3
    batch_size: int = 60
    iterations: int = 5000
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    milestones: tuple = ()  # iterations at which the learning rate is multiplied by gamma
    gamma: float = 0.1
    warmup: int = 0  # iterations of linear learning-rate warm-up
    eval_every: int = 500
    augment: bool = False  # random crops and flips (CIFAR-10)

    def __post_init__(self):
        if self.optimizer not in ("adam", "sgd"):
            raise LtkitError(f"unknown optimizer {self.optimizer!r}; use 'adam' or 'sgd'")
        for name in ("lr", "batch_size", "iterations", "eval_every"):
            if not getattr(self, name) > 0:
                raise LtkitError(f"{name} must be positive; got {getattr(self, name)}")


def iterations_for(epochs, n_train, batch_size):
    """Iterations in `epochs` passes over `n_train` examples (the last partial batch of each is dropped)."""
    if not epochs > 0:
        raise LtkitError(f"epochs must be positive; got {epochs}")
    return max(1, round(epochs * (n_train // batch_size)))


def resize(config, iterations, evaluations=None):
    """The same run at another length: milestones scaled along, and `evaluations` evaluations per run
    (default: as many as `config` has). The early-stop iteration is then located to within 1/evaluations
    of training (Frankle & Carbin evaluate every 100 of LeNet's 50,000 iterations: 500 times, 0.2%)."""
    scale = iterations / config.iterations
    evaluations = evaluations or max(1, config.iterations // config.eval_every)
    return replace(
        config,
        iterations=iterations,
        milestones=tuple(round(m * scale) for m in config.milestones),
        eval_every=max(1, iterations // evaluations),
    )


def learning_rate(config, iteration):
    """The learning rate at `iteration`: linear warm-up, then steps down by gamma at each milestone."""
    lr = config.lr * config.gamma ** sum(1 for m in config.milestones if iteration >= m)
    if config.warmup and iteration < config.warmup:
        lr *= (iteration + 1) / config.warmup
    return lr


def make_optimizer(model, config, capturable=False):
    """Adam or SGD; the fused implementations take a third of the time of the default ones on a CPU.
    capturable: for steps captured in a CUDA graph; the learning rate is then a tensor on the weights'
    device, which the graph reads at every replay."""
    params = list(model.parameters())
    lr = torch.tensor(config.lr, device=params[0].device) if capturable else config.lr
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=config.weight_decay, fused=True, capturable=capturable)
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=config.weight_decay, fused=True)


def train_step(model, optimizer, x, y, mask=None):
    """One masked step; returns the batch's (loss, accuracy) as tensors (no device sync)."""
    logits = model(x)
    loss = F.cross_entropy(logits.flatten(0, -2), y.flatten())  # flattened: a sequence's every position counts
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if mask:
        params = dict(model.named_parameters())
        for name, keep in mask.items():
            params[name].grad.mul_(keep)
    optimizer.step()
    return loss.detach(), (logits.argmax(-1) == y).float().mean()


@torch.no_grad()
def evaluate(model, x, y, batch_size=2000):
    """Mean cross-entropy loss and accuracy of `model` on (x, y), in evaluation mode (per example, or per
    predicted position where y holds sequences)."""
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        logits, labels = model(x[start : start + batch_size]), y[start : start + batch_size]
        loss_sum += F.cross_entropy(logits.flatten(0, -2), labels.flatten(), reduction="sum").item()
        correct += (logits.argmax(-1) == labels).sum().item()
    model.train(was_training)
    return loss_sum / y.numel(), correct / y.numel()


@dataclass
class TrainResult:
    """What a training run measured. Accuracies are fractions.

    The test set is measured only after training, twice: with the weights of the early-stop iteration
    (kept when the validation loss reached its minimum) and with the final weights.
    """

    history: list  # one row per evaluation: iteration, train_loss, train_acc, val_loss, val_acc
    early_stop_test: tuple  # (loss, accuracy) on the test set, weights of the early-stop iteration
    final_test: tuple  # (loss, accuracy) on the test set, final weights
    seconds: float

    @property
    def final(self):
        """The last evaluation, at the end of training."""
        return self.history[-1]

    @property
    def early_stop(self):
        """The evaluation with the lowest validation loss: where early stopping would have stopped."""
        return min(self.history, key=lambda h: h["val_loss"])

    @property
    def test_acc(self):
        """Test accuracy at the early-stop iteration, as Frankle & Carbin report it (chosen by validation
        loss, never by test accuracy)."""
        return self.early_stop_test[1]

    @property
    def final_test_acc(self):
        """Test accuracy at the end of training, the measure of "matching" in Frankle et al. (2020)."""
        return self.final_test[1]

    @property
    def early_stop_iter(self):
        return self.early_stop["iteration"]

    @property
    def start_val_acc(self):
        """Validation accuracy before the first step: what the network knew before this training run."""
        return self.history[0]["val_acc"]

    def summary(self):
        """The figures reported for a run (what the command line's JSON holds)."""
        return dict(
            test_acc=self.test_acc,
            val_acc=self.early_stop["val_acc"],
            early_stop_iter=self.early_stop_iter,
            final_test_acc=self.final_test_acc,
            final_val_acc=self.final["val_acc"],
            start_val_acc=self.start_val_acc,
        )


def train(
    model,
    data,
    config,
    mask=None,
    data_seed=0,
    start_iter=0,
    watch_test=False,
    progress=True,
    desc="training",
):
    """Train `model` in place from iteration `start_iter` to `config.iterations` on `data` (Splits).

    mask: keep only these weights (zeroed now, kept at zero throughout).
    data_seed: the order of mini-batches (and augmentations); two runs differing only here see the same
        data in a different order, and two runs with the same seed see the same batches step for step.
    watch_test: also put test loss and accuracy in every row of the history. Only for showing why that
        is a bad idea (lesson 01): choosing anything by them would fit the test set.
    """
    check_start(config, start_iter)
    if on_replayed_graph(data.device) and not watch_test:
        # on a GPU one network alone would wait on a launch per kernel: it trains as a stack of one, whose
        # step replays a CUDA graph (ltkit.engine.stacked builds on this module, hence the late import)
        from ltkit.engine.stacked import Job, train_stack

        return train_stack([Job(model, config, mask, data_seed, start_iter, desc)], data, progress)[0]
    if mask:
        apply_mask(model, mask)
    optimizer = make_optimizer(model, config)
    batches = training_batches(data, config, data_seed)
    history, best_state = [], None
    running = torch.zeros(2, device=data.device)
    steps_since_eval = 0
    started = time.perf_counter()
    model.train()
    bar = progress_bar(progress, desc, total=config.iterations - start_iter)
    for iteration in range(start_iter, config.iterations + 1):
        if evaluates_at(config, start_iter, iteration):
            row = record(model, data, iteration, running, steps_since_eval, watch_test)
            if not history or row["val_loss"] < min(h["val_loss"] for h in history):
                best_state = copy.deepcopy(model.state_dict())  # the early-stop weights so far
            history.append(row)
            running.zero_()
            steps_since_eval = 0
            bar.set_postfix(val_acc=f"{history[-1]['val_acc']:.3f}")
        if iteration == config.iterations:
            break
        set_learning_rate(optimizer, learning_rate(config, iteration))
        loss, acc = train_step(model, optimizer, *next(batches), mask)
        running += torch.stack([loss, acc])
        steps_since_eval += 1
        bar.update(1)
    bar.close()
    seconds = time.perf_counter() - started
    early_stopped = copy.deepcopy(model)
    early_stopped.load_state_dict(best_state)
    return TrainResult(
        history=history,
        early_stop_test=evaluate(early_stopped, data.x_test, data.y_test),
        final_test=evaluate(model, data.x_test, data.y_test),
        seconds=seconds,
    )


def on_replayed_graph(device):
    """Whether training on `device` replays its steps as a CUDA graph: on a CUDA GPU, unless
    $LTKIT_CUDA_GRAPHS=0 (then every kernel is launched on its own, as on a CPU)."""
    return torch.device(device).type == "cuda" and os.environ.get("LTKIT_CUDA_GRAPHS") != "0"


def check_start(config, start_iter):
    if not 0 <= start_iter <= config.iterations:
        raise LtkitError(f"start iteration {start_iter} is outside the run's 0..{config.iterations} iterations")


def evaluates_at(config, start_iter, iteration):
    """Whether a run started at `start_iter` evaluates at `iteration`: at its start, every eval_every
    iterations, and at its end."""
    return iteration == start_iter or iteration % config.eval_every == 0 or iteration == config.iterations


def training_batches(data, config, seed):
    """Mini-batches (x, y) of the training split, forever, in the order `seed` gives; augmented when the
    config says so."""
    generator = torch.Generator().manual_seed(seed)
    for idx in batch_indices(len(data.y_train), config.batch_size, generator, data.device):
        x = data.x_train[idx]
        yield (augment_images(x, generator) if config.augment else x), data.y_train[idx]


def set_learning_rate(optimizer, lr):
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):  # read by a CUDA graph: changed in place, where the graph looks
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def record(model, data, iteration, running, steps, watch_test=False):
    """One row of the learning curve: training figures averaged since the last row, then validation."""
    train_loss, train_acc = (running / steps).tolist() if steps else (float("nan"), float("nan"))
    val_loss, val_acc = evaluate(model, data.x_val, data.y_val)
    row = dict(iteration=iteration, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc)
    if watch_test:
        row["test_loss"], row["test_acc"] = evaluate(model, data.x_test, data.y_test)
    return row
