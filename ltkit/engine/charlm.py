"""charlm: character-level language modelling on text every machine has, the Python standard library's source.

No download, on any machine or on Colab: the text is the source of a fixed list of standard-library modules,
read with `inspect.getsource`, from the start of each (module docstrings and comments first, so mostly
prose, then code). The standard library changes a little between Python versions, so the figures of this
dataset can shift slightly from one version to another; the version is part of its split's name, and so
of every cached result's key.

A network reads CONTEXT characters and predicts, at every position, the next one:
x = characters i .. i+CONTEXT-1 and y = characters i+1 .. i+CONTEXT, both [N, CONTEXT] as int64.
Each module's text is cut by position: its first 80% for training, the next 10% for validation, the last
10% for testing. Held-out text is therefore text no training window contains, not windows shuffled out of
the same passages.
"""

import importlib
import inspect
import sys

import torch

from ltkit.errors import LtkitError

MODULES = (
    "argparse",
    "calendar",
    "dataclasses",
    "difflib",
    "doctest",
    "functools",
    "heapq",
    "inspect",
    "statistics",
    "textwrap",
)
CHARS_PER_MODULE = 18_000  # the first this many characters of each: every split has a fixed size
CONTEXT = 32  # characters a network reads at once
SPLIT = (0.8, 0.1, 0.1)  # train, validation, test: fractions of each module's text, in this order
VOCABULARY = "\n" + "".join(chr(code) for code in range(32, 127))  # newline and printable ASCII
UNKNOWN = "?"  # what any other character (a tab, an accented letter) becomes


def module_source(name):
    """The whole source of a standard-library module."""
    try:
        return inspect.getsource(importlib.import_module(name))
    except (ImportError, OSError, TypeError) as error:
        raise LtkitError(f"the source of the standard-library module {name!r} cannot be read here ({error})") from None


def module_text(name, chars=CHARS_PER_MODULE):
    """The first `chars` characters of a standard-library module's source."""
    source = module_source(name)
    if len(source) < chars:
        raise LtkitError(
            f"the module {name!r} has only {len(source)} characters of source on this Python; {chars} are needed"
        )
    return source[:chars]


def encode(text):
    """Characters as indices into VOCABULARY (int64); characters outside it count as UNKNOWN."""
    index = {char: i for i, char in enumerate(VOCABULARY)}
    return torch.tensor([index.get(char, index[UNKNOWN]) for char in text], dtype=torch.int64)


def decode(indices):
    """Indices back to text."""
    return "".join(VOCABULARY[int(i)] for i in indices)


def cut_by_position(text, split=SPLIT):
    """(train, validation, test) pieces of `text`, in order: its start, middle and end."""
    if len(split) != 3 or any(part <= 0 for part in split) or abs(sum(split) - 1) > 1e-9:
        raise LtkitError(f"split must be three positive fractions adding up to 1 (train, val, test); got {split}")
    first = round(split[0] * len(text))
    second = first + round(split[1] * len(text))
    return text[:first], text[first:second], text[second:]


def windows(tokens, context=CONTEXT):
    """Non-overlapping windows of a 1-D sequence: inputs x [N, context] and next-character targets y [N, context]
    (y is x shifted by one). The last characters that do not fill a window are left out."""
    if context < 1:
        raise LtkitError(f"context must be at least 1 character; got {context}")
    count = (len(tokens) - 1) // context
    if count < 1:
        raise LtkitError(f"a text of {len(tokens)} characters is too short for one window of {context} + 1")
    used = tokens[: count * context + 1]
    return used[:-1].view(count, context), used[1:].view(count, context)


def split_texts(modules=MODULES, chars=CHARS_PER_MODULE, split=SPLIT):
    """The training, validation and test texts: each module cut by position, the pieces of a split joined."""
    pieces = [cut_by_position(module_text(name, chars), split) for name in modules]
    return tuple("".join(parts) for parts in zip(*pieces))


def split_sizes(modules=MODULES, chars=CHARS_PER_MODULE, split=SPLIT, context=CONTEXT):
    """Windows in the (train, validation, test) splits, known without reading any text."""
    lengths = [len(piece) for piece in cut_by_position(" " * chars, split)]
    return tuple((len(modules) * length - 1) // context for length in lengths)


def load_charlm(context=CONTEXT):
    """(x_train, y_train, x_val, y_val, x_test, y_test): windows of each split's text, as int64 tensors.

    A window never crosses from one split into another, since each split's text is cut into windows on its own.
    (Windows of one split may join the end of one module to the start of the next: rare, and harmless.)"""
    tensors = []
    for text in split_texts():
        tensors.extend(windows(encode(text), context))
    return tuple(tensors)


def split_id():
    """charlm's one split, named with the Python version whose standard library the text comes from."""
    return f"standard library of python {sys.version_info.major}.{sys.version_info.minor}"
