"""The text of pre-training and its two held-out tasks: what each character's kind is, that the held-out
modules stay out of pre-training, that every split of textkinds has as many examples of each kind, and the
transformer that guesses one kind per window."""

import pytest
import torch

from ltkit.engine import charlm, pretraining_text
from ltkit.engine.datasets import load_dataset, training_set_size
from ltkit.engine.models import build_model, check_pair
from ltkit.errors import LtkitError

SOURCE = '''"""Module docstring."""
x = 1  # a comment
def f():
    """Function docstring."""
    return "not a docstring"
'''


def kinds_of(source):
    return "".join("cdk"[k] for k in pretraining_text.character_kinds(source).tolist())


def test_each_character_is_code_a_docstring_or_a_comment():
    kinds, text = kinds_of(SOURCE), SOURCE

    def kind_at(fragment):
        start = text.index(fragment)
        return set(kinds[start : start + len(fragment)])

    assert kind_at('"""Module docstring."""') == {"d"}
    assert kind_at('"""Function docstring."""') == {"d"}
    assert kind_at("# a comment") == {"k"}
    assert kind_at("x = 1  ") == {"c"}
    assert kind_at('return "not a docstring"') == {"c"}  # a string, but not the first statement of a body
    assert len(kinds) == len(text)


def test_the_held_out_modules_are_not_pre_trained_on_and_every_module_is_long_enough():
    assert not set(pretraining_text.HELD_OUT_MODULES) & set(pretraining_text.PRETRAINING_MODULES)
    for name in pretraining_text.HELD_OUT_MODULES + pretraining_text.PRETRAINING_MODULES:
        assert len(charlm.module_text(name, pretraining_text.CHARS)) == pretraining_text.CHARS


@pytest.fixture(scope="module")
def kinds():
    return load_dataset("textkinds")


def test_textkinds_has_as_many_windows_of_each_kind_in_every_split(kinds):
    for part in ("train", "val", "test"):
        x, y = kinds.split(part)
        assert x.shape == (len(y), charlm.CONTEXT) and x.dtype == torch.int64
        counts = torch.bincount(y, minlength=3)
        assert counts.min() == counts.max() > 100, (part, counts)
    assert kinds.num_classes == len(pretraining_text.KINDS) == 3
    assert training_set_size("textkinds") == len(kinds.y_train)


UNIT = [("x = 1  ", "c"), ("# note", "k"), ("\ndef f():\n    ", "c"), ('"""Say."""', "d"), ("\n", "c")]


def test_every_textkinds_window_is_labelled_with_its_last_characters_kind_and_stays_in_its_split(tmp_path, monkeypatch):
    """A module written here, labelled by hand piece by piece: every window of each split, with its label,
    must be a window of that split's text (cut as heldout-lm cuts it) ending in a character of that kind."""
    source = "".join(piece for piece, _ in UNIT) * 40
    labels = "".join(kind * len(piece) for piece, kind in UNIT) * 40
    (tmp_path / "ltkit_kinds_example.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    splits = pretraining_text.textkinds(modules=("ltkit_kinds_example",), chars=len(source), context=4)
    start = 0
    for piece, (x, y) in zip(charlm.cut_by_position(source), zip(splits[::2], splits[1::2])):
        expected = {(piece[e - 3 : e + 1], labels[start + e]) for e in range(3, len(piece))}
        found = {(charlm.decode(window), "cdk"[int(label)]) for window, label in zip(x, y)}
        assert found <= expected and len(found) > 3
        assert torch.bincount(y).tolist() == [len(y) // 3] * 3
        start += len(piece)


def test_held_out_text_is_text_no_training_window_contains():
    train, _, test = charlm.split_texts(pretraining_text.HELD_OUT_MODULES, pretraining_text.CHARS)
    lm = load_dataset("heldout-lm")
    assert charlm.decode(lm.x_test[0]) == test[: charlm.CONTEXT]
    assert test[:200] not in train


def test_a_window_classifier_takes_a_language_models_weights_except_its_head():
    classifier = build_model("window_classifier", (charlm.CONTEXT,), 3)
    language_model = build_model("transformer", (charlm.CONTEXT,), len(charlm.VOCABULARY), seed=1)
    trunk = {name: w for name, w in language_model.state_dict().items() if not name.startswith("head.")}
    missing, unexpected = classifier.load_state_dict(trunk, strict=False)
    assert sorted(missing) == ["head.bias", "head.weight"] and not unexpected
    assert classifier(torch.zeros(5, charlm.CONTEXT, dtype=torch.int64)).shape == (5, 3)
    check_pair("textkinds", "window_classifier")
    with pytest.raises(LtkitError, match="one label per window.*use --model window_classifier"):
        check_pair("textkinds", "transformer")


def test_a_text_without_one_of_the_kinds_is_refused():
    x, y = torch.zeros(6, 4, dtype=torch.int64), torch.tensor([0, 0, 1, 1, 0, 1])
    with pytest.raises(LtkitError, match="no comment"):
        pretraining_text.balanced(x, y, seed=0)
