"""The Dockerfile parser: every instruction, ARG/ENV scoping, stages."""

import pytest

from seabox import errdefs
from seabox.build.dockerfile import (
    Add,
    BaseImage,
    Cmd,
    Copy,
    DockerfileError,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
    parse,
    parse_duration,
)
from seabox.build.dockerfile.parser import DEFAULT_PATH

PLAT = {"target_platform": "linux/arm64/v8", "build_platform": "linux/amd64"}
PATHKV = ("PATH", DEFAULT_PATH)


def p(text, **kw):
    for k, v in PLAT.items():
        kw.setdefault(k, v)
    return parse(text, **kw)


def one(text, **kw):
    """The only instruction after FROM."""
    df = p("FROM busybox\n" + text, **kw)
    assert len(df.stages[0].steps) == 1
    return df.stages[0].steps[0].instruction


def err(text, **kw):
    with pytest.raises(DockerfileError) as e:
        p(text, **kw)
    return e.value


# -- FROM ----------------------------------------------------------------------------------------------


def test_from_forms():
    df = p("FROM alpine\nFROM --platform=linux/amd64 debian:12 AS Build\nfrom build as final\nFROM scratch\n")
    a, b, c, d = df.stages
    assert a.from_ == From(1, 1, "FROM alpine", "alpine")
    assert (b.name, b.platform, b.from_.image, b.base_image) == ("build", "linux/amd64", "debian:12", "debian:12")
    assert (c.name, c.base_stage, c.base_image) == ("final", 1, None)
    assert d.base_image is None and d.base_stage is None
    assert df.stage("BUILD").index == 1 and df.stage("2").name == "final" and df.stage(3).index == 3
    with pytest.raises(errdefs.NotFound):
        df.stage("nope")


def test_from_digest_and_registry():
    df = p("FROM registry.example:5000/team/app@sha256:" + "a" * 64 + "\n")
    assert df.stages[0].base_image.endswith("a" * 64)


def test_from_global_args_and_platform_args():
    df = p("ARG TAG=3.19\nARG REG\nFROM --platform=$BUILDPLATFORM alpine:${TAG} AS b\nFROM img:$TARGETARCH\n")
    assert df.stages[0].from_.image == "alpine:3.19"
    assert df.stages[0].platform == "linux/amd64"
    assert df.stages[1].from_.image == "img:arm64"
    assert [a.name for a in df.global_args] == ["TAG", "REG"]


def test_from_build_arg_overrides_default():
    df = p("ARG TAG=1\nFROM alpine:$TAG\n", build_args={"TAG": "2"})
    assert df.stages[0].from_.image == "alpine:2"
    assert df.global_args[0].value == "2" and df.global_args[0].default == "1"


def test_from_stage_must_be_earlier():
    df = p("FROM later AS first\nFROM alpine AS later\n")
    assert df.stages[0].base_stage is None and df.stages[0].base_image == "later"


def test_from_errors():
    assert "either one argument, or three" in str(err("FROM a b\n"))
    assert "either one argument, or three" in str(err("FROM a AT b\n"))
    assert "invalid name for build stage" in str(err("FROM a AS 1st\n"))
    assert "duplicate stage name" in str(err("FROM a AS x\nFROM b AS X\n"))
    assert "base name should not be blank" in str(err("ARG X\nFROM $X\n"))
    assert "unknown flag: --plat" in str(err("FROM --plat=x a\n"))


# -- ARG / ENV scoping ------------------------------------------------------------------------------------


def test_global_arg_not_visible_in_stage_unless_redeclared():
    df = p("ARG V=1\nFROM a\nWORKDIR /x$V\nARG V\nWORKDIR /y$V\n")
    w1, _, w2 = df.stages[0].instructions
    assert w1.path == "/x" and w2.path == "/y1"


def test_stage_arg_default_and_build_arg():
    df = p("FROM a\nARG A=1 B\nENV X=$A-$B\n", build_args={"B": "b"})
    assert df.stages[0].instructions[1].pairs == (("X", "1-b"),)
    df = p("FROM a\nARG A=1\nENV X=$A\n", build_args={"A": "9"})
    assert df.stages[0].instructions[1].pairs == (("X", "9"),)


def test_stage_arg_default_wins_over_global():
    df = p("ARG A=g\nFROM a\nARG A=s\nENV X=$A\n")
    assert df.stages[0].instructions[1].pairs == (("X", "s"),)


def test_env_overrides_arg():
    df = p("FROM a\nARG V=arg\nENV V=env\nARG V=again\nWORKDIR /$V\n")
    assert df.stages[0].instructions[-1].path == "/env"


def test_env_expansion_uses_previous_values():
    df = p("FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n")
    _e1, e2, e3 = df.stages[0].instructions
    assert e2.pairs == (("abc", "bye"), ("def", "hello"))
    assert e3.pairs == (("ghi", "bye"),)


def test_env_forms():
    assert one("ENV A 1\n").pairs == (("A", "1"),)
    assert one("ENV MY_NAME John Doe\n").pairs == (("MY_NAME", "John Doe"),)
    assert one('ENV A="x y" B=z\\ w C=\n').pairs == (("A", "x y"), ("B", "z w"), ("C", ""))
    assert one("ENV A=1 \\\n    B=2\n").pairs == (("A", "1"), ("B", "2"))
    assert one("env A='$B'\n").pairs == (("A", "$B"),)


def test_env_errors():
    assert "ENV requires at least one argument" in str(err("FROM a\nENV\n"))
    assert "needs a value" in str(err("FROM a\nENV A\n"))
    assert "can't find =" in str(err("FROM a\nENV A=1 B\n"))


def test_platform_args_declared_in_stage():
    df = p("FROM a\nARG TARGETPLATFORM\nARG TARGETOS TARGETARCH TARGETVARIANT BUILDARCH\n"
           "ENV T=$TARGETPLATFORM O=$TARGETOS A=$TARGETARCH V=$TARGETVARIANT B=$BUILDARCH\nENV U=$BUILDOS\n")
    assert df.stages[0].instructions[2].pairs == (
        ("T", "linux/arm64/v8"), ("O", "linux"), ("A", "arm64"), ("V", "v8"), ("B", "amd64"))
    assert df.stages[0].instructions[3].pairs == (("U", ""),)  # not declared in the stage


def test_run_state_env_and_args():
    df = p("FROM a\nARG A=1\nARG UNSET\nENV E=2 A=env\nRUN echo\n", build_args={"HTTP_PROXY": "http://p:3128",
                                                                             "unused": "x"})
    run = df.stages[0].steps[-1]
    assert isinstance(run.instruction, Run)
    assert dict(run.state.args) == {"A": "1"} and run.state.proxy == (("HTTP_PROXY", "http://p:3128"),)
    assert dict(run.state.env) == {"PATH": DEFAULT_PATH, "E": "2", "A": "env"}
    assert run.state.run_env() == ["HTTP_PROXY=http://p:3128", "A=env", f"PATH={DEFAULT_PATH}", "E=2"]
    assert df.unused_build_args == ("unused",)


def test_stage_from_stage_inherits_env_workdir_user_shell():
    df = p('FROM a AS one\nENV A=1\nWORKDIR /app\nUSER me\nSHELL ["/bin/bash", "-c"]\n'
           "FROM one\nRUN x\nARG A=arg\nCOPY $A /d\n")
    st = df.stages[1].steps[0].state
    assert (st.env, st.workdir, st.user, st.shell) == ((PATHKV, ("A", "1")), "/app", "me", ("/bin/bash", "-c"))
    assert df.stages[1].instructions[2].sources == ("1",)


def test_base_image_config_is_inherited():
    df = p("FROM img:1\nWORKDIR $HOME/src\nRUN x\n",
           base_images={"img:1": BaseImage(env=("PATH=/usr/bin", "HOME=/home/u"), workdir="/w", user="u")})
    w, r = df.stages[0].steps
    assert w.instruction.path == "/home/u/src"
    assert r.state.workdir == "/home/u/src" and r.state.user == "u"
    assert ("PATH", "/usr/bin") in r.state.env


def test_workdir_relative_is_joined():
    df = p("FROM a\nWORKDIR /a\nWORKDIR b\nWORKDIR ../c\nRUN pwd\n")
    assert df.stages[0].steps[-1].state.workdir == "/a/c"


# -- RUN ------------------------------------------------------------------------------------------------


def test_run_shell_and_exec():
    r = one("RUN apt-get update && apt-get install -y x\n")
    assert r.command.shell_form and r.command.args == ("apt-get update && apt-get install -y x",)
    r = one('RUN ["/bin/echo", "a b", "$HOME"]\n')
    assert not r.command.shell_form and r.command.args == ("/bin/echo", "a b", "$HOME")
    r = one("RUN [ -f /etc/passwd ] && echo yes\n")
    assert r.command.shell_form
    r = one("RUN [ -f /etc/passwd ]\n")
    assert r.command.shell_form


def test_run_is_not_expanded():
    df = p("FROM a\nENV A=1\nRUN echo $A ${B:-x}\n")
    assert df.stages[0].instructions[1].command.args == ("echo $A ${B:-x}",)


def test_run_mounts():
    r = one("RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000,gid=1000 "
            "--mount=type=bind,source=/src,target=/w,from=builder,rw "
            "--mount=type=secret,id=token,required "
            "--mount=type=secret,target=/etc/key "
            "--mount=type=tmpfs,target=/tmp,size=1048576 "
            "--mount=type=ssh "
            "--network=none --security=insecure make\n")
    c, b, s1, s2, t, ssh = r.mounts
    assert (c.type, c.target, c.id, c.sharing, c.mode, c.uid, c.gid, c.readonly) == (
        "cache", "/root/.cache", "pip", "locked", 0o700, 1000, 1000, False)
    assert (b.type, b.source, b.target, b.from_, b.readonly) == ("bind", "/src", "/w", "builder", False)
    assert (s1.id, s1.target, s1.required, s1.mode, s1.uid) == ("token", "/run/secrets/token", True, 0o400, 0)
    assert (s2.id, s2.target) == ("key", "/etc/key")
    assert (t.type, t.size) == ("tmpfs", 1048576)
    assert ssh.id == "default" and ssh.mode == 0o600
    assert b.mode is None
    assert r.network == "none" and r.security == "insecure"


def test_run_mount_defaults():
    r = one("RUN --mount=target=/x --mount=type=cache,dst=/c true\n")
    assert r.mounts[0].type == "bind" and r.mounts[0].readonly
    assert r.mounts[1].id == "/c" and r.mounts[1].sharing == "shared"


def test_run_mount_expands_args():
    df = p("FROM a\nARG D=/cache\nRUN --mount=type=cache,target=$D true\n")
    assert df.stages[0].instructions[1].mounts[0].target == "/cache"


@pytest.mark.parametrize(
    "flag,msg",
    [
        ("--mount=type=nfs,target=/x", "unsupported mount type"),
        ("--mount=type=cache", "requires target"),
        ("--mount=type=cache,target=/x,sharing=weird", "sharing"),
        ("--mount=type=cache,target=/x,bogus=1", "unexpected key 'bogus'"),
        ("--mount=type=cache,target=/x,mode=9", "invalid mode"),
        ("--mount=type=cache,target=/x,uid=me", "invalid uid"),
        ("--mount=type=secret", "needs id or target"),
        ("--network=bridge", "unsupported network mode"),
        ("--security=x", "unsupported security mode"),
        ("--mount", "missing a value on flag: --mount"),
        ("--privileged", "unknown flag: --privileged"),
    ],
)
def test_run_flag_errors(flag, msg):
    e = err(f"FROM a\nRUN {flag} true\n")
    assert msg in str(e) and e.line == 2


def test_run_heredocs():
    r = one("RUN <<EOF\necho $HOME\nEOF\n")
    assert r.heredocs[0].content == "echo $HOME\n"  # left to the shell
    r = one("RUN python3 <<EOF\nprint('hi')\nEOF\n")
    assert r.command.args == ("python3 <<EOF",) and r.heredocs[0].content == "print('hi')\n"


def test_run_requires_arguments():
    assert "RUN requires at least one argument" in str(err("FROM a\nRUN\n"))


def test_bad_json_form():
    e = err('FROM a\nRUN ["echo", \'hi\']\n')
    assert "invalid JSON-form" in str(e) and e.line == 2
    assert "invalid JSON-form" in str(err('FROM a\nCMD ["a", 1]\n'))


# -- COPY / ADD ----------------------------------------------------------------------------------------


def test_copy_forms():
    c = one("COPY a b* c?/ /dst/\n")
    assert c.sources == ("a", "b*", "c?/") and c.dest == "/dst/"
    c = one('COPY ["a b", "c", "/d e/"]\n')
    assert c.sources == ("a b", "c") and c.dest == "/d e/"
    c = one("COPY --from=builder --chown=1000:1000 --chmod=0644 --link --parents --exclude=*.md x /y\n")
    assert (c.from_, c.chown, c.chmod, c.link, c.parents, c.excludes) == (
        "builder", "1000:1000", 0o644, True, True, ("*.md",))
    c = one("COPY --link=false a b\n")
    assert c.link is False


def test_copy_expansion():
    df = p("FROM a\nENV D=/dst U=app\nARG F=file\nCOPY --chown=$U $F ${F}2 $D/\nCOPY \\$F /x\n")
    c = df.stages[0].instructions[2]
    assert (c.sources, c.dest, c.chown) == (("file", "file2"), "/dst/", "app")
    assert df.stages[0].instructions[3].sources == ("$F",)


def test_copy_heredoc():
    df = p("FROM a\nARG N=world\nCOPY <<EOF /hello\nhello $N\nEOF\nCOPY <<'EOF' /raw\n$N\nEOF\n")
    c1, c2 = df.stages[0].instructions[1:]
    assert c1.sources == () and c1.dest == "/hello" and c1.heredocs[0].content == "hello world\n"
    assert c2.heredocs[0].content == "$N\n"


def test_copy_errors():
    assert "at least two arguments" in str(err("FROM a\nCOPY onlyone\n"))
    assert "invalid --chmod" in str(err("FROM a\nCOPY --chmod=rwx a b\n"))
    assert "unknown flag: --checksum" in str(err("FROM a\nCOPY --checksum=sha256:00 a b\n"))
    assert "duplicate flag" in str(err("FROM a\nCOPY --from=a --from=b a b\n"))
    assert "expecting boolean" in str(err("FROM a\nCOPY --link=maybe a b\n"))


def test_add():
    a = one("ADD --checksum=sha256:" + "0" * 64 + " --keep-git-dir --chown=1 https://x/y.tgz /z\n")
    assert isinstance(a, Add) and a.checksum == "sha256:" + "0" * 64 and a.keep_git_dir and a.chown == "1"
    assert "unknown flag: --from" in str(err("FROM a\nADD --from=x a b\n"))
    assert "invalid --checksum" in str(err("FROM a\nADD --checksum=md5:1 a b\n"))


def test_copy_from_refs():
    df = p("FROM a AS one\nFROM b\nCOPY --from=one /x /x\nCOPY --from=0 /y /y\nCOPY --from=nginx:1 /z /z\n"
           "RUN --mount=from=one,target=/m true\n")
    refs = df.stages[1].refs
    assert [(r.via, r.name, r.stage) for r in refs] == [
        ("copy", "one", 0), ("copy", "0", 0), ("copy", "nginx:1", None), ("mount", "one", 0)]


def test_copy_from_later_stage_is_refused():
    e = err("FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\n")
    assert e.line == 2 and "cannot copy from stage 'two', it needs to be defined before current stage 'one'" in str(e)
    e = err("FROM a\nRUN --mount=from=1,target=/m true\nFROM b\n")
    assert e.line == 2 and "cannot mount from stage '1'" in str(e)


# -- metadata instructions ------------------------------------------------------------------------------


def test_cmd_entrypoint_shell():
    assert one('CMD ["nginx", "-g", "daemon off;"]\n').command.args == ("nginx", "-g", "daemon off;")
    c = one("CMD echo $HOME\n")
    assert isinstance(c, Cmd) and c.command.shell_form and c.command.args == ("echo $HOME",)
    assert one("CMD []\n").command.args == ()
    e = one('ENTRYPOINT ["/init"]\n')
    assert isinstance(e, Entrypoint) and e.command.args == ("/init",)
    s = one('SHELL ["powershell", "-command"]\n')
    assert isinstance(s, Shell) and s.shell == ("powershell", "-command")
    assert "JSON form" in str(err("FROM a\nSHELL /bin/bash -c\n"))
    assert "JSON form" in str(err("FROM a\nSHELL []\n"))


def test_expose():
    e = one("EXPOSE 80 443/tcp 53/UDP 7000-7002/sctp\n")
    assert isinstance(e, Expose)
    assert [str(x) for x in e.ports] == ["80/tcp", "443/tcp", "53/udp", "7000-7002/sctp"]
    assert e.ports[3].ports() == ["7000/sctp", "7001/sctp", "7002/sctp"]
    df = p("FROM a\nARG P=8080\nEXPOSE $P\n")
    assert str(df.stages[0].instructions[1].ports[0]) == "8080/tcp"
    for bad in ("0", "70000", "80/xyz", "90-80", "http", "1.2.3.4:80:80"):
        assert "invalid port" in str(err(f"FROM a\nEXPOSE {bad}\n")), bad


def test_label():
    lab = one('LABEL a=b "com.x.y"="v 1" multi="line \\\n two" c=\n')
    assert isinstance(lab, Label)
    assert lab.pairs == (("a", "b"), ("com.x.y", "v 1"), ("multi", "line  two"), ("c", ""))
    assert one("LABEL version 1.0\n").pairs == (("version", "1.0"),)


def test_volume_user_workdir_stopsignal_maintainer():
    assert one('VOLUME ["/data", "/logs"]\n').paths == ("/data", "/logs")
    assert one("VOLUME /a /b\n").paths == ("/a", "/b")
    assert isinstance(one("VOLUME /a\n"), Volume)
    u = one("USER 1000:1000\n")
    assert isinstance(u, User) and u.user == "1000:1000"
    w = one('WORKDIR "/my dir"\n')
    assert isinstance(w, Workdir) and w.path == "/my dir"
    for s in ("SIGTERM", "sigkill", "9", "RTMIN+3", "SIGRTMAX-1", "QUIT"):
        assert isinstance(one(f"STOPSIGNAL {s}\n"), StopSignal)
    assert "invalid STOPSIGNAL" in str(err("FROM a\nSTOPSIGNAL SIGFOO\n"))
    assert "invalid STOPSIGNAL" in str(err("FROM a\nSTOPSIGNAL 99\n"))
    df = p("FROM a\nMAINTAINER Jane <j@x>\n")
    assert isinstance(df.stages[0].instructions[0], Maintainer)
    assert df.stages[0].instructions[0].name == "Jane <j@x>"
    assert any("deprecated" in w for w in df.warnings)
    assert "WORKDIR requires exactly one argument" in str(err("FROM a\nWORKDIR\n"))
    assert "empty" in str(err("FROM a\nWORKDIR $NOPE\n"))
    # the reference's example: USER ${username:-some_user}, then ARG username, USER $username
    df = p("FROM a\nUSER ${username:-some_user}\nARG username\nUSER $username\n")
    assert [i.user for i in df.stages[0].instructions if isinstance(i, User)] == ["some_user", ""]
    df = p("FROM a\nUSER ${username:-some_user}\nARG username\nUSER $username\n", build_args={"username": "me"})
    assert [i.user for i in df.stages[0].instructions if isinstance(i, User)] == ["some_user", "me"]


def test_healthcheck():
    h = one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 "
            "CMD curl -f http://localhost/ || exit 1\n")
    assert isinstance(h, Healthcheck)
    assert (h.interval, h.timeout, h.start_period, h.start_interval, h.retries) == (
        300 * 10**9, 3 * 10**9, 90 * 10**9, 500 * 10**6, 3)
    assert h.test() == ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
    h = one('HEALTHCHECK CMD ["/bin/check", "-q"]\n')
    assert h.test() == ["CMD", "/bin/check", "-q"]
    h = one("HEALTHCHECK none\n")
    assert h.command is None and h.test() == ["NONE"]


@pytest.mark.parametrize(
    "line,msg",
    [
        ("HEALTHCHECK --interval=5 CMD true", "invalid duration"),
        ("HEALTHCHECK --interval=100us CMD true", "cannot be less than 1ms"),
        ("HEALTHCHECK --retries=-1 CMD true", "must be at least 1"),
        ("HEALTHCHECK --retries=0 CMD true", "must be at least 1"),
        ("HEALTHCHECK --retries=x CMD true", "invalid number"),
        ("HEALTHCHECK --foo=1 CMD true", "unknown flag"),
        ("HEALTHCHECK CMD", "missing command"),
        ("HEALTHCHECK RUN true", "unknown type 'RUN'"),
        ("HEALTHCHECK NONE extra", "takes no other"),
        ("HEALTHCHECK --interval=1s NONE", "takes no other"),
    ],
)
def test_healthcheck_errors(line, msg):
    assert msg in str(err(f"FROM a\n{line}\n"))


@pytest.mark.parametrize(
    "s,ns",
    [("0", 0), ("1s", 10**9), ("1.5h", 5400 * 10**9), ("1m30s", 90 * 10**9), ("10ms", 10**7), ("7us", 7000),
     ("3ns", 3), ("1h2m3s4ms", (3723 * 1000 + 4) * 10**6), ("5", None), ("", None), ("1d", None), ("s", None)],
)
def test_parse_duration(s, ns):
    assert parse_duration(s) == ns


def test_onbuild():
    o = one("ONBUILD RUN echo $HOME\n")
    assert isinstance(o, Onbuild) and o.trigger == "RUN echo $HOME" and o.nested_keyword == "RUN"
    assert "ONBUILD ONBUILD" in str(err("FROM a\nONBUILD ONBUILD RUN x\n"))
    assert "FROM isn't allowed" in str(err("FROM a\nONBUILD FROM x\n"))
    assert "MAINTAINER isn't allowed" in str(err("FROM a\nonbuild maintainer me\n"))
    assert "unknown instruction in ONBUILD" in str(err("FROM a\nONBUILD FOO x\n"))


def test_case_insensitive_keywords():
    df = p("from a as B\nrun echo\nCoPy x y\nEnv A=1\n")
    assert [type(i).__name__ for i in df.stages[0].instructions] == ["Run", "Copy", "Env"]
    assert df.stages[0].name == "b"


def test_flags_refused_on_instructions_without_flags():
    assert "unknown flag: --foo" in str(err("FROM a\nWORKDIR --foo /x\n"))


# -- whole-file errors -----------------------------------------------------------------------------------


def test_error_format():
    e = err("FROM a\nFORM b\n", filename="sub/Dockerfile.dev")
    assert str(e) == "sub/Dockerfile.dev:2: unknown instruction: FORM (did you mean FROM?): FORM b"
    assert isinstance(e, errdefs.InvalidArgument) and e.line == 2 and e.text == "FORM b"
    assert str(err("FROM a\nXYZZY b\n")).endswith("unknown instruction: XYZZY: XYZZY b")


def test_instruction_before_from():
    e = err("# c\nRUN echo\nFROM a\n")
    assert e.line == 2 and "must start with FROM" in str(e)


def test_empty_and_arg_only():
    assert "file with no instructions" in str(err("# only a comment\n\n"))
    assert "no FROM instruction" in str(err("ARG A=1\n"))


def test_circular_stage_refs():
    e = err("FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nCOPY --from=one /y /y\n")
    assert "circular dependency" in str(e)
    assert e.line in (2, 4)
    assert "circular" in str(err("FROM a AS self\nCOPY --from=self /x /x\n"))
    assert "circular" in str(err("FROM a AS one\nRUN --mount=from=two,target=/m x\nFROM one AS two\n"))


def test_unknown_stage_index():
    e = err("FROM a\nFROM b\nCOPY --from=5 /x /x\n")
    assert e.line == 3 and "unknown stage '5'" in str(e)
    e = err("FROM a\nCOPY --from=Not_A+Ref /x /x\n")
    assert "unknown stage or invalid image reference" in str(e)


def test_step_lines_and_originals():
    df = p("FROM a\n\nRUN a \\\n  b\n# c\nENV X=1\n")
    assert [(s.instruction.line, s.instruction.end_line) for s in df.stages[0].steps] == [(3, 4), (6, 6)]
    assert isinstance(df.stages[0].steps[1].instruction, Env)


def test_key_excludes_line_numbers():
    a = p("FROM a\nRUN echo hi\n").stages[0].instructions[0]
    b = p("FROM a\n\n\n# x\nRUN echo hi\n").stages[0].instructions[0]
    assert a.line != b.line and a.key() == b.key()
    assert a.key()["instruction"] == "RUN"


def test_escape_directive_backtick():
    df = p("# escape=`\nFROM windows\nCOPY C:\\src\\ C:\\dst\\\nRUN dir `\n  c:\\\n")
    c, r = df.stages[0].instructions
    assert isinstance(c, Copy) and c.sources == ("C:\\src\\",) and c.dest == "C:\\dst\\"
    assert r.command.args == ("dir   c:\\",)


def test_host_platform_default():
    df = parse("FROM a\nARG TARGETPLATFORM\nENV T=$TARGETPLATFORM\n")
    assert df.stages[0].instructions[1].pairs[0][1].startswith("linux/")


def test_user_and_stopsignal_take_one_word():
    assert "USER requires exactly one argument" in str(err("FROM a\nUSER a b\n"))
    assert "STOPSIGNAL requires exactly one argument" in str(err("FROM a\nSTOPSIGNAL TERM KILL\n"))


def test_argv_helpers():
    df = p('FROM a\nRUN echo hi\nRUN ["ls", "-l"]\nRUN <<EOF\nset -e\necho $A\nEOF\n'
           "RUN python3 <<EOT > /out\nprint(1)\nEOT\nRUN <<'X'\n#!/usr/bin/env python3\nprint(2)\nX\n"
           'SHELL ["/bin/bash", "-c"]\nCMD serve --port 80\nENTRYPOINT ["/init"]\n')
    steps = df.stages[0].steps
    argv = [s.state.run_argv(s.instruction) for s in steps[:5]]
    assert argv[0] == ["/bin/sh", "-c", "echo hi"]
    assert argv[1] == ["ls", "-l"]
    assert argv[2] == ["/bin/sh", "-c", "set -e\necho $A\n"]
    assert argv[3] == ["/bin/sh", "-c", "python3 <<EOT > /out\nprint(1)\nEOT\n"]
    assert steps[4].instruction.shebang_script() == "#!/usr/bin/env python3\nprint(2)\n"
    assert steps[2].instruction.shebang_script() is None and steps[3].instruction.is_lone_heredoc() is False
    cmd, ep = steps[6], steps[7]
    assert cmd.state.argv(cmd.instruction.command) == ["/bin/bash", "-c", "serve --port 80"]
    assert ep.state.argv(ep.instruction.command) == ["/init"]


def test_parse_file(tmp_path):
    from seabox.build.dockerfile import parse_file

    f = tmp_path / "Dockerfile.dev"
    f.write_text("FROM a\nBOGUS x\n")
    with pytest.raises(DockerfileError) as e:
        parse_file(str(f), filename="Dockerfile.dev", **PLAT)
    assert str(e.value) == "Dockerfile.dev:2: unknown instruction: BOGUS: BOGUS x"
    f.write_text("FROM a\n")
    assert parse_file(str(f), **PLAT).filename == str(f)


def test_copy_heredoc_spaced_opener_and_lone_detection():
    c = one("COPY << EOF /dst\nx\nEOF\n")
    assert c.sources == () and c.dest == "/dst" and c.heredocs[0].content == "x\n"
    r = one("RUN << 'EOF'\n#!/bin/sh\necho\nEOF\n")
    assert r.is_lone_heredoc() and r.shebang_script() == "#!/bin/sh\necho\n"
    r = one("RUN <<EOF python3\nprint(1)\nEOF\n")
    assert not r.is_lone_heredoc()


def test_from_references_see_global_args():
    df = p("ARG SRC=builder\nFROM a AS builder\nFROM b\nCOPY --from=$SRC /x /x\n"
           "RUN --mount=type=bind,from=${SRC},target=/m true\n")
    assert [(r.name, r.stage) for r in df.stages[1].refs] == [("builder", 0), ("builder", 0)]


def test_onbuild_triggers_of_the_base_image_run_first():
    base = BaseImage(env=("A=1",), workdir="/app", onbuild=("COPY . /app/src", "RUN make $A", "ENV B=2"),
                     shell=("/bin/bash", "-c"))
    df = p("FROM lib AS one\nRUN echo $B\nFROM one\nRUN true\n", base_images={"lib": base})
    steps = df.stages[0].steps
    assert [(type(s.instruction).__name__, s.onbuild, s.instruction.line) for s in steps] == [
        ("Copy", True, 1), ("Run", True, 1), ("Env", True, 1), ("Run", False, 2)]
    assert steps[0].instruction.dest == "/app/src"
    assert steps[3].state.env == (("A", "1"), PATHKV, ("B", "2")) and steps[3].state.shell == ("/bin/bash", "-c")
    assert all(not s.onbuild for s in df.stages[1].steps)  # the stage "one" declares no ONBUILD of its own


def test_from_a_stage_runs_that_stages_own_onbuild():
    df = p("FROM lib AS one\nONBUILD RUN echo child\nFROM one\nRUN true\n",
           base_images={"lib": BaseImage(onbuild=("RUN echo lib",))})
    one, two = df.stages
    assert [(s.onbuild, s.instruction.command.args) for s in one.steps if isinstance(s.instruction, Run)] == [
        (True, ("echo lib",))]
    assert [(s.onbuild, s.instruction.command.args) for s in two.steps] == [
        (True, ("echo child",)), (False, ("true",))]


def test_bad_onbuild_trigger_is_reported_at_from():
    e = err("FROM a\nFROM lib\n", base_images={"lib": BaseImage(onbuild=("COPY onlyone",))})
    assert e.line == 2 and "ONBUILD trigger 'COPY onlyone' of lib" in str(e) and e.text == "FROM lib"
    e = err("FROM lib\n", base_images={"lib": BaseImage(onbuild=("FROM x",))})
    assert "invalid ONBUILD trigger" in str(e)


def test_onbuild_heredoc_round_trip():
    o = one("ONBUILD RUN <<EOF\necho $HOME\nEOF\n")
    assert o.trigger == "RUN <<EOF\necho $HOME\nEOF"
    df = p("FROM lib\n", base_images={"lib": BaseImage(onbuild=(o.trigger,))})
    run = df.stages[0].steps[0].instruction
    assert isinstance(run, Run) and run.heredocs[0].content == "echo $HOME\n" and run.is_lone_heredoc()


def test_more_edges():
    df = p("ARG TARGETPLATFORM\nARG BUILDARCH=custom\nFROM img:$TARGETPLATFORM-$BUILDARCH\n")
    assert df.stages[0].from_.image == "img:linux/arm64/v8-custom"
    assert df.global_args[0].value == "linux/arm64/v8"
    assert "VOLUME specified can not be an empty string" in str(err('FROM a\nVOLUME ["/a", " "]\n'))
    assert "MAINTAINER requires exactly one argument" in str(err("FROM a\nMAINTAINER\n"))
    r = one("RUN --mount=type=cache,target=/c,ro=false,readonly=0 --mount=type=secret,id=s,required=false true\n")
    assert r.mounts[0].readonly is False and r.mounts[1].required is False
    assert "invalid value for ro" in str(err("FROM a\nRUN --mount=type=cache,target=/c,ro=maybe true\n"))
    assert "flag --mount: unexpected end of statement" in str(
        err('FROM a\nRUN --mount=type=cache,target="/c true\n'))
    e = err("FROM lib\n", base_images={"lib": BaseImage(onbuild=("RUN <<'EOF",))})
    assert "ONBUILD trigger" in str(e) and e.line == 1
    assert one("CMD a b\n").command.text == "a b" and one('CMD ["a", "b"]\n').command.text == "a b"
    assert one("RUN --mount=type=secret,id=t,env=TOKEN true\n").mounts[0].env == "TOKEN"
    assert "--from must not be empty" in str(err("FROM a\nARG E\nCOPY --from=$E /x /y\n"))


def test_tabs_separate_like_spaces():
    df = p("FROM\tubuntu:22.04\nLABEL\tmaintainer\tJane Doe <j@example.com>\nENV\tGOPATH\t/go\n"
           "ENV\tPLATFORMS\t\\\n\tlinux/386 linux/arm \\\n\tdarwin/amd64\nCOPY\t.\t/src\nHEALTHCHECK\tCMD\ttrue\n")
    lab, env1, env2, copy, hc = df.stages[0].instructions
    assert df.stages[0].from_.image == "ubuntu:22.04"
    assert lab.pairs == (("maintainer", "Jane Doe <j@example.com>"),)
    assert env1.pairs == (("GOPATH", "/go"),)
    assert env2.pairs == (("PLATFORMS", "linux/386 linux/arm \tdarwin/amd64"),)
    assert (copy.sources, copy.dest) == ((".",), "/src")
    assert hc.test() == ["CMD-SHELL", "true"]


def test_reference_arg_examples():
    text = "FROM ubuntu\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nRUN echo $CONT_IMG_VER\n"
    assert p(text).stages[0].instructions[1].pairs == (("CONT_IMG_VER", "v1.0.0"),)
    assert p(text, build_args={"CONT_IMG_VER": "v2"}).stages[0].instructions[1].pairs == (("CONT_IMG_VER", "v2"),)
    # an ARG goes out of scope at the end of its stage, also for a stage built FROM it
    df = p("FROM a AS one\nARG X=1\nENV E=1\nFROM one\nRUN echo\nFROM b\nRUN echo\n")
    assert df.stages[1].steps[0].state.args == () and df.stages[1].steps[0].state.env == (PATHKV, ("E", "1"))
    assert df.stages[2].steps[0].state.args == () and df.stages[2].steps[0].state.env == (PATHKV,)


def test_onbuild_trigger_must_be_single():
    e = err("FROM lib\n", base_images={"lib": BaseImage(onbuild=("RUN a\nRUN b",))})
    assert "a trigger must be a single instruction" in str(e)
