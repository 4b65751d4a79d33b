"""Claims: a lesson's check stops at a false claim, or records every claim when asked to count them."""

import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch

from ltkit.course.claims import NOT_SEEN, claim, corner_connections, observe, percent, points


def test_a_true_claim_passes_and_a_false_one_stops_with_its_name(monkeypatch):
    monkeypatch.delenv("LTKIT_CLAIMS", raising=False)
    assert claim(0.9 > 0.5, "the ticket learns") is True
    with pytest.raises(AssertionError, match=r"^not seen in this run: the ticket beats its control \(ticket 80%, co"):
        claim(0.80 > 0.85, "the ticket beats its control", "ticket 80%, control 85%")
    with pytest.raises(AssertionError, match=r"^not seen in this run: stable\. Each claim .* another SEED") as failed:
        claim([], "stable")
    assert failed.value.args[0].endswith(NOT_SEEN)


def test_with_a_record_file_every_claim_is_written_down_and_none_stops(tmp_path, monkeypatch):
    record = tmp_path / "claims.jsonl"
    monkeypatch.setenv("LTKIT_CLAIMS", str(record))
    assert claim(True, "first") is True
    assert claim(0, "second", "measured 0") is False  # recorded, not raised
    assert observe(False, "third") is False
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines == [
        dict(name="first", passed=True, detail="", asserted=True),
        dict(name="second", passed=False, detail="measured 0", asserted=True),
        dict(name="third", passed=False, detail="", asserted=False),
    ]


def test_an_observation_never_stops_a_lesson_and_without_a_record_file_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("LTKIT_CLAIMS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert observe(1 > 2, "k = 100 matches") is False
    assert list(tmp_path.iterdir()) == []


def test_details_write_accuracies_as_percent_and_gaps_as_points():
    assert (percent(0.9123), points(0.034), percent(1.0)) == ("91.2%", "3.4 points", "100.0%")


def test_corner_connections_count_each_pixel_s_surviving_connections_in_the_corners_and_over_the_image():
    mask = torch.ones(3, 4 * 4, dtype=torch.bool)  # 3 units, a 4x4 image: 3 connections per pixel
    mask[:, 0] = False  # the top left pixel loses all three
    mask[0, 5] = False  # and pixel (1, 1), inside no 1x1 corner, one
    assert corner_connections(mask, (4, 4), size=1) == (2.25, (3 * 16 - 4) / 16)


def claims_benchmark():
    path = Path(__file__).parents[1] / "benchmarks" / "claims.py"
    spec = importlib.util.spec_from_file_location("claims_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_claims_benchmark_refuses_calibration_seeds_and_overlapping_seed_blocks():
    benchmark = claims_benchmark()
    assert benchmark.seeds_per_lesson("ci") == 5  # matching's five dense networks outnumber ci's 2 sweeps
    assert benchmark.check_seeds([200, 205, 210], "ci") is None
    assert "space the seeds 5 apart" in benchmark.check_seeds([200, 204], "ci")  # 204 is 200's fifth seed
    assert "seeds [6, 7, 8, 9] were used to calibrate" in benchmark.check_seeds([6], "class")  # 6..10
    assert benchmark.check_seeds([6], "class", calibrating=True) is None


def test_the_claims_benchmark_keeps_one_record_per_lesson_and_seed_until_the_lesson_s_code_changes(
    tmp_path, monkeypatch
):
    benchmark = claims_benchmark()
    lesson = tmp_path / "05_stability.ipynb"
    cell = dict(cell_type="code", source=["x = 1"], metadata={}, outputs=[], execution_count=None)
    lesson.write_text(json.dumps(dict(cells=[cell])))
    runs = []

    def execute(path, output, timeout=None, parameters=None):  # a lesson whose one claim holds on even seeds
        runs.append(parameters["SEED"])
        with open(os.environ["LTKIT_CLAIMS"], "a") as f:
            f.write(json.dumps(dict(name="it holds", passed=parameters["SEED"] % 2 == 0)) + "\n")

    monkeypatch.setattr(benchmark, "execute_lesson", execute)
    records = tmp_path / "records"
    for seed in (200, 205):
        benchmark.replay(lesson, seed, "ci", tmp_path / "out", records=records)
    assert runs == [200, 205]
    kept = json.loads((records / "ci" / "05_stability-seed205.json").read_text())
    assert (kept["seed"], kept["code_sha256"], kept["claims"]) == (
        205,
        benchmark.code_hash(lesson),
        [dict(name="it holds", passed=False)],
    )
    assert benchmark.replay(lesson, 200, "ci", tmp_path / "out", records=records) == [
        dict(name="it holds", passed=True)
    ]
    assert runs == [200, 205]  # recorded: not run again
    cell["source"] = ["x = 2"]
    lesson.write_text(json.dumps(dict(cells=[cell])))
    benchmark.replay(lesson, 200, "ci", tmp_path / "out", records=records)
    assert runs == [200, 205, 200]  # the lesson's code changed: its old record is no evidence for it

    def interrupted(path, output, timeout=None, parameters=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark, "execute_lesson", interrupted)
    with pytest.raises(KeyboardInterrupt):
        benchmark.replay(lesson, 210, "ci", tmp_path / "out", records=records)
    assert not list((records / "ci").glob("*seed210*"))  # nothing half-written

    def kernel_died(path, output, timeout=None, parameters=None):  # as a stopped benchmark's kernel does
        benchmark.STOPPING.set()
        raise RuntimeError("Kernel died")

    monkeypatch.setattr(benchmark, "execute_lesson", kernel_died)
    with pytest.raises(SystemExit):
        benchmark.replay(lesson, 215, "ci", tmp_path / "out", records=records)
    benchmark.STOPPING.clear()
    assert not list((records / "ci").glob("*seed215*"))  # a stopped benchmark is not a failed lesson


def test_a_lessons_code_hash_counts_its_settings_but_not_how_its_setup_cell_installs_ltkit(tmp_path):
    benchmark = claims_benchmark()
    lesson = tmp_path / "05_stability.ipynb"

    def write(setup):
        cell = dict(cell_type="code", source=setup, metadata={"tags": ["parameters"]}, outputs=[])
        lesson.write_text(json.dumps(dict(cells=[cell])))
        return benchmark.code_hash(lesson)

    first = write(["SEED = 10\n", "pip install ltkit==0.2.0"])
    assert write(["SEED = 10\n", "pip install ltkit==0.3.0"]) == first
    assert write(["SEED = 11\n", "pip install ltkit==0.2.0"]) != first
