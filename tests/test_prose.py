"""The lessons' prose reads as a lesson, not a lab notebook: few numbers, short sentences, evidence folded.

Prose is the markdown a student reads: outside answers and solutions (<details> blocks, where the "How we
know" tables live too), code, maths, tables, headings and the references. A numeral is a number written
on its own ("96.1%", "3,000", "0.5"); names that hold digits are not ("LeNet-300-100", "MNIST-1D", "lesson
05", "seed 10"), nor the year of a citation. Spelled-out numbers count too ("two", "a hundred", "half");
"one" does not, being mostly an article ("one question per lesson").

    python -m tests.test_prose     # the measure of every lesson, a line each
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MOST_NUMERALS_PER_100_WORDS = 2.0
LONGEST_SENTENCE = 45  # words

SPELLED = (
    "two three four five six seven eight nine ten eleven twelve thirteen fifteen twenty thirty forty fifty "
    "hundred hundreds thousand thousands million half halves third thirds quarter quarters fifth fifths "
    "tenth tenths twice dozen"
).split()
NUMERAL = re.compile(r"(?<![\w.-])[+−-]?\d[\d,.]*(?:%|x|×)?(?![\w-])|\b(?:" + "|".join(SPELLED) + r")\b", re.I)
NAMED_NUMBER = re.compile(
    r"\b(?:lessons?|seeds?|Lessons?|round|rounds|part|step|section|figure|exercise|question|arXiv:)\s*"
    r"\d[\d,–-]*(?:\s*(?:and|or|to|-|–)\s*\d+)*",
    re.I,
)
CITATION_YEAR = re.compile(r"\b(?:19|20)\d\d[a-z]?\b")


def prose(notebook):
    """The text of the lesson a student reads, one string per markdown cell."""
    texts = []
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] != "markdown" or text.lstrip().startswith("## References"):
            continue
        text = re.sub(r"<details>.*?</details>", " ", text, flags=re.S)
        text = re.sub(r"```.*?```", " ", text, flags=re.S)
        text = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$|`[^`\n]*`", " X ", text, flags=re.S)
        text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)  # images
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links: their text only
        text = re.sub(r"<[^>]+>", " ", text)
        lines = [line for line in text.splitlines() if not line.lstrip().startswith(("|", "#"))]
        lines = [re.sub(r"^\s*\d+\.\s", "- ", line) for line in lines]  # a numbered list's numbers
        texts.append("\n".join(lines))
    return texts


def numerals(text):
    text = CITATION_YEAR.sub(" ", NAMED_NUMBER.sub(" ", text))
    return NUMERAL.findall(text)


def words(text):
    return re.findall(r"[A-Za-z0-9][\w'’.,%-]*", text)


def sentences(text):
    """Sentences and list items, each a string."""
    pieces = re.split(r"\n\s*\n|\n\s*(?:[-*]|\d+\.)\s+|(?<=[.!?])\)?\s+(?=[A-Z*(\"])", text)
    return [" ".join(piece.split()) for piece in pieces if piece.strip()]


def measure(path):
    texts = prose(json.loads(path.read_text()))
    found = [n for t in texts for n in numerals(t)]
    total = sum(len(words(t)) for t in texts)
    longest = max((s for t in texts for s in sentences(t)), key=lambda s: len(words(s)), default="")
    return dict(words=total, numerals=found, per_100=100 * len(found) / max(total, 1), longest=longest)


def test_the_measure_counts_numbers_and_not_names():
    text = "LeNet-300-100 reaches 96.1% after 3,000 steps in lesson 05 (Frankle et al., 2020), about half."
    assert numerals(text) == ["96.1%", "3,000", "half"]
    assert len(sentences("A short one. Another one here.\n- an item\n- and another")) == 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_number_per_claim(path):
    found = measure(path)
    assert found["per_100"] <= MOST_NUMERALS_PER_100_WORDS, (
        f"{path.name}: {found['per_100']:.1f} numerals per 100 words of prose (at most "
        f"{MOST_NUMERALS_PER_100_WORDS}); move where a claim came from into the 'How we know' table: "
        f"{found['numerals']}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_short_sentences(path):
    longest = measure(path)["longest"]
    assert len(words(longest)) <= LONGEST_SENTENCE, f"{path.name}: {len(words(longest))} words: {longest}"


if __name__ == "__main__":
    for path in NOTEBOOKS:
        found = measure(path)
        print(
            f"{path.stem:32s} {found['words']:5d} words {len(found['numerals']):4d} numerals "
            f"{found['per_100']:4.1f}/100  longest sentence {len(words(found['longest']))} words"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_where_the_claims_came_from_is_one_folded_table(path):
    markdown = "".join(
        "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"
    )
    folded = re.findall(r"<details><summary>How we know</summary>(.*?)</details>", markdown, re.S)
    assert len(folded) == 1 and "|---" in folded[0], f"{path.name}: one folded 'How we know' table"
