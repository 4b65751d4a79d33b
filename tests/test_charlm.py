import pytest
import torch

from ltkit.engine import charlm
from ltkit.engine.datasets import load_dataset, training_set_size
from ltkit.errors import LtkitError
from ltkit.experiments.profiles import training_recipe


@pytest.fixture(scope="module")
def splits():
    return load_dataset("charlm")


def test_windows_predict_the_next_character_at_every_position():
    tokens = torch.arange(10)
    x, y = charlm.windows(tokens, context=3)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_charlm_holds_int64_windows_whose_targets_are_the_inputs_shifted_by_one(splits):
    for part in ("train", "val", "test"):
        x, y = splits.split(part)
        assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape and x.shape[1] == charlm.CONTEXT
        assert torch.equal(x[:, 1:], y[:, :-1])
        assert torch.equal(y[:-1, -1], x[1:, 0])  # windows follow one another in the text
    assert splits.num_classes == len(charlm.VOCABULARY) == 96
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == charlm.split_sizes()
    assert training_set_size("charlm") == len(splits.y_train)


def test_held_out_text_is_cut_by_position_so_no_training_window_contains_it(splits):
    train, val, test = charlm.split_texts()
    assert len(train) == 8 * len(val) == 8 * len(test)
    for name in charlm.MODULES:  # each module gives its start to training, its middle to validation, its end to testing
        text = charlm.module_text(name)
        start, middle, end = charlm.cut_by_position(text)
        assert start + middle + end == text and len(start) == 8 * len(end)
        assert start in train and middle in val and end in test
        assert end not in train and end not in val
    assert charlm.decode(splits.x_test[0]) == charlm.decode(charlm.encode(test[: charlm.CONTEXT]))


def test_the_vocabulary_is_newline_and_printable_ascii_and_anything_else_is_unknown():
    assert charlm.decode(charlm.encode("def f(x):\n    return x")) == "def f(x):\n    return x"
    assert charlm.decode(charlm.encode("caf\u00e9\tok")) == "caf??ok"
    assert charlm.encode("A").dtype == torch.int64


def test_bad_inputs_are_explained():
    with pytest.raises(LtkitError, match="too short for one window"):
        charlm.windows(torch.arange(3), context=3)
    with pytest.raises(LtkitError, match="context must be at least 1"):
        charlm.windows(torch.arange(30), context=0)
    with pytest.raises(LtkitError, match="three positive fractions"):
        charlm.cut_by_position("abcdef", (0.5, 0.6, 0.1))
    with pytest.raises(LtkitError, match="cannot be read here"):
        charlm.module_text("no_such_module_here")
    with pytest.raises(LtkitError, match="only .* characters of source"):
        charlm.module_text("bisect", chars=10**7)
    with pytest.raises(LtkitError, match="fixed by its position"):
        load_dataset("charlm", val_size=100)


def test_text_goes_only_to_the_transformer_and_the_transformer_reads_only_text():
    with pytest.raises(LtkitError, match="only the transformers read; use --model transformer"):
        training_recipe("charlm", "mlp")
    with pytest.raises(LtkitError, match="which the window_classifier does not guess; use --model transformer"):
        training_recipe("charlm", "window_classifier")
    with pytest.raises(LtkitError, match="use it with a text dataset"):
        training_recipe("mnist1d", "transformer")
    assert training_recipe("charlm", "transformer").iterations == 400


def test_the_split_is_named_with_the_python_version_so_caches_of_other_versions_are_not_reused(splits):
    assert splits.split_id.startswith("standard library of python 3.")
