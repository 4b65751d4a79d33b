"""The text datasets (no download: the Python standard library's source), as ltkit.engine.datasets lists them.

Each gives load() -> (x_train, y_train, x_val, y_val, x_test, y_test), its splits fixed by position in the
text; sizes() -> windows in each split, known without loading (textkinds labels its text to count them);
source: the modules it reads and how many characters of each; classes; and labels_windows where the task
labels a whole window (textkinds) rather than the next character at every position.
"""

from ltkit.engine import charlm, pretraining_text

TEXT_DATASETS = {
    "charlm": dict(
        load=charlm.load_charlm,
        sizes=charlm.split_sizes,
        source=(charlm.MODULES, charlm.CHARS_PER_MODULE),
        classes=len(charlm.VOCABULARY),
        about="characters of the Python standard library's source, next-character prediction (no download)",
        text=True,
    ),
    "stdlib": dict(
        load=pretraining_text.stdlib_lm,
        sizes=pretraining_text.stdlib_sizes,
        source=(pretraining_text.PRETRAINING_MODULES, pretraining_text.CHARS),
        classes=len(charlm.VOCABULARY),
        about=f"next-character prediction on {len(pretraining_text.PRETRAINING_MODULES)} standard-library modules "
        "(pre-training; no download)",
        text=True,
    ),
    "heldout-lm": dict(
        load=pretraining_text.heldout_lm,
        sizes=pretraining_text.heldout_sizes,
        source=(pretraining_text.HELD_OUT_MODULES, pretraining_text.CHARS),
        classes=len(charlm.VOCABULARY),
        about=f"next-character prediction on {len(pretraining_text.HELD_OUT_MODULES)} modules held out of "
        "'stdlib' (no download)",
        text=True,
    ),
    "textkinds": dict(
        load=pretraining_text.textkinds,
        sizes=pretraining_text.textkinds_sizes,
        source=(pretraining_text.HELD_OUT_MODULES, pretraining_text.CHARS),
        classes=len(pretraining_text.KINDS),
        labels_windows=True,
        about="code, docstring or comment: the kind of a window's last character, in the modules held out of "
        "'stdlib' (no download)",
        text=True,
    ),
}
