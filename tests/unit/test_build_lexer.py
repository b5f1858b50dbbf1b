"""Directives, continuations, comments and heredocs."""

import pytest

from seabox.build.dockerfile import DockerfileError
from seabox.build.dockerfile.lexer import lex


def kw(text):
    return [(ll.keyword, ll.rest, ll.line, ll.end_line) for ll in lex(text).lines]


def test_directives_at_top():
    r = lex("# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all\nFROM x\n")
    assert r.directives.syntax == "docker/dockerfile:1"
    assert r.directives.escape == "`"
    assert r.directives.check == "skip=all"


def test_directive_case_and_spacing():
    r = lex("#  ESCAPE = `\nFROM x\n")
    assert r.directives.escape == "`"


def test_directive_after_comment_is_a_comment():
    r = lex("# hello\n# escape=`\nFROM x\n")
    assert r.directives.escape == "\\"


def test_directive_after_blank_line_is_a_comment():
    r = lex("\n# escape=`\nFROM x\n")
    assert r.directives.escape == "\\"


def test_directive_after_instruction_is_a_comment():
    r = lex("FROM x\n# escape=`\nRUN a \\\n b\n")
    assert r.directives.escape == "\\"
    assert r.lines[1].rest == "a  b"


def test_unknown_directive_ends_directives():
    r = lex("# foo=bar\n# escape=`\nFROM x\n")
    assert r.directives.escape == "\\"


def test_duplicate_directive():
    with pytest.raises(DockerfileError, match="Dockerfile:2: only one escape"):
        lex("# escape=`\n# escape=\\\nFROM x\n")


def test_bad_escape_value():
    with pytest.raises(DockerfileError, match="Dockerfile:1: invalid escape token"):
        lex("# escape=x\nFROM x\n")


def test_continuation_and_comments_inside():
    text = "FROM x\nRUN apt-get update && \\\n    # a comment\n\n    apt-get install -y foo \\  \n  bar\nUSER me\n"
    r = lex(text)
    assert [(ll.keyword, ll.line, ll.end_line) for ll in r.lines] == [("FROM", 1, 1), ("RUN", 2, 6), ("USER", 7, 7)]
    assert r.lines[1].rest == "apt-get update &&     apt-get install -y foo   bar"
    assert r.warnings == [(4, "empty continuation line")]


def test_backtick_continuation():
    r = lex("# escape=`\nFROM x\nRUN dir c:\\ `\n  /s\n")
    assert r.lines[1].rest == "dir c:\\   /s"


def test_continuation_at_eof():
    r = lex("FROM x\nRUN a \\")
    assert r.lines[1].rest == "a"


def test_leading_whitespace_and_crlf():
    r = lex("  FROM x\r\n\tRUN  echo hi\r\n")
    assert [(ll.keyword, ll.rest) for ll in r.lines] == [("FROM", "x"), ("RUN", "echo hi")]


def test_hash_inside_arguments_is_not_a_comment():
    r = lex("FROM x\nRUN echo a # b\n")
    assert r.lines[1].rest == "echo a # b"


def test_bom_is_ignored():
    assert lex("\ufeffFROM x\n").lines[0].keyword == "FROM"


def test_heredoc_basic():
    r = lex("FROM x\nRUN <<EOF\napt-get update\napt-get install -y vim\nEOF\nUSER u\n")
    run = r.lines[1]
    assert (run.line, run.end_line) == (2, 5)
    assert run.heredocs[0].name == "EOF"
    assert run.heredocs[0].content == "apt-get update\napt-get install -y vim\n"
    assert run.heredocs[0].expand
    assert r.lines[2].keyword == "USER"


def test_heredoc_chomp_strips_tabs():
    r = lex("FROM x\nRUN <<-EOT\n\techo a\n\t\techo b\n\tEOT\n")
    h = r.lines[1].heredocs[0]
    assert h.content == "echo a\necho b\n"
    assert h.chomp


@pytest.mark.parametrize("opener", ["<<'EOF'", '<<"EOF"'])
def test_quoted_delimiter_disables_expansion(opener):
    r = lex(f"FROM x\nRUN {opener}\necho $HOME\nEOF\n")
    assert r.lines[1].heredocs[0].expand is False
    assert r.lines[1].heredocs[0].content == "echo $HOME\n"


def test_several_heredocs_in_one_line():
    r = lex("FROM x\nCOPY <<A <<B /dst/\na\nA\nb\nB\nRUN true\n")
    c = r.lines[1]
    assert [(h.name, h.content) for h in c.heredocs] == [("A", "a\n"), ("B", "b\n")]
    assert c.end_line == 6
    assert r.lines[2].keyword == "RUN"


def test_heredoc_with_program_and_fd():
    r = lex("FROM x\nRUN python3 <<EOF\nprint(1)\nEOF\nRUN cat 3<<X\nhi\nX\n")
    assert r.lines[1].heredocs[0].content == "print(1)\n"
    assert r.lines[2].heredocs[0].fd == 3


def test_heredoc_not_in_exec_form_or_other_instructions():
    r = lex('FROM x\nRUN ["sh", "-c", "cat <<EOF"]\nENV A=<<EOF\n')
    assert r.lines[1].heredocs == () and r.lines[2].heredocs == ()


def test_herestring_is_not_a_heredoc():
    r = lex("FROM x\nRUN cat <<<word\n")
    assert r.lines[1].heredocs == ()


def test_unterminated_heredoc():
    with pytest.raises(DockerfileError) as e:
        lex("FROM x\nRUN <<EOF\necho\n", "my.Dockerfile")
    assert str(e.value) == "my.Dockerfile:2: unterminated heredoc EOF: RUN <<EOF"


@pytest.mark.parametrize(
    "line,names,expand",
    [
        ("RUN <<EOF", ["EOF"], [True]),
        ("RUN <<-EOF", ["EOF"], [True]),
        ("RUN <<- EOF", ["EOF"], [True]),
        ("RUN << -EOF", ["-EOF"], [True]),
        ("RUN <<  EOF  > foo", ["EOF"], [True]),
        ("RUN 4<<EOF", ["EOF"], [True]),
        ("RUN <<EOF <<EOF2", ["EOF", "EOF2"], [True, True]),
        ("RUN <<eo'f'", ["eof"], [False]),
        ("RUN <<eo\\'f", ["eo'f"], [True]),
        ("RUN <<'e'o\\'f", ["eo'f"], [False]),
        ("RUN <<'one two'", ["one two"], [False]),
        ("RUN <<$EOF", ["$EOF"], [True]),
        ("RUN <<file.txt", ["file.txt"], [True]),
        ("RUN '<<EOF'", [], []),
        ('RUN "<<EOF"', [], []),
        ('RUN ["<<EOF"]', [], []),
        ("RUN cat <<<EOF", [], []),
        ("RUN --mount=type=cache,target=/foo <<MOUNT", ["MOUNT"], [True]),
    ],
)
def test_heredoc_openers(line, names, expand):
    bodies = "".join(f"body\n{n}\n" for n in names)
    r = lex(f"FROM x\n{line}\n{bodies}USER done\n")
    got = r.lines[1].heredocs
    assert [h.name for h in got] == names
    assert [h.expand for h in got] == expand
    assert r.lines[-1].keyword == "USER"


def test_heredoc_bodies_keep_comments_and_quotes():
    r = lex("FROM x\nRUN <<C\n# internal comment\necho hi # trailing\n\"q\" 'r'\nC\n")
    assert r.lines[1].heredocs[0].content == "# internal comment\necho hi # trailing\n\"q\" 'r'\n"


def test_heredoc_crossed_names():
    r = lex("FROM x\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n")
    assert [(h.name, h.content) for h in r.lines[1].heredocs] == [("X", "Y\n"), ("Y", "X\n")]


def test_heredoc_empty_body_and_chomped_terminator():
    r = lex("FROM x\nRUN <<EMPTY\nEMPTY\nRUN <<-U\n\tbaz\n\tU\n")
    assert r.lines[1].heredocs[0].content == ""
    assert r.lines[2].heredocs[0].content == "baz\n"


def test_heredoc_bad_delimiter():
    with pytest.raises(DockerfileError, match="Dockerfile:2: invalid heredoc delimiter"):
        lex("FROM x\nRUN <<'EOF\nEOF\n")
