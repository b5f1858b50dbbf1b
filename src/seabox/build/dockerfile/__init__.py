"""The Dockerfile front end: lexer, word expansion, typed instructions and the parser.

Pure: it reads the text it is given and nothing else, so every rule of the
Dockerfile reference is a unit test.  ``parse()`` is the public entry point.
"""

from seabox.build.dockerfile.errors import DockerfileError
from seabox.build.dockerfile.instructions import (
    Add,
    Arg,
    ArgDecl,
    Cmd,
    Command,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Mount,
    Onbuild,
    PortSpec,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from seabox.build.dockerfile.lexer import Directives, Heredoc
from seabox.build.dockerfile.parser import (
    BaseImage,
    Dockerfile,
    Stage,
    StageRef,
    Step,
    StepState,
    parse,
    parse_duration,
    parse_file,
)

__all__ = [
    "Add", "Arg", "ArgDecl", "BaseImage", "Cmd", "Command", "Copy", "Directives", "Dockerfile", "DockerfileError",
    "Entrypoint", "Env", "Expose", "From", "Healthcheck", "Heredoc", "Instruction", "Label", "Maintainer", "Mount",
    "Onbuild", "PortSpec", "Run", "Shell", "Stage", "StageRef", "Step", "StepState", "StopSignal", "User", "Volume",
    "Workdir", "parse", "parse_duration", "parse_file",
]
