"""The run config and history a stage produces."""

from seabox.build.dockerfile import parse
from seabox.build.imageconfig import base_image, created_by, stage_config

PLAT = {"target_platform": "linux/amd64", "build_platform": "linux/amd64"}
BASE = {"Env": ["PATH=/usr/bin", "LANG=C"], "Cmd": ["nginx", "-g", "daemon off;"], "WorkingDir": "/srv",
        "OnBuild": ["RUN base-trigger"], "Labels": {"from": "base"}}


def cfg(text, base=None):
    df = parse(text, **PLAT)
    return stage_config(df.stages[-1], base)


def test_metadata_instructions():
    c = cfg('FROM x\nENV PATH=/opt/bin A=1\nWORKDIR app\nUSER www\nEXPOSE 80 53/udp 7000-7001\n'
            'VOLUME /data /logs\nLABEL a=b from=me\nSTOPSIGNAL SIGQUIT\n'
            'HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/\nONBUILD RUN make\n'
            'MAINTAINER me@example.com\n', BASE).config
    assert c["Env"] == ["PATH=/opt/bin", "LANG=C", "A=1"]
    assert c["WorkingDir"] == "/srv/app"
    assert c["User"] == "www"
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "7000/tcp": {}, "7001/tcp": {}}
    assert c["Volumes"] == {"/data": {}, "/logs": {}}
    assert c["Labels"] == {"from": "me", "a": "b"}
    assert c["StopSignal"] == "SIGQUIT"
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f http://localhost/"], "Interval": 30 * 10**9,
                                "Retries": 3}
    assert c["OnBuild"] == ["RUN make"]  # the base's triggers are not inherited
    assert c["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert BASE["Env"] == ["PATH=/usr/bin", "LANG=C"]  # the base is not modified


def test_path_is_always_set():
    from seabox.build.dockerfile.parser import DEFAULT_PATH

    assert cfg("FROM scratch\nLABEL a=b\n").config["Env"] == ["PATH=" + DEFAULT_PATH]
    assert cfg("FROM x\nLABEL a=b\n", {"Env": ["PATH=/x"]}).config["Env"] == ["PATH=/x"]


def test_volume_forms():
    assert cfg('FROM x\nVOLUME ["/a", "/b"]\nVOLUME /c /d\n').config["Volumes"] == {
        "/a": {}, "/b": {}, "/c": {}, "/d": {}}


def test_entrypoint_resets_inherited_cmd():
    c = cfg('FROM x\nENTRYPOINT ["/init"]\n', BASE).config
    assert c["Entrypoint"] == ["/init"] and c["Cmd"] is None
    c = cfg('FROM x\nCMD ["serve"]\nENTRYPOINT ["/init"]\n', BASE).config
    assert c["Cmd"] == ["serve"]
    c = cfg("FROM x\nENTRYPOINT []\n", {"Entrypoint": ["/old"]}).config
    assert c["Entrypoint"] is None


def test_shell_form_uses_shell():
    c = cfg('FROM x\nCMD echo 1\nSHELL ["/bin/bash", "-c"]\nENTRYPOINT exec app\n').config
    assert c["Cmd"] == ["/bin/sh", "-c", "echo 1"]
    assert c["Entrypoint"] == ["/bin/bash", "-c", "exec app"]
    assert c["Shell"] == ["/bin/bash", "-c"]


def test_history():
    r = cfg("FROM y AS s\nFROM x\nARG V=1\nENV A=1\nRUN make\nCOPY a b /d/\nCOPY --from=0 /x /y\nLABEL l=1\n"
            'CMD ["run", "-v"]\nMAINTAINER m\nWORKDIR /srv\nWORKDIR ..\nCOPY --chown=1:2 --chmod=640 c /e\n', None)
    lines = [(h.created_by, h.empty_layer) for h in r.history]
    assert lines == [
        ("ARG V=1", True),
        ("ENV A=1", True),
        ("RUN |1 V=1 /bin/sh -c make # buildkit", False),
        ("COPY a b /d/ # buildkit", False),
        ("COPY /x /y # buildkit", False),
        ("LABEL l=1", True),
        ('CMD ["run" "-v"]', True),
        ("MAINTAINER m", True),
        ("WORKDIR /srv", False),
        ("WORKDIR /", True),
        ("COPY --chown=1:2 --chmod=640 c /e # buildkit", False),
    ]
    assert r.author == "m"


def test_created_by_misc():
    df = parse("FROM x\nRUN [\"ls\", \"-l\"]\nEXPOSE 443 80 53/udp\nHEALTHCHECK NONE\nCOPY <<EOF /f\nhi\nEOF\n"
               'VOLUME /a /b\nSHELL ["/bin/bash", "-c"]\n', **PLAT)
    got = [created_by(s, {}) for s in df.stages[0].steps]
    assert got == ["RUN ls -l # buildkit", "EXPOSE map[443/tcp:{} 53/udp:{} 80/tcp:{}]", 'HEALTHCHECK {"Test": ["NONE"]}',
                   "COPY <<EOF /f # buildkit", "VOLUME [/a /b]", "SHELL [/bin/bash -c]"]
    assert {h.comment for h in stage_config(df.stages[0]).history} == {"buildkit.dockerfile.v0"}


def test_base_image_round_trip():
    b = base_image(BASE)
    assert b.env == ("PATH=/usr/bin", "LANG=C") and b.workdir == "/srv" and b.user == ""
    df = parse("FROM nginx\nWORKDIR html\nRUN ls\n", base_images={"nginx": b}, **PLAT)
    assert df.stages[0].steps[0].onbuild and df.stages[0].steps[0].instruction.command.args == ("base-trigger",)
    assert df.stages[0].steps[-1].state.workdir == "/srv/html"
    assert base_image(None).env == ()
