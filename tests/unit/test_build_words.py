"""Variable substitution and word splitting as the Dockerfile does them."""

import pytest

from seabox.build.dockerfile.errors import ExpansionError
from seabox.build.dockerfile.words import (
    expand_heredoc,
    expand_word,
    expand_words,
    split_raw,
    unquote_words,
    used_names,
)

ENV = {"A": "x", "EMPTY": "", "SP": "a b", "HOME": "/root"}


def lk(name):
    return ENV.get(name)


@pytest.mark.parametrize(
    "text,want",
    [
        ("$A", "x"),
        ("${A}", "x"),
        ("${A}_y", "x_y"),
        ("$A_y", ""),  # the name is A_y, unset
        ("$UNSET", ""),
        ("pre-$A-post", "pre-x-post"),
        ("${UNSET:-def}", "def"),
        ("${EMPTY:-def}", "def"),
        ("${EMPTY-def}", ""),
        ("${UNSET-def}", "def"),
        ("${A:-def}", "x"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET:+alt}", ""),
        ("${UNSET+alt}", ""),
        ("${UNSET:-$A}", "x"),
        ("${UNSET:-${HOME}/bin}", "/root/bin"),
        ("${UNSET:-a b}", "a b"),
        ("\\$A", "$A"),
        ("\\${A}", "${A}"),
        ("'$A'", "$A"),
        ('"$A"', "x"),
        ('"\\$A"', "$A"),
        ('"a\\b"', "a\\b"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("$", "$"),
        ("a$", "a$"),
        ("$1", ""),
        ("$@x", "x"),
        ("a$%", "a$%"),
        ("${1}", ""),
        ("x\\", "x"),  # a trailing escape is dropped
        ("100%", "100%"),
        ("a\\ b", "a b"),
        ("${A:?boom}", "x"),
    ],
)
def test_expand_word(text, want):
    assert expand_word(text, lk) == want


@pytest.mark.parametrize(
    "text,err",
    [
        ("${A", "missing '}'"),
        ("${UNSET:-x", "missing '}'"),
        ("${}", "bad substitution"),
        ("${:}", "bad substitution"),
        ("${A!x}", "unsupported modifier"),
        ("${UNSET:?needs a value}", "UNSET: needs a value"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${V/x}", "missing '/'"),
        ("${", "missing '}'"),
        ("'open", "single-quote"),
        ('"open', "double-quote"),
    ],
)
def test_expand_errors(text, err):
    with pytest.raises(ExpansionError, match=err.replace("(", r"\(").replace("?", r"\?")):
        expand_word(text, lk)


def test_question_without_colon_accepts_empty():
    assert expand_word("${EMPTY?x}", lk) == ""


@pytest.mark.parametrize(
    "text,want",
    [
        ("a b  c", ["a", "b", "c"]),
        ("$SP c", ["a", "b", "c"]),  # unquoted expansion splits
        ('"$SP" c', ["a b", "c"]),
        ("x$SP", ["xa", "b"]),
        ("'a b' \"c d\"", ["a b", "c d"]),
        ('""', []),
        ('a "" b', ["a", "b"]),
        ("$UNSET", []),
        ("a\\ b c", ["a b", "c"]),
        ("", []),
    ],
)
def test_expand_words(text, want):
    assert expand_words(text, lk) == want


def test_backtick_escape():
    assert expand_word("C:\\dir\\$A", lk, escape="`") == "C:\\dir\\x"
    assert expand_word("`$A", lk, escape="`") == "$A"


def test_split_raw_keeps_quotes():
    assert split_raw('A="x y" B=z\\ w  C') == ['A="x y"', "B=z\\ w", "C"]
    assert unquote_words("'<<EOF'") == ["<<EOF"]


def test_heredoc_expansion_keeps_quotes():
    assert expand_heredoc('echo "$A" \'$A\' \\$A\n', lk) == "echo \"x\" 'x' $A\n"


def test_used_names():
    assert used_names("$A ${B:-$C} '$D' \\$E") >= {"A", "B", "C"}
    assert "E" not in used_names("\\$E")


PATHS = {"F": "/home/tux/book/book.tar.bz2", "V": "v1.2.3"}


@pytest.mark.parametrize(
    "text,want",
    [
        ("${F#*/}", "home/tux/book/book.tar.bz2"),
        ("${F##*/}", "book.tar.bz2"),
        ("${F%.*}", "/home/tux/book/book.tar"),
        ("${F%%.*}", "/home/tux/book/book"),
        ("${F##*.}", "bz2"),
        ("${F/tux/wilber}", "/home/wilber/book/book.tar.bz2"),
        ("${F//book/B}", "/home/tux/B/B.tar.bz2"),
        ("${V#v}", "1.2.3"),
        ("${V#x}", "v1.2.3"),
        ("${V/./-}", "v1-2.3"),
        ("${V//./-}", "v1-2-3"),
        ("${V/./}", "v12.3"),
        ("${V//[0-9]/N}", "v1.2.3"),  # no bracket expressions: [ is literal
        ("${V//?/N}", "NNNNNN"),
        ("${V%.?}", "v1.2"),
        ("${UNSET#x}", ""),
        ("${V#$PFX}", "1.2.3"),
    ],
)
def test_pattern_operators(text, want):
    env = dict(PATHS, PFX="v")
    assert expand_word(text, env.get) == want


def test_pattern_operator_unterminated():
    with pytest.raises(ExpansionError, match="missing"):
        expand_word("${V#v", PATHS.get)
