"""Image verbs (images, pull, push, tag, rmi, save, load, history, prune) and registry login/logout.

Registry credentials live in docker's ``config.json`` (``seabox.images.registry.credentials``);
pull and push send them to the daemon in ``X-Registry-Auth`` as docker's CLI does.
"""

from __future__ import annotations

import base64
import os
import sys

from seabox import errdefs, jsonlite
from seabox.client.refs import canonical, domain_of, familiar, split

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from seabox.client.context import Context
    from seabox.client.runopts import Options

IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                  "CreatedAt": "CREATED AT", "Size": "SIZE", "Digest": "DIGEST", "Containers": "CONTAINERS"}  # fmt: skip
IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_TABLE_DIGESTS = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"


def registry_auth_header(ref: str, config_path: str | None = None) -> str:
    """base64url JSON of the stored credentials for ``ref``'s registry ("e30=", i.e. ``{}``, if none)."""
    auth: dict[str, str] = {}
    host = domain_of(split(ref)[0])
    try:
        from seabox.images.registry.credentials import CredentialStore

        c = CredentialStore(config_path).get(host)
    except errdefs.SeaboxError:
        c = None
    if c is not None:
        auth = {"username": c.username, "password": c.password, "serveraddress": host}
        if c.identity_token:
            auth = {"identitytoken": c.identity_token, "serveraddress": host}
    return base64.urlsafe_b64encode(jsonlite.dumps(auth, ascii=False).encode()).decode()


def _short(i: str) -> str:
    return (i[7:] if i.startswith("sha256:") else i)[:12]


def images(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.units import ago, go_time, human_size

    filters = list(o.get("filter", []))
    if o.repository:
        filters.append(f"reference={o.repository}")
    rows = ctx.client.get_json("/images/json", {"all": o.all, "digests": 1, "filters": filters_json(filters)}) or []
    if o.quiet:
        seen = []
        for im in rows:
            i = im["Id"] if o.no_trunc else _short(im["Id"])
            if i not in seen:
                seen.append(i)
                ctx.print(i)
        return 0
    items = []
    for im in sorted(rows, key=lambda x: -x.get("Created", 0)):
        tags = [t for t in im.get("RepoTags") or [] if t != "<none>:<none>"]
        digests = [d for d in im.get("RepoDigests") or [] if d != "<none>@<none>"]
        pairs = [(split(t)[0], split(t)[1]) for t in tags] or [(split(digests[0])[0] if digests else "<none>", "<none>")]
        for repo, tag in pairs:
            dig = next((d.partition("@")[2] for d in digests if d.partition("@")[0] == repo), "<none>")
            items.append({
                "Containers": "N/A" if im.get("Containers", -1) < 0 else str(im["Containers"]),
                "CreatedAt": go_time(im.get("Created", 0)), "CreatedSince": ago(im.get("Created", 0)),
                "Digest": dig, "ID": im["Id"] if o.no_trunc else _short(im["Id"]), "Repository": repo,
                "SharedSize": "N/A", "Size": human_size(im.get("Size", 0)), "Tag": tag, "UniqueSize": "N/A",
                "VirtualSize": human_size(im.get("VirtualSize", im.get("Size", 0))),
            })  # fmt: skip
    from seabox.client.table import render

    default = IMAGES_TABLE_DIGESTS if o.digests else IMAGES_TABLE
    ctx.out.write(render(o.get("format", ""), items, default, IMAGES_HEADERS))
    return 0


def _check_ref(ref: str) -> None:
    """docker's "invalid reference format" before anything is printed or sent."""
    from seabox import errdefs
    from seabox.oci import reference as references

    try:
        references.parse(ref)
    except errdefs.InvalidArgument as e:
        why = str(e).partition(": ")[2] or str(e)
        raise errdefs.InvalidArgument(f"invalid reference format: {why}") from None


def pull_image(ctx: Context, ref: str, *, platform: str = "", quiet: bool = False, out: TextIO | None = None,
               print_ref: bool = True, all_tags: bool = False) -> None:  # fmt: skip
    from seabox.client import progress

    _check_ref(ref)
    repo, tag, digest = split(ref)
    if not tag and not digest and not all_tags:
        tag = "latest"
        if not quiet:
            (out or ctx.out).write("Using default tag: latest\n")
    q = {"fromImage": repo, "tag": digest or tag or None, "platform": platform or None}
    resp = ctx.client.request("POST", "/images/create", query=q, headers={"X-Registry-Auth": registry_auth_header(ref, ctx.settings.get("docker_config"))})
    stream = out or ctx.out
    try:
        progress.render(resp.iter_json(), stream, tty=stream.isatty(), quiet=quiet)
    finally:
        resp.close()
    if print_ref:
        ctx.print(canonical(f"{repo}:{tag}" if tag else f"{repo}@{digest}"))


def pull(ctx: Context, o: Options) -> int:
    pull_image(ctx, o.image, platform=o.platform or "", quiet=bool(o.quiet), all_tags=bool(o.all_tags))
    return 0


def push(ctx: Context, o: Options) -> int:
    from seabox.client import progress

    _check_ref(o.image)
    repo, tag, _ = split(o.image)
    if not tag and not o.all_tags:
        tag = "latest"
        if not o.quiet:
            ctx.print("Using default tag: latest")
    resp = ctx.client.request("POST", f"/images/{repo}/push", query={"tag": tag or None},
                              headers={"X-Registry-Auth": registry_auth_header(o.image, ctx.settings.get("docker_config"))})  # fmt: skip
    try:
        msgs = progress.render(resp.iter_json(), ctx.out, tty=ctx.out.isatty(), quiet=bool(o.quiet))
    finally:
        resp.close()
    if o.quiet:
        ctx.print(familiar(o.image))
    del msgs
    return 0


def tag(ctx: Context, o: Options) -> int:
    repo, t, _ = split(o.target)
    ctx.client.post(f"/images/{o.source}/tag", {"repo": repo, "tag": t or "latest"})
    return 0


def rmi(ctx: Context, o: Options) -> int:
    rc = 0
    for n in o.images:
        try:
            res = ctx.client.delete(f"/images/{n}", {"force": o.force, "noprune": o.no_prune}) or []
        except errdefs.SeaboxError as e:
            ctx.warn(f"Error response from daemon: {e}")
            rc = 1
            continue
        for r in res:
            if r.get("Untagged"):
                ctx.print(f"Untagged: {r['Untagged']}")
            if r.get("Deleted"):
                ctx.print(f"Deleted: {r['Deleted']}")
    return rc


def write_archive(ctx: Context, path: str, query: dict[str, Any] | None, output: str) -> int:
    """GET an archive (``save``, ``export``) into ``output`` (replaced only when complete) or
    to stdout, which must not be a terminal (docker's refusal)."""
    if not output and os.isatty(1):
        raise errdefs.InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = ctx.client.request("GET", path, query=query)
    try:
        if output:
            tmp = output + ".seabox-tmp"
            with open(tmp, "wb") as f:
                for chunk in resp.iter_chunks():
                    f.write(chunk)
            os.replace(tmp, output)
        else:
            for chunk in resp.iter_chunks():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    finally:
        resp.close()
    return 0


def save(ctx: Context, o: Options) -> int:
    return write_archive(ctx, "/images/get", {"names": list(o.images)}, o.output)


def load(ctx: Context, o: Options) -> int:
    from seabox.client import progress

    f: Any
    if o.input:
        try:
            f = open(o.input, "rb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise errdefs.NotFound(f"open {o.input}: {e.strerror}") from None
    else:
        if os.isatty(0):
            raise errdefs.InvalidArgument("requested load from stdin, but stdin is empty")
        f = sys.stdin.buffer
    try:
        resp = ctx.client.request("POST", "/images/load", query={"quiet": o.quiet}, body=f)
        try:
            progress.render(resp.iter_json(), ctx.out, tty=False)
        finally:
            resp.close()
    finally:
        if o.input:
            f.close()
    return 0


def import_(ctx: Context, o: Options) -> int:
    """``import file|- [REPOSITORY[:TAG]]``: a rootfs tarball as a one-layer image; prints its id."""
    from seabox.client.refs import split

    if o.source.startswith(("http://", "https://")):
        raise errdefs.InvalidArgument("import from a URL is not supported: download it and import the file")
    if not o.get("repository"):
        raise errdefs.InvalidArgument("import: a repository name is required (REPOSITORY[:TAG])")
    _check_ref(o.repository)
    repo, tag, _ = split(o.repository)
    f: Any
    if o.source == "-":
        if os.isatty(0):
            raise errdefs.InvalidArgument("requested import from stdin, but stdin is a terminal")
        f = sys.stdin.buffer
    else:
        try:
            f = open(o.source, "rb")  # noqa: SIM115 - closed below
        except OSError as e:
            raise errdefs.NotFound(f"open {o.source}: {e.strerror}") from None
    q = {"fromSrc": "-", "repo": repo, "tag": tag or None, "message": o.get("message") or None,
         "changes": list(o.get("change", [])) or None, "platform": o.get("platform") or None}
    try:
        resp = ctx.client.request("POST", "/images/create", query=q, body=f)
        try:
            for ev in resp.iter_json():
                if ev.get("status"):
                    ctx.print(ev["status"])
        finally:
            resp.close()
    finally:
        if o.source != "-":
            f.close()
    return 0


def history(ctx: Context, o: Options) -> int:
    from seabox.client.table import render
    from seabox.client.units import ago, go_time, human_size

    rows = ctx.client.get_json(f"/images/{o.image}/history") or []
    items = []
    for h in rows:
        by = h.get("CreatedBy", "")
        if not o.no_trunc:
            from seabox.client.containers import ellipsis

            by = ellipsis(by, 45)
        hid = h.get("Id", "<missing>")
        items.append({
            "ID": hid if (o.no_trunc or hid == "<missing>") else _short(hid),
            "CreatedSince": ago(h.get("Created", 0)) if h.get("Created") else "N/A", "CreatedAt": go_time(h.get("Created", 0)),
            "CreatedBy": by, "Size": human_size(h.get("Size", 0)), "Comment": h.get("Comment", ""),
        })  # fmt: skip
    if o.quiet:
        for i in items:
            ctx.print(i["ID"])
        return 0
    ctx.out.write(render(o.get("format", ""), items, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
                         {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedBy": "CREATED BY", "Size": "SIZE",
                          "Comment": "COMMENT", "CreatedAt": "CREATED AT"}))  # fmt: skip
    return 0


def image_prune(ctx: Context, o: Options) -> int:
    from seabox.client.containers import filters_json
    from seabox.client.units import human_size

    if not o.force and not confirm(ctx, "WARNING! This will remove all " + ("images without at least one container associated to them." if o.all else "dangling images.")):
        return 0
    filters = list(o.get("filter", []))
    filters.append("dangling=false" if o.all else "dangling=true")
    res = ctx.client.post_json("/images/prune", query={"filters": filters_json(filters)}) or {}
    deleted = res.get("ImagesDeleted") or []
    if deleted:
        ctx.print("Deleted Images:")
        for d in deleted:
            ctx.print(f"untagged: {d['Untagged']}" if d.get("Untagged") else f"deleted: {d.get('Deleted')}")
        ctx.print()
    ctx.print(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed', 0))}")
    return 0


def confirm(ctx: Context, warning: str) -> bool:
    ctx.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    ctx.out.flush()
    ans = sys.stdin.readline().strip().lower() if sys.stdin else ""
    return ans in ("y", "yes")


# ---- login / logout -----------------------------------------------------------------------------
def login(ctx: Context, o: Options) -> int:
    from seabox.images.registry.client import login as registry_login

    server = o.server or "docker.io"
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    user = o.username
    password = o.password
    if o.password_stdin:
        if password:
            raise errdefs.InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not user:
            raise errdefs.InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if password and not o.password_stdin:
        ctx.warn("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    if not user:
        if not os.isatty(0):
            raise errdefs.InvalidArgument("Cannot perform an interactive login from a non TTY device")
        ctx.out.write("Username: ")
        ctx.out.flush()
        user = sys.stdin.readline().strip()
    if not password:
        import getpass

        password = getpass.getpass("Password: ")
    if not user or not password:
        raise errdefs.InvalidArgument("Error: Non-null Username and Password Required")
    insecure = host in ctx.insecure_registries or server.startswith("http://")
    path = registry_login(host, user, password, config_path=ctx.settings.get("docker_config"),
                          hosts_dir=ctx.settings.get("hosts_dir"), plain_http=True if insecure else None,
                          skip_verify=insecure)  # fmt: skip
    ctx.warn(f"WARNING! Your password will be stored unencrypted in {path}.")
    ctx.print("Login Succeeded")
    return 0


def logout(ctx: Context, o: Options) -> int:
    from seabox.images.registry.client import logout as registry_logout

    server = o.server or "docker.io"
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if registry_logout(host, config_path=ctx.settings.get("docker_config")):
        ctx.print(f"Removing login credentials for {host}")
    else:
        ctx.print(f"Not logged in to {host}")
    return 0
