"""The settings every experiment runs with: the papers' recipes, and the three sizes of the course.

- `paper`: the papers' settings at full length, for a GPU (Colab).
- `class` (the default): a laptop CPU; each lesson in a few minutes.
- `ci`: the whole course in minutes on 2 CPU cores, where every lesson's claim must still hold.
Only lengths change between profiles (iterations, rounds, seeds); optimiser, learning rate, batch size
and pruning rates stay the papers' (or, for the MNIST-1D MLP, this kit's own calibrated choice).
"""

import os
from dataclasses import replace

from ltkit.engine.datasets import training_set_size
from ltkit.engine.models import REGISTERED_MODELS, check_model_name, check_pair
from ltkit.engine.training import TrainConfig, iterations_for, resize
from ltkit.errors import LtkitError
from ltkit.settings import check_fields

PROFILES = ("ci", "class", "paper")
DEFAULT_PROFILE = "class"

# Seeds. Every recipe choice of this kit was made on CALIBRATION_SEEDS only. The lessons run from
# LESSON_SEED (a lesson over n seeds uses LESSON_SEED .. LESSON_SEED + n - 1), and benchmarks/claims.py
# replays their claims on seeds from 100 on: no claim is ever checked on a seed it was tuned on.
CALIBRATION_SEEDS = tuple(range(10))
LESSON_SEED = 10

# Frankle et al. 2020: ResNet-20, SGD 0.1 momentum 0.9, weight decay 1e-4, batch 128, 160 epochs
# (about 62.5K iterations on 50K images), learning rate x0.1 at epochs 80 and 120; augmented images.
RESNET20_TRAIN = TrainConfig(
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=128,
    iterations=62_400,
    milestones=(31_200, 46_800),
    eval_every=100,
    augment=True,
)


def conv_recipe(lr, iterations, conv_rate):
    """Frankle & Carbin's recipe for their Conv-2/4/6 networks: Adam, batch 60, layerwise pruning."""
    train = TrainConfig(optimizer="adam", lr=lr, batch_size=60, iterations=iterations, eval_every=100)
    return dict(train=train, rates=dict(conv=conv_rate, fc=0.2, output=0.1), scope="layerwise")


# The papers' settings per model: training, pruning rates per round (fraction of remaining weights).
RECIPES = {
    # Frankle & Carbin 2019: LeNet-300-100, Adam 1.2e-3, batch 60, 50K iterations; fc 20%, output 10%.
    "lenet300_100": dict(
        train=TrainConfig(optimizer="adam", lr=1.2e-3, batch_size=60, iterations=50_000, eval_every=100),
        rates=dict(fc=0.2, output=0.1),
        scope="layerwise",
    ),
    # This kit's CPU stand-in, pruned like LeNet: Adam, batch 100, 3000 iterations (86 epochs of MNIST-1D's
    # 3500 training examples). The learning rate is the dense network's best: among 1e-3..1e-2 and 1500,
    # 3000 or 6000 iterations, 1e-2 gave the highest final validation accuracy on calibration seeds 0-4
    # (65.3% +- 2.6 against 63.0% at 3e-3). Chosen on the dense network alone, not on how tickets do.
    "mlp": dict(
        train=TrainConfig(optimizer="adam", lr=1e-2, batch_size=100, iterations=3000, eval_every=30),
        rates=dict(fc=0.2, output=0.1),
        scope="layerwise",
    ),
    # Frankle & Carbin 2019: Conv-2/4/6 on CIFAR-10, Adam, batch 60; conv 10/10/15%, fc 20%, output 10%.
    "conv2": conv_recipe(lr=2e-4, iterations=20_000, conv_rate=0.1),
    "conv4": conv_recipe(lr=3e-4, iterations=25_000, conv_rate=0.1),
    "conv6": conv_recipe(lr=3e-4, iterations=30_000, conv_rate=0.15),
    # Frankle et al. 2020: ResNet-20 trained as above; global pruning, 20% a round.
    "resnet20": dict(
        train=RESNET20_TRAIN,
        rates=0.2,
        scope="global",
    ),
    # This kit's CPU-sized network for late rewinding (lesson 06), trained and pruned as Frankle et al.
    # (2020) train and prune ResNet-20: SGD with momentum at a high learning rate, no warm-up, two drops
    # by 10x, weight decay; global pruning of 20% a round. Learning rate and weight decay lie on the dense
    # network's plateau (96.5-97.0% final accuracy for lr 0.2-0.3 and weight decay 5e-4 to 1e-3, seeds
    # 0-4); within it, this pair showed the effect most clearly. README "Late rewinding" has the search.
    "cnn1d": dict(
        train=resize(
            replace(RESNET20_TRAIN, lr=0.3, weight_decay=5e-4, batch_size=100, augment=False), 3000, evaluations=100
        ),
        rates=0.2,
        scope="global",
    ),
    # This kit's small transformer on charlm (lesson 10); no paper trains this network, so the recipe is
    # ours, chosen on calibration seeds 0-2 and on the dense network alone: Adam without warm-up, batch 32,
    # 400 iterations (about 3 passes over the 4,499 training windows); the learning rate is the dense
    # network's best final validation accuracy among 3e-3, 5e-3, 7e-3 and 1e-2 (README "Tickets in a
    # transformer"). Pruned by kind, layerwise: attention and MLP weights 50% a round, the character
    # embedding and the head 25% (a coarse step, so that a few rounds reach 10% on a CPU). Evaluated every
    # 100 iterations only: the lesson judges final accuracy, and each evaluation reads all the validation
    # text, a fifth of a run's time at every 40 (evaluating changes nothing in training).
    "transformer": dict(
        train=TrainConfig(optimizer="adam", lr=5e-3, batch_size=32, iterations=400, eval_every=100),
        rates=dict(embedding=0.25, attention=0.5, mlp=0.5, output=0.25),
        scope="layerwise",
    ),
    # The same network guessing one kind per window (textkinds), fine-tuned from a pre-trained language model
    # or from scratch: Adam at 1e-3, a fifth of the language model's rate, as fine-tuning takes a lower rate
    # than training from scratch (a first trial on calibration seeds 1-3: 81.9% from the pre-trained weights,
    # 73.4% from scratch). Pruned as Chen et al. (2020) prune BERT: the attention and MLP weights, all ranked
    # together; the embedding and the head stay whole.
    "window_classifier": dict(
        train=TrainConfig(optimizer="adam", lr=1e-3, batch_size=32, iterations=400, eval_every=100),
        rates=dict(attention=0.2, mlp=0.2),
        scope="global",
    ),
}

# How long each profile trains, per model: passes over the training set per run (a model not named keeps
# its recipe's iterations: the CPU-sized networks, and registered ones), and IMP rounds.
PROFILE_SIZES = {
    "paper": dict(epochs={}, rounds=20, seeds=3),
    "class": dict(epochs=dict(lenet300_100=5, conv2=10, conv4=10, conv6=10, resnet20=20), rounds=10, seeds=3),
    "ci": dict(epochs=dict(lenet300_100=1, conv2=2, conv4=2, conv6=2, resnet20=2), rounds=10, seeds=2),
}
# A run shortened to a profile's epochs is validated 25 times, so its early-stop iteration is located to
# within 4% of training. Validating LeNet-300-100 on its 5,000 images 100 times took 75% of a ci run on
# one thread (8.8 s, against 3.0 s at 25 evaluations and 2.2 s at one: benchmarks/evaluation_cost.py).
# Evaluating changes nothing in training: final accuracies, which the lessons judge these networks by,
# are the same at any count.
SHORT_RUN_EVALUATIONS = 25


def current_profile(profile=None):
    """`profile`, else $LTKIT_PROFILE, else "class"; checked."""
    profile = profile or os.environ.get("LTKIT_PROFILE") or DEFAULT_PROFILE
    if profile not in PROFILES:
        raise LtkitError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    return profile


def training_recipe(dataset, model, profile=None, epochs=None, lr=None):
    """The TrainConfig of `model` on `dataset` in a profile (default: $LTKIT_PROFILE, else "class").

    `epochs` resizes the run (passes over the training set), `lr` changes the learning rate. A registered
    model (ltkit.register_model) trains by the recipe it was registered with, in every profile alike.
    """
    check_pair(dataset, model)
    train = registered_recipe(model) if model in REGISTERED_MODELS else RECIPES[model]["train"]
    epochs = epochs if epochs is not None else PROFILE_SIZES[current_profile(profile)]["epochs"].get(model)
    if epochs is not None:
        iterations = iterations_for(epochs, training_set_size(dataset), train.batch_size)
        train = resize(train, iterations, evaluations=SHORT_RUN_EVALUATIONS)
    return train if lr is None else replace(train, lr=lr)


def registered_recipe(model):
    recipe = REGISTERED_MODELS[model].recipe
    if recipe is None:
        raise LtkitError(
            f"model {model!r} was registered without a recipe: give the experiment's config "
            f"train=ltkit.TrainConfig(...), or register it with recipe=ltkit.TrainConfig(...)"
        )
    return recipe


# A registered model without rates of its own is pruned as Frankle & Carbin prune their Conv-2/4 networks.
REGISTERED_RATES = RECIPES["conv2"]["rates"]


def pruning(model):
    """The paper's pruning of `model`: {"rates": per round, "scope": "layerwise" or "global"}; a registered
    model's rates (REGISTERED_RATES unless it was registered with its own), layerwise."""
    check_model_name(model)
    if model in REGISTERED_MODELS:
        rates = REGISTERED_MODELS[model].rates
        return dict(rates=REGISTERED_RATES if rates is None else rates, scope="layerwise")
    return dict(rates=RECIPES[model]["rates"], scope=RECIPES[model]["scope"])


def sizes(profile, experiment):
    """How large `experiment` ("imp", "instability", "curve", "plane" or "fge") is in `profile`."""
    profile = current_profile(profile)
    if experiment == "imp":
        return dict(rounds=PROFILE_SIZES[profile]["rounds"], seeds=PROFILE_SIZES[profile]["seeds"])
    return dict(EXPERIMENT_SIZES[profile][experiment])


def with_overrides(defaults, overrides, settings_class, function):
    """`defaults` updated by the keyword arguments a caller gave (None keeps the default), checked
    against the fields of `settings_class`."""
    check_fields(overrides, settings_class, function)
    return {**defaults, **{key: value for key, value in overrides.items() if value is not None}}


COURSE_EXPERIMENTS = [
    ("mnist1d", "mlp"),
    ("fashion-mnist", "lenet300_100"),
    ("cifar10", "conv2"),
    ("cifar10", "resnet20"),
]


def profile_table(experiments=COURSE_EXPERIMENTS):
    """One row per profile and experiment: how long one training run is, and how many rounds and seeds."""
    rows = []
    for profile in PROFILES:
        for dataset, model in experiments:
            n_train = training_set_size(dataset)
            train = training_recipe(dataset, model, profile)
            rows.append(
                dict(
                    profile=profile,
                    experiment=f"{model} on {dataset}",
                    iterations=train.iterations,
                    epochs=round(train.iterations * train.batch_size / n_train, 1),
                    imp_rounds=sizes(profile, "imp")["rounds"],
                    seeds=sizes(profile, "imp")["seeds"],
                )
            )
    return rows


# --- Connectivity experiments (ltkit.experiments.instability, ltkit.experiments.curves, ltkit.experiments.fge) --------
# Their networks train by the recipes above, at the same length per profile.
# What these experiments add to the training runs, per profile:
#   points: values of alpha (or t) at which a path is evaluated, both ends included (Frankle et al.: 30);
#   train_examples: training examples for the training loss/error along a path and for BatchNorm statistics;
#   pairs: pairs of copies whose barriers are averaged at each k;
#   resolution: grid points per side of the test-error picture on the plane of a curve;
#   cycles, cycle: FGE's number of cycles, and each cycle's length as a fraction of one training run
#     (rounded to an even number of iterations);
#   lr_high, lr_low: FGE's learning-rate range, as multiples of the recipe's learning rate;
#   independent: networks in the independently trained ensemble that FGE is compared with.
# class and ci were calibrated on Fashion-MNIST LeNet-300-100 (8 cycles of a fifteenth of a run each, from
# 1x down to 0.01x the learning rate). paper's cycles are about 4 epochs of ResNet-20, the default cycle
# length of Garipov et al.'s code; they are not measured here.
EXPERIMENT_DEFAULTS = dict(
    instability=dict(points=30, train_examples=10_000, pairs=3),
    curve=dict(points=30, train_examples=10_000),  # weight matching measures its lines at the same points
    plane=dict(resolution=21),
    fge=dict(cycles=8, cycle=1 / 15, lr_high=1.0, lr_low=0.01, independent=2),
)
EXPERIMENT_SIZES = {
    "paper": {**EXPERIMENT_DEFAULTS, "fge": {**EXPERIMENT_DEFAULTS["fge"], "cycle": 1 / 40}},
    "class": EXPERIMENT_DEFAULTS,
    "ci": {
        "instability": {**EXPERIMENT_DEFAULTS["instability"], "train_examples": 5_000},
        "curve": {**EXPERIMENT_DEFAULTS["curve"], "train_examples": 5_000},
        "plane": dict(resolution=15),
        "fge": EXPERIMENT_DEFAULTS["fge"],
    },
}


# --- Late rewinding (ltkit.experiments.rewinding, lesson 06) ----------------------------------------------------------
# The network, the sparsity at which IMP's subnetworks are compared, and the iterations k rewound to.
REWINDING = dict(network=("mnist1d", "cnn1d"), weights_remaining=0.262, rewind_iters=(0, 100), pairs=3)


def connectivity_images(profile=None, images="fashion-mnist"):
    """The (dataset, model) of the image experiments of lessons 05, 07 and 08: LeNet-300-100 on `images`, or in
    the paper profile ResNet-20 on CIFAR-10, as Frankle et al. and Garipov et al. run them."""
    return ("cifar10", "resnet20") if current_profile(profile) == "paper" else (images, "lenet300_100")


# --- Tickets in a transformer (lesson 10) -----------------------------------------------------------------------------
# IMP on charlm rewound to k=0 and to a late k (a tenth of training), per profile: rounds of IMP (each
# halves the attention and MLP weights), and dense seeds for the matching threshold. ci keeps one round and
# the two dense networks its sweeps start from, so that the lesson runs in about a minute on 2 CPU cores.
TRANSFORMER_TICKETS = dict(
    dataset="charlm",
    model="transformer",
    rewind_iters=(0, 40),
    rounds={"ci": 1, "class": 4, "paper": 6},
    matching_seeds={"ci": 2, "class": 5, "paper": 5},
)


# --- Tickets in a pre-trained network (lesson 11, ltkit.experiments.pretrained) ---------------------------------------
# A transformer pre-trained on `stdlib` (next-character prediction), then fine-tuned on two tasks of modules held
# out of it. Pruned as Chen et al. (2020) prune BERT: attention and MLP weights ranked together, 36% of those that
# remain a round (64%, 41%, 26%, 17%, 11% left: about the sparsities of their figures, which take ten steps of a
# tenth of the original weights each, in five rounds). Every task run fine-tunes at the window_classifier's rate
# (1e-3) for 400 iterations, from the pre-trained weights or from scratch alike, evaluated at its start, middle and
# end (the lesson judges final accuracy). The pre-training task's own IMP mask is found by fine-tuning on stdlib the
# same way; the first task's mask is also tried on the second. Per profile: rounds, the fine-tuning seeds swept
# (one pre-trained network for all, as Chen et al. fine-tune one BERT), and the seeds whose dense fine-tuning
# defines matching. ci keeps one round and class one swept seed, so that the lesson runs in about two minutes
# (ci) and about four (class) on a CPU core.
PRETRAINED_TICKETS = dict(
    pretraining=("stdlib", "transformer"),
    tasks={"heldout-lm": "transformer", "textkinds": "window_classifier"},
    transfer=("heldout-lm", "textkinds"),
    rates=dict(attention=0.36, mlp=0.36),
    rounds={"ci": 1, "class": 3, "paper": 5},
    seeds={"ci": 1, "class": 1, "paper": 3},
    matching_seeds={"ci": 2, "class": 3, "paper": 5},
    pretrain_iterations={"ci": 1000, "class": 2000, "paper": 6000},
    finetune=dict(lr=1e-3, iterations={"ci": 400, "class": 400, "paper": 1000}, evaluations=2),
)
