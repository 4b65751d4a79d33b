"""The playground (a form for any IMP sweep), trained in the background so the notebook stays usable.

The sweep runs in a thread; the kernel stays free, so other cells and dashboards keep answering while it
trains. Its progress is read from the run cache (a finished arm is a file there), and when it is done the
round explorer of lesson 03 shows it. A setting that cannot work shows as a message, not a traceback.
"""

import threading
import time

import ipywidgets as widgets

from ltkit.course.dashboards import imp_explorer
from ltkit.course.panel import WIDE, Dashboard, busy, show_in
from ltkit.engine.datasets import dataset_names, load_dataset
from ltkit.engine.models import model_names
from ltkit.errors import LtkitError
from ltkit.experiments.imp import CONTROLS, imp_config, run_imp, sweep_cache
from ltkit.experiments.profiles import LESSON_SEED
from ltkit.experiments.registry import Context


def playground(profile=None, device="cpu"):
    """A form for an IMP sweep of one's own: dataset, model, pruning rate and scope, rounds, rewind
    iteration, seed, whether to train the controls. "Run IMP" trains it in the background (or loads it
    from the run cache) and then shows its rounds; state["job"] is the thread (join it to wait)."""
    rounds = imp_config("mnist1d", "mlp", profile).rounds  # the profile's
    style = dict(style={"description_width": "initial"})
    inputs = dict(
        dataset=widgets.Dropdown(options=dataset_names(), value="mnist1d", description="dataset", **style),
        model=widgets.Dropdown(options=model_names(), value="mlp", description="model", **style),
        rate=widgets.Dropdown(
            options=[("the paper's, per layer kind", "paper")] + [(f"{p}%", p / 100) for p in (10, 20, 30, 50)],
            value="paper",
            description="prune per round",
            **style,
        ),
        scope=widgets.ToggleButtons(options=["layerwise", "global"], value="layerwise", description="ranking", **style),
        rounds=widgets.IntSlider(value=rounds, min=1, max=max(20, rounds), description="rounds", **style),
        rewind_iter=widgets.BoundedIntText(value=0, min=0, max=10**6, description="rewind to k", **style),
        seed=widgets.BoundedIntText(value=LESSON_SEED, min=0, max=10**6, description="seed", **style),
        controls=widgets.Checkbox(value=True, description="also train both controls", **style),
    )
    button = widgets.Button(description="Run IMP", button_style="primary")
    progress = widgets.IntProgress(value=0, min=0, max=1, description="trained", **WIDE)
    status, output = widgets.HTML(), widgets.Output()
    state = dict(error=None, job=None)

    def finish(result):
        explorer = imp_explorer(result)
        show_in(output, explorer.ui)
        state.update(result=result, explorer=explorer, error=None)
        status.value = sweep_summary(result)

    def fail(message):
        output.outputs = ()  # no old result under the message
        state.update(error=message, result=None, explorer=None)
        status.value = f"<span style='color:#b00'>Cannot run this: {message}</span>"

    def work(config, data):
        try:
            finish(run_imp(config, data=data, progress=False))
        except LtkitError as error:
            fail(str(error))
        except Exception as error:  # anything else is shown too: a thread's exception would be lost
            fail(f"{type(error).__name__}: {error}")
        finally:
            busy([*inputs.values(), button], False)

    def run(_=None):
        if state["job"] is not None and state["job"].is_alive():
            return  # one sweep at a time: a second click while one trains does nothing
        try:
            config = form_config({name: widget.value for name, widget in inputs.items()}, profile)
            data = load_dataset(config.dataset, device=device)
        except LtkitError as error:
            fail(str(error))
            return
        busy([*inputs.values(), button], True)
        status.value = "training in the background (finished steps are cached: an interrupted run resumes)..."
        state["config"] = config
        state["job"] = threading.Thread(target=work, args=(config, data), daemon=True)
        watch_progress(state["job"], config, data, progress)
        state["job"].start()

    button.on_click(run)
    form = widgets.VBox(
        [
            widgets.HBox([inputs["dataset"], inputs["model"], inputs["seed"]]),
            widgets.HBox([inputs["rate"], inputs["scope"]]),
            widgets.HBox([inputs["rounds"], inputs["rewind_iter"], inputs["controls"]]),
            widgets.HBox([button, progress]),
        ]
    )
    ui = widgets.VBox([form, status, output])
    ui.add_class("ltkit-playground")  # how the browser test finds it
    return Dashboard(ui=ui, inputs={**inputs, "run": button}, state=state)


def form_config(values, profile):
    """The IMPConfig the playground's form describes."""
    rates = None if values["rate"] == "paper" else values["rate"]
    fields = dict(
        rates=rates,
        scope=values["scope"],
        rounds=values["rounds"],
        rewind_iter=values["rewind_iter"],
        seed=values["seed"],
        controls=CONTROLS if values["controls"] else (),
    )
    if values["scope"] == "global" and rates is None:
        fields["rates"] = 0.2  # global pruning removes one shared fraction; the paper's per-kind rates differ
    return imp_config(values["dataset"], values["model"], profile, **fields)


def steps_done(config, data):
    """(trainings finished, trainings in all) of a sweep, read from its cache: round 0 counts as one."""
    run = sweep_cache(config, Context(data))
    arms = ("ticket", *config.controls)
    done = int(run.has("round_00"))
    for r in range(1, config.rounds + 1):
        if run.has(f"round_{r:02d}"):
            done += len(arms)
        else:
            done += sum(run.has(f"round_{r:02d}_{arm}") for arm in arms)
    return done, 1 + config.rounds * len(arms)


def watch_progress(job, config, data, bar, every=0.5):
    """Update `bar` from the cache while `job` runs (in a thread of its own)."""

    def watch():
        bar.value, bar.max = 0, steps_done(config, data)[1]
        while True:
            finished = job.ident is not None and not job.is_alive()  # looked at before counting, so that
            bar.value = steps_done(config, data)[0]  # the last count is taken after the job's last step
            if finished:
                return
            time.sleep(every)

    threading.Thread(target=watch, daemon=True).start()


def sweep_summary(result):
    last, dense = result.rounds[-1], result.rounds[0]
    ticket, dense = last.results["ticket"].final_test_acc, dense.results["ticket"].final_test_acc
    return (
        f"Done (seed {result.config.seed}): {100 * last.weights_remaining:.1f}% of weights after "
        f"{result.config.rounds} rounds; final test "
        f"accuracy: ticket {100 * ticket:.1f}%, dense {100 * dense:.1f}%."
    )
