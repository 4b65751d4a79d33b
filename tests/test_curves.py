"""Mode-connecting curves and the plane through two networks and a curve's bend."""

import copy
from dataclasses import replace

import pytest
import torch

from ltkit.engine.models import build_model
from ltkit.engine.training import TrainConfig, evaluate, train
from ltkit.errors import LtkitError
from ltkit.experiments import curves
from ltkit.experiments.curves import Curve, CurveConfig, CurveRow, curve_config, run_curve, train_curve
from ltkit.experiments.dense import independent_networks, two_initialisations
from ltkit.experiments.instability import independent_line
from ltkit.experiments.paths import interpolate
from ltkit.experiments.plane import PlaneConfig, PlaneRow, evaluate_plane, plane_config, plane_coordinates, run_plane
from ltkit.experiments.registry import Context

SHORT = TrainConfig(lr=1e-2, batch_size=50, iterations=40, eval_every=20)


def trained_mlp(data, seed, iterations=60):
    model = build_model("mlp", data.input_shape, seed=seed)
    train(model, data, replace(SHORT, iterations=iterations), data_seed=seed, progress=False)
    return model


def flat(state, names):
    return torch.cat([state[name].flatten() for name in names])


def unflat(vector, like, names):
    pieces = vector.split([like[name].numel() for name in names])
    return {**like, **{name: piece.view_as(like[name]) for name, piece in zip(names, pieces)}}


def error_of(state, data):
    model = build_model("mlp", data.input_shape)
    model.load_state_dict(state)
    return 1 - evaluate(model, data.x_test, data.y_test)[1]


@pytest.fixture
def count_fits(monkeypatch):
    fits, real_fit = [], curves.train_curve

    def counting(curve, *args, **kwargs):
        fits.append(curve.shape)
        return real_fit(curve, *args, **kwargs)

    monkeypatch.setattr(curves, "train_curve", counting)
    return fits


# --- curves ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["bezier", "polychain"])
def test_a_curve_ends_exactly_at_the_two_networks_and_starts_as_the_straight_line(tiny_data, shape):
    model = build_model("mlp", (20,))
    states = [trained_mlp(tiny_data, seed).state_dict() for seed in (0, 1)]
    curve = Curve(model, *states, shape)
    for t, state in ((0.0, states[0]), (1.0, states[1])):
        assert all(torch.equal(curve.state_at(t)[name], value) for name, value in state.items())
    for t in (0.2, 0.5, 0.9):
        line = interpolate(*states, t)
        assert all(torch.allclose(value, line[name], atol=1e-6) for name, value in curve.state_at(t).items())


def test_the_curves_pass_through_their_bend_as_their_shapes_say(tiny_data):
    model = build_model("mlp", (20,))
    states = [trained_mlp(tiny_data, seed).state_dict() for seed in (0, 1)]
    for shape in ("bezier", "polychain"):
        curve = Curve(model, *states, shape)
        with torch.no_grad():
            for theta in curve.bend:
                theta.add_(1.0)  # bent away from the line
        bend = curve.bend_state()
        at_half = curve.state_at(0.5)
        for name, theta in bend.items():
            if shape == "polychain":  # the bend itself at t = 1/2
                assert torch.equal(at_half[name], theta)
            else:  # a quadratic Bezier curve: (w1 + 2 theta + w2) / 4 at t = 1/2
                assert torch.allclose(at_half[name], (states[0][name] + 2 * theta + states[1][name]) / 4, atol=1e-6)


def test_fitting_a_curve_moves_only_the_bend(tiny_data):
    model = build_model("mlp", (20,))
    states = [trained_mlp(tiny_data, seed).state_dict() for seed in (0, 1)]
    curve = Curve(model, *states)
    before = dict(
        start=copy.deepcopy(curve.start), end=copy.deepcopy(curve.end), model=copy.deepcopy(model.state_dict())
    )
    bend = curve.bend_state()
    assert list(curve.parameters()) == list(curve.bend)
    losses = train_curve(curve, model, tiny_data, replace(SHORT, iterations=20), weight_decay=1e-3, progress=False)
    assert len(losses) == 20
    for name in before["start"]:
        assert torch.equal(curve.start[name], before["start"][name]) and torch.equal(
            curve.end[name], before["end"][name]
        )
        assert torch.equal(states[0][name], before["start"][name])  # the caller's networks are untouched too
    assert all(torch.equal(value, before["model"][name]) for name, value in model.state_dict().items())
    assert all(not torch.equal(curve.bend_state()[name], bend[name]) for name in bend)


def test_a_fitted_curve_joins_two_networks_that_the_straight_line_does_not(mnist1d):
    config = CurveConfig("mnist1d", "mlp", replace(SHORT, batch_size=100, iterations=600), points=11)
    result = run_curve(config, data=mnist1d, progress=False)
    line, curve = result.line, result.curve
    assert result.seeds == list(two_initialisations(0))
    assert line == independent_line(config, mnist1d)  # the same two networks
    assert line.test_err[0] == curve.test_err[0] and line.test_err[-1] == curve.test_err[-1]
    assert line.barrier > 0.15 and curve.barrier < line.barrier / 3
    assert result.summary() == dict(
        line_barrier=line.barrier,
        curve_barrier=curve.barrier,
        worst_curve_test_err=max(curve.test_err),
        ends_test_err=(curve.test_err[0] + curve.test_err[-1]) / 2,
    )
    rows = result.table()
    assert [row.t for row in rows] == line.t and result.config == config
    assert rows[5] == CurveRow(line.t[5], line.test_err[5], curve.test_err[5], line.train_loss[5], curve.train_loss[5])
    report = result.to_json()
    assert report["config"] == config.to_dict() and report["kind"] == "bezier" and report["seeds"] == result.seeds
    assert report["line"] == line.points() and report["curve"] == curve.points()
    assert (report["barrier_line"], report["barrier_curve"]) == (line.barrier, curve.barrier)


def test_a_curve_is_fitted_once_per_shape(mnist1d, count_fits):
    config = CurveConfig("mnist1d", "mlp", SHORT, shape="polychain", points=3, train_examples=500)
    first = run_curve(config, data=mnist1d, progress=False)
    again = run_curve(config, data=mnist1d, progress=False)
    assert count_fits == ["polychain"] and again.losses == first.losses and again.curve == first.curve
    assert all(torch.equal(again.bend[name], first.bend[name]) for name in first.bend) and again.config == config
    run_curve(replace(config, shape="bezier"), data=mnist1d, progress=False)
    assert count_fits == ["polychain", "bezier"]


# --- the plane -----------------------------------------------------------------------------------------


def test_the_planes_basis_is_orthonormal_and_its_coordinates_reproduce_the_distances(tiny_data):
    model = build_model("mlp", (20,))
    names = [name for name, _ in model.named_parameters()]
    start, end, bend = (trained_mlp(tiny_data, seed).state_dict() for seed in (0, 1, 2))
    (origin, u, v), points = plane_coordinates(start, end, bend, names)
    assert torch.equal(origin, flat(start, names))
    assert u @ u == pytest.approx(1, abs=1e-5) and v @ v == pytest.approx(1, abs=1e-5)
    assert u @ v == pytest.approx(0, abs=1e-5)
    distance = lambda a, b: (flat(a, names) - flat(b, names)).norm().item()
    (x_end, y_end), (x_bend, y_bend) = points["end"], points["bend"]
    assert points["start"] == (0.0, 0.0) and y_end == 0.0 and y_bend > 0
    assert x_end == pytest.approx(distance(end, start), rel=1e-5)
    assert (x_bend**2 + y_bend**2) ** 0.5 == pytest.approx(distance(bend, start), rel=1e-5)
    assert ((x_bend - x_end) ** 2 + y_bend**2) ** 0.5 == pytest.approx(distance(bend, end), rel=1e-5)
    assert torch.allclose(origin + x_bend * u + y_bend * v, flat(bend, names), atol=1e-5)  # the bend is in the plane


def test_the_planes_grid_points_are_the_networks_at_those_coordinates(tiny_data):
    model = build_model("mlp", (20,))
    names = [name for name, _ in model.named_parameters()]
    start, end = (trained_mlp(tiny_data, seed).state_dict() for seed in (0, 1))
    along = flat(end, names) - flat(start, names)
    span, u = along.norm(), along / along.norm()
    across = torch.randn(len(u), generator=torch.Generator().manual_seed(0))
    across = across - (across @ u) * u
    across = across / across.norm()
    # A bend at (span / 2, span / 4): with 7 points and a margin of span / 4, the grid's x are -1/4, 0, 1/4,
    # ... 5/4 of the span, its y -1/4, -1/8, 0, ... 1/2: start, end and bend are all grid points.
    bend = unflat(flat(start, names) + span / 2 * u + span / 4 * across, start, names)
    plane = evaluate_plane(model, start, end, bend, tiny_data, resolution=7, margin=0.25)
    assert plane["x"] == pytest.approx([(i / 4 - 1 / 4) * span.item() for i in range(7)], abs=1e-5)
    assert plane["y"] == pytest.approx([(j / 8 - 1 / 4) * span.item() for j in range(7)], abs=1e-5)
    assert plane["points"]["bend"] == pytest.approx((span.item() / 2, span.item() / 4), rel=1e-5)
    errors = plane["test_err"]
    assert len(errors) == 7 and all(len(row) == 7 for row in errors)
    assert errors[2][1] == error_of(start, tiny_data)  # row y = 0, column x = 0
    assert errors[2][5] == error_of(end, tiny_data)
    assert errors[4][3] == error_of(bend, tiny_data)
    corner = unflat(flat(start, names) - span / 4 * u - span / 4 * across, start, names)
    assert errors[0][0] == error_of(corner, tiny_data)
    assert len({e for row in errors for e in row}) > 5  # a surface, not a constant


def test_the_plane_of_a_run_is_cached_by_its_resolution_and_reuses_the_curve(mnist1d, count_fits):
    config = PlaneConfig("mnist1d", "mlp", SHORT, points=3, train_examples=500, resolution=3)
    plane = run_plane(config, data=mnist1d, progress=False)
    curve = run_curve(CurveConfig("mnist1d", "mlp", SHORT, points=3, train_examples=500), data=mnist1d, progress=False)
    assert count_fits == ["bezier"]  # the plane's curve is that curve, from its cache
    _, (start, end) = independent_networks(config, Context(mnist1d, progress=False))
    names = [name for name, _ in build_model("mlp", (40,)).named_parameters()]
    assert plane.points == plane_coordinates(start, end, curve.bend, names)[1]
    assert len(plane.x) == len(plane.y) == 3 and len(plane.test_err) == 3
    assert plane.table()[:2] == [PlaneRow(x, plane.y[0], error) for x, error in zip(plane.x, plane.test_err[0][:2])]
    assert len(plane.table()) == 9 and plane.to_json()["config"] == config.to_dict() == plane.config.to_dict()
    assert run_plane(config, data=mnist1d, progress=False) == plane
    finer = run_plane(replace(config, resolution=5), data=mnist1d, progress=False)
    assert len(finer.x) == 5 and finer.points == plane.points and count_fits == ["bezier"]
    assert finer.test_err[0][0] == plane.test_err[0][0] and finer.test_err[-1][-1] == plane.test_err[-1][-1]


def test_bad_curve_settings_are_explained():
    with pytest.raises(LtkitError, match="unknown curve 'spline'; choose one of: bezier, polychain"):
        CurveConfig("mnist1d", "mlp", SHORT, shape="spline")
    with pytest.raises(LtkitError, match="at least 2 points"):
        CurveConfig("mnist1d", "mlp", SHORT, points=1)
    with pytest.raises(LtkitError, match="at least 2 points per side"):
        PlaneConfig("mnist1d", "mlp", SHORT, resolution=1)
    with pytest.raises(LtkitError, match=r"curve_config\(\) has no setting resolution"):
        curve_config("mnist1d", "mlp", "ci", resolution=5)


def test_the_curve_config_takes_the_recipes_weight_decay_and_the_profiles_sizes():
    config = curve_config("cifar10", "resnet20", "ci")
    assert config.weight_decay == 1e-4 == config.train.weight_decay and config.shape == "bezier"
    plane = plane_config("cifar10", "resnet20", "ci")
    assert plane.resolution == 15 and plane.as_curve() == config  # the plane is drawn through that very curve
    assert curve_config("mnist1d", "mlp", "class", points=11).points == 11
