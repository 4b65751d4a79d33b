"""Text to pre-train a network on, and two tasks on text held out of it (tickets in a pre-trained network).

All of it is the Python standard library's source, so nothing is downloaded, as for charlm:
- `stdlib`: pre-training, next-character prediction on PRETRAINING_MODULES (a larger cut than charlm's);
- `heldout-lm`: next-character prediction on HELD_OUT_MODULES, text the pre-trained network never read;
- `textkinds`: for a window of CONTEXT characters of the held-out modules, what its last character is part
  of: code, a docstring or a comment (3 classes, the same number of each in every split).
Every module is cut by position, as charlm does (its first 80% for training, the next 10% for validation,
the last 10% for testing), so held-out text is never text a training window contains. The held-out
modules are not among the pre-training ones (tests/test_pretraining_text.py checks it).
"""

import ast
import functools
import io
import tokenize

import torch

from ltkit.engine import charlm
from ltkit.errors import LtkitError

# Modules with at least CHARS characters of source on every Python from 3.10 to 3.13, none a package whose
# __init__ holds little (pathlib, datetime and zipfile moved their code elsewhere in some versions).
PRETRAINING_MODULES = (
    "argparse",
    "ast",
    "codecs",
    "configparser",
    "dataclasses",
    "difflib",
    "doctest",
    "enum",
    "functools",
    "inspect",
    "ipaddress",
    "locale",
    "logging",
    "mailbox",
    "optparse",
    "pickle",
    "random",
    "shutil",
    "socket",
    "statistics",
    "subprocess",
    "threading",
    "typing",
    "zipfile",
)
HELD_OUT_MODULES = ("bdb", "ftplib", "imaplib", "pdb", "smtplib", "tarfile")
CHARS = 30_000  # the first this many characters of each module
KINDS = ("code", "docstring", "comment")  # the classes of textkinds, in this order


def stdlib_lm(modules=PRETRAINING_MODULES, chars=CHARS, context=charlm.CONTEXT):
    """(x_train, y_train, x_val, y_val, x_test, y_test) for next-character prediction on `modules`, as charlm."""
    tensors = []
    for text in charlm.split_texts(modules, chars):
        tensors.extend(charlm.windows(charlm.encode(text), context))
    return tuple(tensors)


def heldout_lm():
    """Next-character prediction on the held-out modules."""
    return stdlib_lm(HELD_OUT_MODULES)


def character_kinds(source):
    """For every character of a module's source, the index in KINDS of what it is part of: a comment (from
    `#` to the end of its line), a docstring (the string that opens a module, class or function body, quotes
    included), or else code. Whitespace takes the kind of what it lies in."""
    lines = source.splitlines(keepends=True)
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line))

    def offset(row, column):  # tokenize counts a line's characters
        return line_starts[row - 1] + column

    def byte_offset(row, column):  # ast counts its UTF-8 bytes
        return offset(row, len(lines[row - 1].encode()[:column].decode()))

    kinds = torch.zeros(len(source), dtype=torch.int64)
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                start = byte_offset(first.lineno, first.col_offset)
                end = byte_offset(first.end_lineno, first.end_col_offset)
                kinds[start:end] = KINDS.index("docstring")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            kinds[offset(*token.start) : offset(*token.end)] = KINDS.index("comment")
    return kinds


def kind_windows(text, kinds, context=charlm.CONTEXT):
    """Every window of `context` characters of `text` (overlapping, one per end position), and the kind of
    its last character: x [N, context], y [N]."""
    if len(text) < context:
        raise LtkitError(f"a text of {len(text)} characters is too short for one window of {context}")
    tokens = charlm.encode(text)
    x = tokens.unfold(0, context, 1)
    return x, kinds[context - 1 :]


def balanced(x, y, seed):
    """As many examples of each class as the rarest has, chosen at random (`seed`), kept in text order."""
    counts = torch.bincount(y, minlength=len(KINDS))
    if int(counts.min()) == 0:
        missing = [KINDS[i] for i in range(len(KINDS)) if counts[i] == 0]
        raise LtkitError(f"the text has no {' or '.join(missing)}: every kind must occur in every split")
    generator = torch.Generator().manual_seed(seed)
    n = int(counts.min())
    chosen = [torch.nonzero(y == c).flatten() for c in range(len(KINDS))]
    keep = torch.cat([idx[torch.randperm(len(idx), generator=generator)[:n]] for idx in chosen]).sort().values
    return x[keep], y[keep]


def textkinds(modules=HELD_OUT_MODULES, chars=CHARS, context=charlm.CONTEXT):
    """(x_train, y_train, x_val, y_val, x_test, y_test) of the text-kind task on `modules`, classes balanced."""
    parts = [[], [], []]
    for name in modules:
        source = charlm.module_source(name)  # the whole file: its kinds need it to parse
        kinds = character_kinds(source)[:chars]
        text = charlm.module_text(name, chars)
        start = 0
        for part, piece in zip(parts, charlm.cut_by_position(text)):  # cut where heldout-lm cuts it
            part.append(kind_windows(piece, kinds[start : start + len(piece)], context))
            start += len(piece)
    tensors = []
    for seed, part in enumerate(parts):
        x, y = torch.cat([x for x, _ in part]), torch.cat([y for _, y in part])
        tensors.extend(balanced(x, y, seed))
    return tuple(tensors)


def stdlib_sizes():
    """Windows in stdlib's (train, validation, test) splits, known without reading any text."""
    return charlm.split_sizes(PRETRAINING_MODULES, CHARS)


def heldout_sizes():
    """Windows in heldout-lm's (train, validation, test) splits."""
    return charlm.split_sizes(HELD_OUT_MODULES, CHARS)


@functools.cache
def textkinds_sizes():
    """Examples in textkinds' (train, validation, test) splits: known only by labelling the text (a second)."""
    return tuple(len(y) for y in textkinds()[1::2])
