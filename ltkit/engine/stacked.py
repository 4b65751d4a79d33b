"""Several networks of one architecture trained in lockstep, as one stacked network.

Every experiment of the course trains many small networks of one architecture: a round of IMP trains a
ticket and two controls, a lesson repeats that over seeds, an instability analysis trains pairs of copies.
One at a time, a small network's step costs more in overhead (Python, one small kernel after another)
than in arithmetic. Stacked, the N networks' weights become one tensor per layer with a leading dimension
of N, and every step runs each layer once for all of them: batched matrix products for the fully
connected networks, `torch.func.vmap` (which turns convolutions into grouped ones) for the others.

Nothing is shared but the arithmetic. Each network keeps its own initial weights, mask, mini-batches (its
own data seed), optimizer state (Adam and SGD update every weight on its own, so one optimizer over the
stacked tensors is N separate ones), BatchNorm statistics, evaluations, early-stop weights and test
figures. The loss that is backpropagated is the *sum* of the networks' mean losses, so each network's
gradient is exactly the one it would get alone (a mean over networks would shrink each by N).

`train_together(jobs, data)` trains a list of Jobs as stacks of up to `stack_size()` networks;
$LTKIT_STACK=0 trains them one at a time with `training.train`, the loop this one is tested against step
for step (tests/test_stacked.py).
"""

import copy
import math
import os
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ltkit.engine.batches import augmentation_draws, crop_and_flip, stacked_batch_indices
from ltkit.engine.models import MLP
from ltkit.engine.progress import progress_bar
from ltkit.engine.training import (
    TrainConfig,
    TrainResult,
    check_start,
    evaluates_at,
    learning_rate,
    make_optimizer,
    on_replayed_graph,
    set_learning_rate,
    train,
)
from ltkit.errors import LtkitError


@dataclass
class Job:
    """One network to train: `model` holds the weights it starts from and is trained in place."""

    model: nn.Module
    config: TrainConfig
    mask: dict = None  # keep only these weights (as in training.train)
    data_seed: int = 0
    start_iter: int = 0
    desc: str = "training"
    finished: object = field(default=None, repr=False)  # called with the job as soon as it is trained
    result: TrainResult = field(default=None, repr=False)  # filled in by train_together


def stack_size(device="cpu"):
    """How many networks train as one stack: $LTKIT_STACK when set (0: none, one network at a time), else
    27 on a CPU (the largest stack of benchmarks/stacked.py; more adds little) and 16 on a GPU (whose
    memory a stack of 16 ResNet-20s at batch 128 fits on a 16 GB Colab T4)."""
    asked = os.environ.get("LTKIT_STACK")
    if asked is None:
        return 27 if torch.device(device).type == "cpu" else 16
    if not asked.isdigit():
        raise LtkitError(f"$LTKIT_STACK must be a whole number (0: train one network at a time); got {asked!r}")
    return int(asked)


def train_together(jobs, data, progress=True):
    """Train every job (each model in place); returns their TrainResults, in order.

    Jobs with the same recipe, start iteration and architecture train as one stack (several, if there are
    more than stack_size()) where stacking pays; a job alone, and every job with $LTKIT_STACK=0, trains
    with training.train. Each job's `finished` is called as soon as its stack is done (to cache it then).
    """
    size = stack_size(data.device)
    for group in compatible_groups(jobs):
        alone = size == 0 or not stacking_pays(group[0].model, data.device)
        chunks = [[job] for job in group] if alone else [group[i : i + size] for i in range(0, len(group), size)]
        for chunk in chunks:  # a stack of one is the network alone (training.train, itself a stack on a GPU)
            results = [train_alone(chunk[0], data, progress)] if len(chunk) == 1 else train_stack(chunk, data, progress)
            for job, result in zip(chunk, results):
                job.result = result
                if job.finished:
                    job.finished(job)
    return [job.result for job in jobs]


def save_result(run, step, results, key, job):
    """A Job's `finished` for an experiment that caches TrainResults: keep it as results[key], save it as
    `step` of `run` (a runs.Run)."""
    results[key] = job.result
    run.save(step, job.result)


def stacking_pays(model, device):
    """Whether a stack of this network trains faster than its networks one at a time. On a GPU, where a
    small network's step is bound by kernel launches, always. On a CPU only for small fully connected
    networks, whose step is bound by overhead (benchmarks/stacked.py, one thread: the MNIST-1D MLP, 15,000
    weights, 1.9x faster in stacks of 9); a larger network's step is arithmetic already, and a stack of
    LeNet-300-100s (266,000 weights) or of Conv-2s was 0.7-0.9x as fast as one network after another."""
    small = sum(p.numel() for p in model.parameters()) <= SMALL_NETWORK
    return torch.device(device).type != "cpu" or (isinstance(model, MLP) and small)


SMALL_NETWORK = 50_000  # weights: on a CPU, fully connected networks up to this size train faster stacked


def train_alone(job, data, progress):
    return train(job.model, data, job.config, job.mask, job.data_seed, job.start_iter, progress=progress, desc=job.desc)


def compatible_groups(jobs):
    """Jobs split into groups that can share a stack: same recipe, start and shapes of weights."""
    groups = {}
    for job in jobs:
        shapes = tuple((name, tuple(t.shape), t.dtype) for name, t in job.model.state_dict().items())
        groups.setdefault((job.config, job.start_iter, type(job.model), shapes), []).append(job)
    return list(groups.values())


class StackedNetwork:
    """N networks of one architecture as one: every parameter and buffer stacked along a first dimension.

    Not an nn.Module: it holds the stacked tensors and calls the architecture functionally. It has the
    two methods of one that training needs, parameters() (for the optimizer) and train(mode)."""

    def __init__(self, models):
        params, buffers = stack_module_state(models)  # copies; the parameters are leaves that need grads
        self.params = params
        self.tensors = {**params, **buffers}  # in the state_dict's names
        self.template = copy.deepcopy(models[0]).to("meta")  # the architecture, without weights
        self.size = len(models)

    def parameters(self):
        return list(self.params.values())

    def train(self, mode=True):
        self.template.train(mode)

    def __call__(self, x, tensors=None, shared=False):
        """Logits [N, B, classes] of inputs [N, B, ...], one batch per network, or with shared=True of one
        batch [B, ...] that every network sees (validation and test data)."""
        tensors = self.tensors if tensors is None else tensors
        if shared:  # one batch for all: a view of it per network, so that every stack takes one path
            x = x.expand(self.size, *x.shape)
        if isinstance(self.template, MLP):
            return self.fully_connected(x, tensors)
        one = lambda t, x: functional_call(self.template, t, (x,))  # noqa: E731
        return vmap(one)(tensors, x)

    def fully_connected(self, x, tensors):
        """An MLP's layers as batched matrix products: a third of vmap's time for these small networks."""
        h = x.flatten(2)
        for name, layer in self.template.layers.named_children():
            if isinstance(layer, nn.Linear):
                weight, bias = tensors[f"layers.{name}.weight"], tensors[f"layers.{name}.bias"]
                h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
            elif isinstance(layer, nn.ReLU):
                h = torch.relu(h)
            elif not isinstance(layer, nn.Flatten):
                raise LtkitError(f"stacked training has no batched form of {type(layer).__name__} layers yet")
        return h

    def snapshot(self):
        return {name: t.detach().clone() for name, t in self.tensors.items()}

    def state_dict(self, i):
        """Network i's weights and buffers, as its own state_dict."""
        return {name: t[i].detach().clone() for name, t in self.tensors.items()}


def stacked_mask(jobs, net):
    """The jobs' masks stacked, as float tensors (1 keeps), for every weight named in any job's mask (a
    job without a mask keeps all of them)."""
    names = sorted({name for job in jobs if job.mask for name in job.mask})
    ones = {name: torch.ones_like(net.params[name][0]) for name in names}
    return {
        name: torch.stack([job.mask[name].to(ones[name]) if job.mask else ones[name] for job in jobs]) for name in names
    }


def train_stack(jobs, data, progress=True):
    """Train jobs with the same recipe and start as one stack: the loop of training.train, for N networks."""
    config, start_iter = jobs[0].config, jobs[0].start_iter
    check_start(config, start_iter)
    net = StackedNetwork([job.model for job in jobs])
    mask = stacked_mask(jobs, net)
    with torch.no_grad():
        for name, keep in mask.items():
            net.params[name].mul_(keep)
    graphs = on_replayed_graph(data.device)
    optimizer = make_optimizer(net, config, capturable=graphs)
    batches = stacked_batches(data, config, [job.data_seed for job in jobs])
    step = StackStep(net, optimizer, mask, data, uses_mixed_precision(net.template, data.device))
    histories = [[] for _ in jobs]
    best, best_loss = net.snapshot(), torch.full((net.size,), math.inf, dtype=torch.float64)
    running = torch.zeros(net.size, 2, device=data.device)
    replayed = ReplayedSteps(step, running) if graphs else None
    steps_since_eval, lr = 0, None
    started = time.perf_counter()
    net.train()
    desc = jobs[0].desc if len(jobs) == 1 else f"{len(jobs)} networks stacked"
    bar = progress_bar(progress, desc, total=config.iterations - start_iter)
    for iteration in range(start_iter, config.iterations + 1):
        if evaluates_at(config, start_iter, iteration):
            rows = record_stack(net, data, iteration, running, steps_since_eval)
            val_loss = torch.tensor([row["val_loss"] for row in rows], dtype=torch.float64)
            keep_best(net, best, improved=val_loss < best_loss)
            best_loss = torch.minimum(best_loss, val_loss)
            for history, row in zip(histories, rows):
                history.append(row)
            running.zero_()
            steps_since_eval = 0
        if iteration == config.iterations:
            break
        if learning_rate(config, iteration) != lr:  # set only when it changes: on a GPU, each set is a launch
            lr = learning_rate(config, iteration)
            set_learning_rate(optimizer, lr)
        if replayed:
            replayed.step(*next(batches))
        else:
            running += step(*next(batches))
        steps_since_eval += 1
        bar.update(1)
    bar.close()
    seconds = (time.perf_counter() - started) / net.size  # each network's share of the stack's time, not its own
    early_stop_test = evaluate_stack(net, data.x_test, data.y_test, best)
    final_test = evaluate_stack(net, data.x_test, data.y_test)
    for i, job in enumerate(jobs):
        job.model.load_state_dict(net.state_dict(i))
    return [
        TrainResult(history=h, early_stop_test=e, final_test=f, seconds=seconds)
        for h, e, f in zip(histories, early_stop_test, final_test)
    ]


def stacked_batches(data, config, seeds):
    """Every network's next mini-batch, as what picks it: the examples' indices [N, B], and with
    augmentation each image's crop and flip [N, 3, B] (else None). Network i's are those that
    training.training_batches draws for seeds[i] (the same generator draws, in the same order); StackStep
    gathers the images, inside the CUDA graph where there is one."""
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    for idx in stacked_batch_indices(len(data.y_train), config.batch_size, generators, data.device):
        draws = None
        if config.augment:
            draws = torch.stack([augmentation_draws(config.batch_size, g) for g in generators]).to(data.device)
        yield idx, draws


def stacked_inputs(data, idx, draws):
    """The mini-batches that (idx, draws) pick: inputs [N, B, ...] and labels [N, B]."""
    x = data.x_train[idx]
    if draws is not None:  # every network's images cropped and flipped at once
        dy, dx, flip = draws.transpose(0, 1).flatten(1)
        x = crop_and_flip(x.flatten(0, 1), dy, dx, flip.bool()).view_as(x)
    return x, data.y_train[idx]


def uses_mixed_precision(model, device):
    """Whether a stack's forward pass computes in bfloat16 (autocast; the weights, the optimizer and the
    evaluations stay float32): for image convolutions on a GPU with native bfloat16 (Ampere and later),
    unless $LTKIT_MIXED_PRECISION=0. Their steps are arithmetic: on an H200 it halved a stack of six
    ResNet-20s' step (31.7 to 16.5 ms) and gained nothing for one network alone (README, "On a GPU"); the
    small fully connected networks' steps are launches, which it would not shorten. float16 would need a
    loss scaler, whose skipped steps a replayed graph cannot take, so a GPU without bfloat16 trains in
    float32."""
    if torch.device(device).type != "cuda" or os.environ.get("LTKIT_MIXED_PRECISION") == "0":
        return False
    convolutional = any(isinstance(module, nn.Conv2d) for module in model.modules())
    return convolutional and torch.cuda.is_bf16_supported(including_emulation=False)


class ReplayedSteps:
    """A stack's training step captured once as a CUDA graph, then replayed: one launch a step instead of
    a hundred small ones, which is what a small network's step on a GPU waits for.

    The graph reads its batch from fixed tensors, which each step overwrites. The first WARMUP steps
    run as usual, on a side stream, as CUDA graphs need: libraries initialise lazily, and the optimizer
    makes its state, on their first use. The learning rate is a tensor that the graph reads (and
    training.set_learning_rate fills), so a schedule needs no new capture."""

    WARMUP = 3

    def __init__(self, step, running):
        self.run_step, self.running = step, running
        self.done, self.batch, self.graph = 0, None, None

    def run(self, batch):
        self.running.add_(self.run_step(*batch))

    def step(self, *batch):
        """One step on the batch that `batch` (stacked_batches' indices and draws) picks."""
        if self.done < self.WARMUP:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.run(batch)
            torch.cuda.current_stream().wait_stream(side)
        else:
            if self.graph is None:
                self.batch, self.graph = [t if t is None else t.clone() for t in batch], torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph):  # recorded, not run
                    self.run(self.batch)
            for static, new in zip(self.batch, batch):
                if static is not None:
                    static.copy_(new)
            self.graph.replay()
        self.done += 1


class StackStep:
    """A stack's training step from what picks its batches (stacked_batches): gathering and augmenting the
    images, then stacked_step, in bfloat16 where `mixed`. All of it on the device, so a CUDA graph can
    hold all of it."""

    def __init__(self, net, optimizer, mask, data, mixed):
        self.net, self.optimizer, self.mask, self.data, self.mixed = net, optimizer, mask, data, mixed
        if mixed:  # BatchNorm normalises in float32, the type of its running statistics (vmap won't mix them)
            for module in net.template.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.register_forward_pre_hook(in_float32)

    def __call__(self, idx, draws):
        x, y = stacked_inputs(self.data, idx, draws)
        return stacked_step(self.net, self.optimizer, x, y, self.mask, self.mixed)


def in_float32(module, inputs):
    return tuple(x.float() for x in inputs)


def stacked_step(net, optimizer, x, y, mask, mixed=False):
    """One masked step of every network; returns [N, 2]: each one's batch loss and accuracy (no sync).
    mixed: the forward pass in bfloat16 (uses_mixed_precision)."""
    with torch.autocast("cuda", torch.bfloat16, enabled=mixed, cache_enabled=False):  # no cache: graphs
        logits = net(x)
    logits = logits.float()
    losses = F.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none").view(net.size, -1).mean(1)
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()  # the sum, not the mean: each network's gradient as if it trained alone
    for name, keep in mask.items():
        net.params[name].grad.mul_(keep)
    optimizer.step()
    accuracy = (logits.argmax(-1) == y).float().flatten(1).mean(1)
    return torch.stack([losses.detach(), accuracy], 1)


@torch.no_grad()
def keep_best(net, best, improved):
    """Copy the weights of the networks whose validation loss improved into `best` (early stopping)."""
    improved = improved.to(next(iter(best.values())).device)
    for name, tensor in net.tensors.items():
        best[name][improved] = tensor[improved]


@torch.no_grad()
def evaluate_stack(net, x, y, tensors=None):
    """Each network's (mean cross-entropy loss, accuracy) on (x, y), in evaluation mode: a list of N pairs.
    The chunks shrink with the stack, so that it holds as many examples at once as one network would on
    a CPU (2000), and five times that on a GPU, where fewer, larger chunks mean fewer launches."""
    was_training = net.template.training
    net.train(False)
    batch_size = 2000 if x.device.type == "cpu" else 10_000
    loss_sums, corrects = [], []  # per chunk, kept on the device: one copy to the host at the end, not one a chunk
    chunk = max(100, batch_size // net.size)
    for start in range(0, len(y), chunk):
        logits = net(x[start : start + chunk], tensors, shared=True)
        labels = y[start : start + chunk]
        labels = labels.expand(net.size, *labels.shape)  # every network is judged on the same labels
        losses = F.cross_entropy(logits.flatten(0, -2), labels.flatten(), reduction="none")
        loss_sums.append(losses.view(net.size, -1).sum(1))
        corrects.append((logits.argmax(-1) == labels).flatten(1).sum(1))
    net.train(was_training)
    loss_sum = torch.stack(loss_sums).cpu().double().sum(0)  # summed on the CPU: not every GPU has float64
    correct = torch.stack(corrects).cpu().sum(0)
    return [(loss / y.numel(), hits / y.numel()) for loss, hits in zip(loss_sum.tolist(), correct.tolist())]


def record_stack(net, data, iteration, running, steps):
    """One row of every network's learning curve (as training.record makes for one)."""
    train_figures = (running / steps).tolist() if steps else [[math.nan, math.nan]] * net.size
    validation = evaluate_stack(net, data.x_val, data.y_val)
    return [
        dict(iteration=iteration, train_loss=tl, train_acc=ta, val_loss=vl, val_acc=va)
        for (tl, ta), (vl, va) in zip(train_figures, validation)
    ]
