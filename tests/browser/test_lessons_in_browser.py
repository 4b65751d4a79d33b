"""Every lesson, run in JupyterLab in a real browser: it runs to the end without an error, every dashboard
renders with its answer hidden, every control of every dashboard moved with the keyboard or the mouse
changes its figure within a time limit, a typed guess and a press on Reveal show the answer beside the
guess, and a reloaded tab shows no widget errors. One test per lesson, named by it (`...[03_winning_tickets]`);
`make browser` runs them all, `make checks` each after its lane's lessons."""

import json
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import OUT, ROOT

NOTEBOOKS = ROOT / "notebooks"
LESSONS = sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb") if not path.stem.startswith("00_"))  # 00 has none
RUN_LIMIT = 900  # seconds for a whole lesson, from the run cache that `make lessons` filled
ANSWER_LIMIT = 20  # seconds for a dashboard to redraw after a control moves
ERRORS = ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']"


def open_lesson(page, lab, lesson):
    """The lesson alone in a workspace of its own (JupyterLab would reopen every earlier tab)."""
    page.goto(f"{lab['url']}/lab/workspaces/{lesson}/tree/{lesson}.ipynb?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached", timeout=60_000)
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')", timeout=60_000)


def run_all(page):
    """Run every cell from the Run menu and wait until none is running any more."""
    page.click(".jp-Notebook")
    page.keyboard.press("Escape")
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
    started = time.monotonic()
    while not finished(page):
        assert time.monotonic() - started < RUN_LIMIT, "the lesson did not finish in time"
        time.sleep(0.25)
    return time.monotonic() - started


def finished(page):
    """Every code cell has run (its prompt shows a number), or one has failed (Run All stops there)."""
    prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
    ran = all(any(c.isdigit() for c in p) and "*" not in p for p in prompts)
    return ran or page.locator(ERRORS).count() > 0


def picture(dashboard):
    """What a dashboard's figure shows now (its image data), or None before it has one."""
    images = dashboard.locator(".widget-output img")
    return images.first.get_attribute("src") if images.count() else None


def answers(dashboard, move):
    """Seconds from move() to the dashboard's figure changing."""
    before = picture(dashboard)
    started = time.monotonic()
    move()
    while picture(dashboard) == before:
        assert time.monotonic() - started < ANSWER_LIMIT, "the figure did not change after the control moved"
        time.sleep(0.05)
    return time.monotonic() - started


def controls(dashboard):
    """One way to move each control of a dashboard: a key press on a slider, a click on another option."""
    moves = []
    for handle in dashboard.locator(".noUi-handle").all():
        at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        key = "ArrowLeft" if at_end else "ArrowRight"
        moves.append(("slider", lambda h=handle, k=key: (h.focus(), h.press(k))))
    for select in dashboard.locator("select").all():
        values = [o.get_attribute("value") for o in select.locator("option").all()]
        other = next(v for v in values if v != select.input_value())
        moves.append(("dropdown", lambda s=select, v=other: s.select_option(v)))
    for toggle in dashboard.locator(".widget-toggle-button:not(.mod-active):not(.ltkit-reveal)").all()[:1]:
        moves.append(("toggle", toggle.click))
    return moves


def reveal(dashboard, guess="my guess 42"):
    """Type a guess and press Reveal: the status line, which asked for a guess, must show the answer and,
    beside it, the guess."""
    status = dashboard.locator(".ltkit-answer")
    assert "Reveal" in status.inner_text(), "the answer is shown before a guess"
    dashboard.locator(".widget-text input").fill(guess)
    dashboard.locator(".ltkit-reveal").click()
    expect(status).to_contain_text(f"Your guess: {guess}", timeout=ANSWER_LIMIT * 1000)
    expect(dashboard.locator(".ltkit-reveal")).to_have_text("Hide the answer")  # the whole figure redrawn
    answer = status.inner_text().split("Your guess")[0]
    assert answer.strip() and "Reveal" not in answer, f"no answer beside the guess: {status.inner_text()!r}"


def run_another_seed(page, seed):
    """Type a seed into the playground's form and click "Run IMP": the form must answer with that seed's
    sweep (trained in the background), not the one the lesson left."""
    form = page.locator(".ltkit-playground").first
    form.scroll_into_view_if_needed()
    box = form.locator(".widget-inline-hbox:has(label:text-is('seed')) input")
    box.fill(str(seed))
    box.press("Enter")
    form.locator("button:has-text('Run IMP')").click()
    page.wait_for_selector(f".ltkit-playground :text('Done (seed {seed})')", timeout=RUN_LIMIT * 1000)


def shut_down_kernels(lab):
    """Stop the lesson's kernel: each holds its datasets in memory."""
    api = f"{lab['url']}/api/sessions?token={lab['token']}"
    for session in json.load(urllib.request.urlopen(api)):
        url = f"{lab['url']}/api/sessions/{session['id']}?token={lab['token']}"
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"))


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lesson_runs_in_the_browser_and_its_dashboards_answer(lab, page, lesson):
    open_lesson(page, lab, lesson)
    seconds = run_all(page)
    assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).first.inner_text()[:2000]
    if lesson.endswith("_playground"):
        run_another_seed(page, seed=11)
    assert page.locator("text=Loading widget").count() == 0
    assert page.locator("text=Error displaying widget").count() == 0
    dashboards = page.locator(".ltkit-dashboard").all()
    assert dashboards, "the lesson shows no dashboard"
    latencies = []
    for dashboard in dashboards:
        dashboard.scroll_into_view_if_needed()
        assert picture(dashboard), "a dashboard shows no figure"
        moves = controls(dashboard)
        assert moves, "a dashboard without a control"
        latencies += [dict(control=kind, seconds=round(answers(dashboard, move), 2)) for kind, move in moves]
        reveal(dashboard)
    page.screenshot(path=str(OUT / f"{lesson}.png"))
    page.keyboard.press("Control+s")
    page.reload()
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached", timeout=60_000)
    page.wait_for_timeout(3000)
    assert page.locator("text=Error displaying widget").count() == 0, "a reloaded tab shows widget errors"
    record = dict(lesson=lesson, run_seconds=round(seconds, 1), dashboards=len(dashboards), answers=latencies)
    with open(OUT / "latency.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    shut_down_kernels(lab)
