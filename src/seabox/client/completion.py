"""Shell completion scripts (bash, zsh, fish) generated from the command table.

The scripts complete commands, group subcommands and flags statically, and container, image,
network and volume names by calling ``seabox`` itself (``ps -a --format``, ``images --format``...).
"""

from __future__ import annotations

from seabox import errdefs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from seabox.client.context import Context
    from seabox.client.runopts import Options

# command -> completion of its positional words
_DYNAMIC = {
    "containers": "$(seabox ps -a --format '{{.Names}}' 2>/dev/null)",
    "images": "$(seabox images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null)",
    "networks": "$(seabox network ls --format '{{.Name}}' 2>/dev/null)",
    "volumes": "$(seabox volume ls --format '{{.Name}}' 2>/dev/null)",
}


def _table() -> tuple[dict[str, list[str]], dict[str, dict[str, list[str]]], list[str], dict[str, str]]:
    from seabox.cli.seabox_commands import GLOBAL_FLAGS, GROUPS, TOP

    def flags(c: object) -> list[str]:
        out = []
        for f in c.flags:  # type: ignore[attr-defined]
            out.append("--" + f.long)
            if f.short:
                out.append("-" + f.short)
        return out

    def kind(c: object) -> str:
        args = " ".join(c.args)  # type: ignore[attr-defined]
        for k in ("container", "image", "network", "volume"):
            if k in args or k in c.func:  # type: ignore[attr-defined]
                return k + "s"
        return ""

    top = {n: flags(c) for n, c in TOP.items()}
    top["build"] = ["--tag", "-t", "--file", "-f", "--build-arg", "--target", "--no-cache", "--pull", "--platform",
                    "--secret", "--output", "-o", "--push", "--progress", "--quiet", "-q", "--label", "--iidfile",
                    "--cache-from", "--cache-to"]  # seabox build (seabox.cli.seabox_build, not an Engine API command)
    groups = {g: {c.name: flags(c) for c in cmds} for g, (_h, cmds) in GROUPS.items()}
    glob = [x for f in GLOBAL_FLAGS for x in (["--" + f.long] + (["-" + f.short] if f.short else []))]
    kinds = {n: kind(c) for n, c in TOP.items()}
    for g, (_h, cmds) in GROUPS.items():
        for c in cmds:
            kinds[f"{g} {c.name}"] = kind(c) or (g + "s" if c.name in ("rm", "inspect") else "")
    for n in ("images", "pull", "tag", "push", "save", "history", "rmi", "run", "create"):
        if n in kinds:
            kinds[n] = "images"
    return top, groups, glob, kinds


def bash() -> str:
    top, groups, glob, kinds = _table()
    cmds = " ".join(sorted([*top, *groups]))
    lines = [
        "# bash completion for seabox                                  -*- shell-script -*-",
        "_seabox() {",
        "    local cur prev words cword cmd sub i",
        '    cur="${COMP_WORDS[COMP_CWORD]}"',
        "    cmd=''; sub=''",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        '        case "${COMP_WORDS[i]}" in',
        "            -H|--address|--host|-n|--namespace|--data-root|--cni-path|--cni-netconfpath|--insecure-registry|--config) ((i++)); continue ;;",
        "            -*) continue ;;",
        "        esac",
        '        if [[ -z $cmd ]]; then cmd="${COMP_WORDS[i]}"; elif [[ -z $sub ]]; then sub="${COMP_WORDS[i]}"; break; fi',
        "    done",
        '    if [[ -z $cmd ]]; then',
        f'        if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "{" ".join(glob)}" -- "$cur")); '
        f'else COMPREPLY=($(compgen -W "{cmds}" -- "$cur")); fi',
        "        return 0",
        "    fi",
        '    case "$cmd" in',
    ]
    for g, subs in sorted(groups.items()):
        lines.append(f"        {g})")
        lines.append(f'            if [[ -z $sub ]]; then COMPREPLY=($(compgen -W "{" ".join(sorted(subs))}" -- "$cur")); return 0; fi')
        lines.append('            case "$sub" in')
        for s, fl in sorted(subs.items()):
            dyn = _DYNAMIC.get(kinds.get(f"{g} {s}", ""), "")
            lines.append(f'                {s}) if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "{" ".join(fl)}" -- "$cur")); '
                         f'else COMPREPLY=($(compgen -W "{dyn}" -- "$cur")); fi ;;')
        lines.append("            esac ;;")
    for n, fl in sorted(top.items()):
        dyn = _DYNAMIC.get(kinds.get(n, ""), "")
        if n == "completion":
            dyn = "bash zsh fish"
        lines.append(f'        {n}) if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "{" ".join(fl)}" -- "$cur")); '
                     f'else COMPREPLY=($(compgen -W "{dyn}" -- "$cur")); fi ;;')
    lines += ["    esac", "    return 0", "}", "complete -F _seabox seabox", ""]
    return "\n".join(lines)


def zsh() -> str:
    return "#compdef seabox\n# zsh completion for seabox (uses bash completion through bashcompinit)\n" \
        "autoload -U +X bashcompinit && bashcompinit\n" + bash().split("\n", 1)[1]


def fish() -> str:
    top, groups, glob, _kinds = _table()
    out = ["# fish completion for seabox", "complete -c seabox -f"]
    for f in glob:
        if f.startswith("--"):
            out.append(f"complete -c seabox -n __fish_use_subcommand -l {f[2:]}")
    for n in sorted([*top, *groups]):
        out.append(f"complete -c seabox -n __fish_use_subcommand -a {n}")
    for n, fl in sorted(top.items()):
        for f in fl:
            if f.startswith("--"):
                out.append(f"complete -c seabox -n '__fish_seen_subcommand_from {n}' -l {f[2:]}")
    for g, subs in sorted(groups.items()):
        for s in sorted(subs):
            out.append(f"complete -c seabox -n '__fish_seen_subcommand_from {g}' -a {s}")
    out.append("complete -c seabox -n '__fish_seen_subcommand_from ps stop start rm logs exec inspect kill restart' "
               "-a \"(seabox ps -a --format '{{.Names}}' 2>/dev/null)\"")
    return "\n".join(out) + "\n"


def script(ctx: Context, o: Options) -> int:
    gens = {"bash": bash, "zsh": zsh, "fish": fish}
    if o.shell not in gens:
        raise errdefs.InvalidArgument(f'unsupported shell "{o.shell}": use bash, zsh or fish')
    ctx.out.write(gens[o.shell]())
    return 0
