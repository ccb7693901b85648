"""`go_pattern_problem`: the module path patterns Go's `path.Match` takes, and why not.

Invariants guarded:
- a pattern Go takes is taken: `*`, `?`, `\\` escapes, `[...]` and `[^...]` classes of
  characters and `lo-hi` ranges (a reversed range is Go's business: it takes it);
- a pattern Go refuses (ErrBadPattern) is refused, with the reason and the fix: an unclosed
  or empty class, a `-` or `]` where a class character belongs, a trailing backslash;
- a malformed piece anywhere spoils the whole pattern, as in Go since 1.16;
- the verdict is Go's own for every pattern up to five characters of the grammar's
  alphabet, and for random longer ones (when a Go toolchain is at hand).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from go_platform_core.config import go_pattern_problem

UNCLOSED = "a `[` class is never closed with `]` (write `\\[` for a literal bracket)"
EMPTY = "`[]` is an empty class; a class needs a character (write `\\]` for a literal)"
DASH = "a `-` in `[...]` must sit between two characters (write `\\-` for a literal)"
NO_END = "a range in `[...]` has no upper end (`a-z`)"
LONE = "it ends in a lone `\\` (write `\\\\` for a backslash)"

VALID = [
    "",
    "github.com/acme/*",
    "*.corp.example.com",
    "example.com/team-?/x",
    "example.com/[a-z]*",
    "example.com/[^a-z0-9]",
    "example.com/[abc]/[xyz]",
    "[z-a]",  # reversed: Go takes it (it matches nothing)
    "[^^]",
    "[*?]",
    "[\\]]",
    "[\\-]",
    "[a\\-z]",
    "[a-\\]]",
    "\\*",
    "\\[",
    "a]b",
    "a-b",
    "\\\\",
]

INVALID = [
    ("[", UNCLOSED),
    ("github.com/acme/[", UNCLOSED),
    ("[a", UNCLOSED),
    ("[^", UNCLOSED),
    ("[a-", UNCLOSED),
    ("[\\", UNCLOSED),
    ("[\\]", UNCLOSED),
    ("[]", EMPTY),
    ("[^]", EMPTY),
    ("[]a]", EMPTY),
    ("[-a]", DASH),
    ("[a-b-c]", DASH),
    ("[a--]", DASH),
    ("[a-]", NO_END),
    ("[^a-]x]", NO_END),
    ("\\", LONE),
    ("github.com/acme\\", LONE),
    ("github.com/*/[a-z", UNCLOSED),
    ("[a]*[", UNCLOSED),  # after a piece that matched: the rest is still checked
]


@pytest.mark.parametrize("pattern", VALID)
def test_patterns_go_takes(pattern):
    assert go_pattern_problem(pattern) is None


@pytest.mark.parametrize(("pattern", "problem"), INVALID, ids=[case[0] for case in INVALID])
def test_patterns_go_refuses_say_why(pattern, problem):
    assert go_pattern_problem(pattern) == problem


# --- properties --------------------------------------------------------------------------

_plain = st.characters(blacklist_characters="*?[\\", blacklist_categories=("Cs",))
_class_char = st.one_of(
    st.characters(blacklist_characters="-]\\", blacklist_categories=("Cs",)),
    st.characters(blacklist_categories=("Cs",)).map(lambda c: f"\\{c}"),
)
_class_item = st.one_of(_class_char, st.tuples(_class_char, _class_char).map("-".join))


def _class(negated: str, items: list[str]) -> str:
    body = "".join(items)
    if not negated and body.startswith("^"):  # a literal `^` first would read as negation
        body = f"\\{body}"
    return f"[{negated}{body}]"


_term = st.one_of(
    _plain,
    st.sampled_from(["*", "?", "/"]),
    st.characters(blacklist_categories=("Cs",)).map(lambda c: f"\\{c}"),
    st.tuples(st.sampled_from(["", "^"]), st.lists(_class_item, min_size=1, max_size=4)).map(
        lambda t: _class(*t)
    ),
)
_valid_patterns = st.lists(_term, max_size=8).map("".join)


@given(_valid_patterns)
def test_every_pattern_of_the_grammar_is_taken(pattern):
    assert go_pattern_problem(pattern) is None


@given(_valid_patterns, st.sampled_from(["[", "\\", "[]", "[-", "[a-]"]))
def test_a_malformed_end_spoils_any_pattern(pattern, end):
    assert go_pattern_problem(pattern + end) is not None


@given(st.text(alphabet="ab-]\\[^*?/", max_size=16))
def test_any_text_gets_a_verdict(pattern):
    assert go_pattern_problem(pattern) in (None, UNCLOSED, EMPTY, DASH, NO_END, LONE)


# --- Go's own verdict --------------------------------------------------------------------

_GO_MATCH = """package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path"
)

func main() {
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		var pattern string
		if err := json.Unmarshal(lines.Bytes(), &pattern); err != nil {
			panic(err)
		}
		_, err := path.Match(pattern, "example.com/x")
		fmt.Println(err != nil)
	}
}
"""


@pytest.mark.skipif(shutil.which("go") is None, reason="no Go toolchain (`go` is not on PATH)")
def test_the_verdict_is_gos_own(tmp_path):
    alphabet = "a-]\\[^*?"
    patterns = ["".join(p) for n in range(6) for p in itertools.product(alphabet, repeat=n)]
    rng = random.Random(0)
    patterns += ["".join(rng.choices(alphabet + "/z", k=rng.randint(6, 14))) for _ in range(5000)]
    (tmp_path / "main.go").write_text(_GO_MATCH)
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "", "GO111MODULE": "off"}
    subprocess.run(["go", "build", "-o", "match", "main.go"], cwd=tmp_path, env=env, check=True)
    verdicts = subprocess.run(
        [str(tmp_path / "match")],
        input="".join(json.dumps(p) + "\n" for p in patterns),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    disagreements = [
        pattern
        for pattern, refused in zip(patterns, verdicts, strict=True)
        if (refused == "true") != (go_pattern_problem(pattern) is not None)
    ]
    assert disagreements == []
