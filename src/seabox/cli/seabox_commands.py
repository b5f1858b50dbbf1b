"""The `seabox` command table: docker's commands, flags and arguments, and the library function
each calls (``module:function`` under ``seabox.client``, imported only when the command runs)."""

from __future__ import annotations

from seabox.cli.seabox_flags import BOOL, INT, LIST, STR, Command, Flag

F = Flag

GLOBAL_FLAGS = [
    F("address", "H", STR, "Address of seaboxd (unix:///run/seabox/seaboxd.sock; env SEABOX_ADDRESS)", dest="address"),
    F("host", "", STR, "Alias of --address", dest="address"),
    F("namespace", "n", STR, "Namespace (default \"default\"; env SEABOX_NAMESPACE)"),
    F("data-root", "", STR, "Root directory of persistent seabox state"),
    F("cni-path", "", STR, "CNI plugins directory"),
    F("cni-netconfpath", "", STR, "CNI network configurations directory"),
    F("insecure-registry", "", LIST, "Registries to reach over plain HTTP / without TLS verification"),
    F("debug", "D", BOOL, "Enable debug mode"),
    F("config", "", STR, "Location of client config files (docker's config.json directory)"),
    F("version", "v", BOOL, "Print version information and quit"),
]

_CREATE = [
    F("add-host", "", LIST, "Add a custom host-to-IP mapping (host:ip)"),
    F("attach", "a", LIST, "Attach to STDIN, STDOUT or STDERR"),
    F("cap-add", "", LIST, "Add Linux capabilities"),
    F("cap-drop", "", LIST, "Drop Linux capabilities"),
    F("cidfile", "", STR, "Write the container ID to the file"),
    F("cpus", "", STR, "Number of CPUs"),
    F("dns", "", LIST, "Set custom DNS servers"),
    F("dns-option", "", LIST, "Set DNS options"),
    F("dns-search", "", LIST, "Set custom DNS search domains"),
    F("entrypoint", "", STR, "Overwrite the default ENTRYPOINT of the image"),
    F("env", "e", LIST, "Set environment variables"),
    F("env-file", "", LIST, "Read in a file of environment variables"),
    F("expose", "", LIST, "Expose a port or a range of ports"),
    F("health-cmd", "", STR, "Command to run to check health"),
    F("health-interval", "", STR, "Time between running the check (ms|s|m|h) (default 0s)"),
    F("health-retries", "", INT, "Consecutive failures needed to report unhealthy"),
    F("health-start-interval", "", STR, "Time between running the check during the start period (ms|s|m|h)"),
    F("health-start-period", "", STR, "Start period for the container to initialize before counting retries"),
    F("health-timeout", "", STR, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
    F("hostname", "h", STR, "Container host name"),
    F("init", "", BOOL, "Run an init inside the container that forwards signals and reaps processes"),
    F("interactive", "i", BOOL, "Keep STDIN open even if not attached"),
    F("ip", "", STR, "IPv4 address (e.g., 172.30.100.104)"),
    F("label", "l", LIST, "Set meta data on a container"),
    F("label-file", "", LIST, "Read in a line delimited file of labels"),
    F("log-driver", "", STR, "Logging driver for the container"),
    F("log-opt", "", LIST, "Log driver options (max-size, max-file)"),
    F("memory", "m", STR, "Memory limit"),
    F("mount", "", LIST, "Attach a filesystem mount to the container"),
    F("name", "", STR, "Assign a name to the container"),
    F("no-healthcheck", "", BOOL, "Disable any container-specified HEALTHCHECK"),
    F("network", "", STR, "Connect a container to a network"),
    F("net", "", STR, "Alias of --network", dest="network"),
    F("pids-limit", "", STR, "Tune container pids limit (set -1 for unlimited)"),
    F("platform", "", STR, "Set platform if server is multi-platform capable"),
    F("privileged", "", BOOL, "Give extended privileges to this container"),
    F("publish", "p", LIST, "Publish a container's port(s) to the host"),
    F("publish-all", "P", BOOL, "Publish all exposed ports to random ports"),
    F("pull", "", STR, 'Pull image before running ("always"|"missing"|"never")', default="missing"),
    F("read-only", "", BOOL, "Mount the container's root filesystem as read only"),
    F("restart", "", STR, "Restart policy to apply when a container exits", default="no"),
    F("rm", "", BOOL, "Automatically remove the container when it exits"),
    F("security-opt", "", LIST, "Security Options"),
    F("stop-signal", "", STR, "Signal to stop a container"),
    F("stop-timeout", "", INT, "Timeout (in seconds) to stop a container"),
    F("tmpfs", "", LIST, "Mount a tmpfs directory"),
    F("tty", "t", BOOL, "Allocate a pseudo-TTY"),
    F("ulimit", "", LIST, "Ulimit options"),
    F("user", "u", STR, "Username or UID (format: <name|uid>[:<group|gid>])"),
    F("volume", "v", LIST, "Bind mount a volume"),
    F("workdir", "w", STR, "Working directory inside the container"),
]
_RUN = [*_CREATE, F("detach", "d", BOOL, "Run container in background and print container ID"),
        F("detach-keys", "", STR, "Override the key sequence for detaching a container"),
        F("sig-proxy", "", BOOL, "Proxy received signals to the process", default=True)]  # fmt: skip

_FORCE = F("force", "f", BOOL, "Do not prompt for confirmation")
_FILTER = F("filter", "f", LIST, "Provide filter values (e.g. 'dangling=true')")
_FORMAT = F("format", "", STR, "Pretty-print using a Go template ('table', 'json', or a template)")
_QUIET = F("quiet", "q", BOOL, "Only display IDs")
_NOTRUNC = F("no-trunc", "", BOOL, "Don't truncate output")
_TIME = F("time", "t", INT, "Seconds to wait for stop before killing it")

_PS = [F("all", "a", BOOL, "Show all containers (default shows just running)"), _FILTER, _FORMAT,
       F("last", "n", INT, "Show n last created containers (includes all states)", default=-1),
       F("latest", "l", BOOL, "Show the latest created container (includes all states)"), _NOTRUNC, _QUIET,
       F("size", "s", BOOL, "Display total file sizes")]  # fmt: skip
_IMAGES = [F("all", "a", BOOL, "Show all images (default hides intermediate images)"),
           F("digests", "", BOOL, "Show digests"), _FILTER, _FORMAT, _NOTRUNC, _QUIET]  # fmt: skip
_INSPECT = [F("format", "f", STR, "Format the output using the given Go template"),
            F("size", "s", BOOL, "Display total file sizes if the type is container")]  # fmt: skip
_EXEC = [F("detach", "d", BOOL, "Detached mode: run command in the background"),
         F("detach-keys", "", STR, "Override the key sequence for detaching a container"),
         F("env", "e", LIST, "Set environment variables"), F("env-file", "", LIST, "Read in a file of environment variables"),
         F("interactive", "i", BOOL, "Keep STDIN open even if not attached"),
         F("privileged", "", BOOL, "Give extended privileges to the command"), F("tty", "t", BOOL, "Allocate a pseudo-TTY"),
         F("user", "u", STR, "Username or UID (format: <name|uid>[:<group|gid>])"),
         F("workdir", "w", STR, "Working directory inside the container")]  # fmt: skip
_LOGS = [F("details", "", BOOL, "Show extra details provided to logs"), F("follow", "f", BOOL, "Follow log output"),
         F("since", "", STR, "Show logs since timestamp or relative (e.g. 42m)"),
         F("tail", "n", STR, 'Number of lines to show from the end of the logs (default "all")'),
         F("timestamps", "t", BOOL, "Show timestamps"), F("until", "", STR, "Show logs before a timestamp or relative")]  # fmt: skip
_PULL = [F("all-tags", "a", BOOL, "Download all tagged images in the repository"),
         F("platform", "", STR, "Set platform if server is multi-platform capable"),
         F("quiet", "q", BOOL, "Suppress verbose output")]  # fmt: skip
_PUSH = [F("all-tags", "a", BOOL, "Push all tagged images in the repository"), F("quiet", "q", BOOL, "Suppress verbose output")]
_RMI = [F("force", "f", BOOL, "Force removal of the image"), F("no-prune", "", BOOL, "Do not delete untagged parents")]
_HISTORY = [_FORMAT, F("human", "H", BOOL, "Print sizes and dates in human readable format", default=True), _NOTRUNC,
            F("quiet", "q", BOOL, "Only show image IDs")]  # fmt: skip
_LS = [_FILTER, _FORMAT, _QUIET]

C = Command

CONTAINER_CMDS = [
    C("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Run a command in a new container", _RUN, ["image", "command*"],
      "containers:run", interspersed=False),
    C("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container", _CREATE, ["image", "command*"],
      "containers:create", interspersed=False),
    C("start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers",
      [F("attach", "a", BOOL, "Attach STDOUT/STDERR and forward signals"), F("interactive", "i", BOOL, "Attach container's STDIN"),
       F("detach-keys", "", STR, "Override the key sequence for detaching a container")], ["containers+"], "containers:start"),
    C("stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers", [_TIME], ["containers+"], "containers:stop"),
    C("restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers", [_TIME], ["containers+"], "containers:restart"),
    C("kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers",
      [F("signal", "s", STR, 'Signal to send to the container (default "KILL")')], ["containers+"], "containers:kill"),
    C("rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
      [F("force", "f", BOOL, "Force the removal of a running container (uses SIGKILL)"),
       F("link", "l", BOOL, "Remove the specified link"), F("volumes", "v", BOOL, "Remove anonymous volumes associated with the container")],
      ["containers+"], "containers:rm"),
    C("ps", "[OPTIONS]", "List containers", _PS, [], "containers:ps"),
    C("logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container", _LOGS, ["container"], "containers:logs"),
    C("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Run a command in a running container", _EXEC,
      ["container", "command+"], "containers:exec_", interspersed=False),
    C("attach", "[OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container",
      [F("detach-keys", "", STR, "Override the key sequence for detaching a container"),
       F("no-stdin", "", BOOL, "Do not attach STDIN"), F("sig-proxy", "", BOOL, "Proxy all received signals to the process", default=True)],
      ["container"], "containers:attach"),
    C("port", "CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container", [],
      ["container", "private_port?"], "containers:port"),
    C("top", "CONTAINER [ps OPTIONS]", "Display the running processes of a container", [], ["container", "ps_args*"],
      "containers:top", interspersed=False),
    C("stats", "[OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics",
      [F("all", "a", BOOL, "Show all containers (default shows just running)"), _FORMAT,
       F("no-stream", "", BOOL, "Disable streaming stats and only pull the first result"), _NOTRUNC], ["containers*"], "containers:stats"),
    C("wait", "CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes", [],
      ["containers+"], "containers:wait"),
    C("rename", "CONTAINER NEW_NAME", "Rename a container", [], ["container", "new_name"], "containers:rename"),
    C("pause", "CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", [], ["containers+"], "containers:pause"),
    C("unpause", "CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", [], ["containers+"],
      "containers:unpause"),
    C("cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tseabox cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
      "Copy files/folders between a container and the local filesystem",
      [F("archive", "a", BOOL, "Archive mode (copy all uid/gid information)"), F("follow-link", "L", BOOL, "Always follow symbol link in SRC_PATH"),
       F("quiet", "q", BOOL, "Suppress progress output during copy")], ["src", "dst"], "containers:cp"),
    C("commit", "[OPTIONS] CONTAINER REPOSITORY[:TAG]", "Create a new image from a container's changes",
      [F("author", "a", STR, 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'),
       F("change", "c", LIST, "Apply Dockerfile instruction to the created image"),
       F("message", "m", STR, "Commit message"),
       F("pause", "p", BOOL, "Pause container during commit", default=True)],
      ["container", "repository"], "containers:commit"),
    C("diff", "CONTAINER", "Inspect changes to files or directories on a container's filesystem", [], ["container"],
      "containers:diff"),
    C("export", "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive",
      [F("output", "o", STR, "Write to a file, instead of STDOUT")], ["container"], "containers:export"),
    C("inspect", "[OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on seabox objects",
      [*_INSPECT, F("type", "", STR, "Return JSON for specified type")], ["names+"], "containers:inspect"),
]

IMAGE_CMDS = [
    C("images", "[OPTIONS] [REPOSITORY[:TAG]]", "List images", _IMAGES, ["repository?"], "images:images"),
    C("pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", _PULL, ["image"], "images:pull"),
    C("push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry", _PUSH, ["image"], "images:push"),
    C("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", [],
      ["source", "target"], "images:tag"),
    C("rmi", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", _RMI, ["images+"], "images:rmi"),
    C("save", "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)",
      [F("output", "o", STR, "Write to a file, instead of STDOUT")], ["images+"], "images:save"),
    C("load", "[OPTIONS]", "Load an image from a tar archive or STDIN",
      [F("input", "i", STR, "Read from tar archive file, instead of STDIN"), F("quiet", "q", BOOL, "Suppress the load output")],
      [], "images:load"),
    C("history", "[OPTIONS] IMAGE", "Show the history of an image", _HISTORY, ["image"], "images:history"),
    C("import", "[OPTIONS] file|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image",
      [F("change", "c", LIST, "Apply Dockerfile instruction to the created image"),
       F("message", "m", STR, "Set commit message for imported image"),
       F("platform", "", STR, "Set platform if server is multi-platform capable")],
      ["source", "repository?"], "images:import_"),
    C("login", "[OPTIONS] [SERVER]", "Log in to a registry",
      [F("password", "p", STR, "Password"), F("password-stdin", "", BOOL, "Take the password from stdin"),
       F("username", "u", STR, "Username")], ["server?"], "images:login"),
    C("logout", "[SERVER]", "Log out from a registry", [], ["server?"], "images:logout"),
]

SYSTEM_CMDS = [
    C("info", "[OPTIONS]", "Display system-wide information", [_FORMAT], [], "system:info"),
    C("version", "[OPTIONS]", "Show the seabox version information", [_FORMAT], [], "system:version"),
    C("events", "[OPTIONS]", "Get real time events from the server",
      [_FILTER, _FORMAT, F("since", "", STR, "Show all events created since timestamp"), F("until", "", STR, "Stream events until this timestamp")],
      [], "system:events"),
]

_PRUNE_SYS = [F("all", "a", BOOL, "Remove all unused images not just dangling ones"), F("filter", "", LIST, "Provide filter values"),
              _FORCE, F("volumes", "", BOOL, "Prune anonymous volumes")]  # fmt: skip

GROUPS: dict[str, tuple[str, list[Command]]] = {
    "image": ("Manage images", [
        C("ls", "[OPTIONS] [REPOSITORY[:TAG]]", "List images", _IMAGES, ["repository?"], "images:images", aliases=("list",)),
        C("inspect", "[OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images",
          [F("format", "f", STR, "Format the output using the given Go template")], ["names+"], "containers:inspect_image"),
        C("history", "[OPTIONS] IMAGE", "Show the history of an image", _HISTORY, ["image"], "images:history"),
        C("import", "[OPTIONS] file|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image",
          [F("change", "c", LIST, "Apply Dockerfile instruction to the created image"),
           F("message", "m", STR, "Set commit message for imported image"),
           F("platform", "", STR, "Set platform if server is multi-platform capable")],
          ["source", "repository?"], "images:import_"),
        C("prune", "[OPTIONS]", "Remove unused images", [F("all", "a", BOOL, "Remove all unused images, not just dangling ones"),
          F("filter", "", LIST, "Provide filter values"), _FORCE], [], "images:image_prune"),
        C("rm", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", _RMI, ["images+"], "images:rmi", aliases=("remove",)),
        C("pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", _PULL, ["image"], "images:pull"),
        C("push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry", _PUSH, ["image"], "images:push"),
        C("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag", [], ["source", "target"], "images:tag"),
        C("save", "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive",
          [F("output", "o", STR, "Write to a file, instead of STDOUT")], ["images+"], "images:save"),
        C("load", "[OPTIONS]", "Load an image from a tar archive or STDIN",
          [F("input", "i", STR, "Read from tar archive file, instead of STDIN"), F("quiet", "q", BOOL, "Suppress the load output")],
          [], "images:load"),
    ]),
    "container": ("Manage containers", [
        *CONTAINER_CMDS[:-1],
        C("ls", "[OPTIONS]", "List containers", _PS, [], "containers:ps", aliases=("list", "ps")),
        C("inspect", "[OPTIONS] CONTAINER [CONTAINER...]", "Display detailed information on one or more containers",
          _INSPECT, ["names+"], "containers:inspect_container"),
        C("prune", "[OPTIONS]", "Remove all stopped containers", [F("filter", "", LIST, "Provide filter values"), _FORCE], [],
          "system:container_prune"),
    ]),
    "network": ("Manage networks", [
        C("create", "[OPTIONS] NETWORK", "Create a network",
          [F("attachable", "", BOOL, "Enable manual container attachment"), F("driver", "d", STR, 'Driver to manage the Network (default "bridge")'),
           F("gateway", "", LIST, "IPv4 or IPv6 Gateway for the master subnet"), F("internal", "", BOOL, "Restrict external access to the network"),
           F("ip-range", "", LIST, "Allocate container ip from a sub-range"), F("ipam-driver", "", STR, "IP Address Management Driver"),
           F("ipv6", "", BOOL, "Enable IPv6 networking"), F("label", "", LIST, "Set metadata on a network"),
           F("opt", "o", LIST, "Set driver specific options"), F("subnet", "", LIST, "Subnet in CIDR format that represents a network segment")],
          ["name"], "objects:network_create"),
        C("ls", "[OPTIONS]", "List networks", [*_LS, _NOTRUNC], [], "objects:network_ls", aliases=("list",)),
        C("inspect", "[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks",
          [F("format", "f", STR, "Format the output using the given Go template"), F("verbose", "v", BOOL, "Verbose output for diagnostics")],
          ["names+"], "containers:inspect_network"),
        C("rm", "NETWORK [NETWORK...]", "Remove one or more networks", [], ["networks+"], "objects:network_rm", aliases=("remove",)),
        C("prune", "[OPTIONS]", "Remove all unused networks", [F("filter", "", LIST, "Provide filter values"), _FORCE], [],
          "objects:network_prune"),
    ]),
    "volume": ("Manage volumes", [
        C("create", "[OPTIONS] [VOLUME]", "Create a volume",
          [F("driver", "d", STR, 'Specify volume driver name (default "local")'), F("label", "", LIST, "Set metadata for a volume"),
           F("name", "", STR, "Specify volume name", dest="name_flag"), F("opt", "o", LIST, "Set driver specific options")],
          ["name?"], "objects:volume_create"),
        C("ls", "[OPTIONS]", "List volumes", _LS, [], "objects:volume_ls", aliases=("list",)),
        C("inspect", "[OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes",
          [F("format", "f", STR, "Format the output using the given Go template")], ["names+"], "containers:inspect_volume"),
        C("rm", "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes",
          [F("force", "f", BOOL, "Force the removal of one or more volumes")], ["volumes+"], "objects:volume_rm", aliases=("remove",)),
        C("prune", "[OPTIONS]", "Remove all unused local volumes",
          [F("all", "a", BOOL, "Remove all unused volumes, not just anonymous ones"), F("filter", "", LIST, "Provide filter values"), _FORCE],
          [], "objects:volume_prune"),
    ]),
    "system": ("Manage seabox", [
        C("info", "[OPTIONS]", "Display system-wide information", [_FORMAT], [], "system:info"),
        C("events", "[OPTIONS]", "Get real time events from the server", SYSTEM_CMDS[2].flags, [], "system:events"),
        C("prune", "[OPTIONS]", "Remove unused data", _PRUNE_SYS, [], "system:system_prune"),
    ]),
}

COMPLETION = C("completion", "bash|zsh|fish", "Generate the autocompletion script for the specified shell", [], ["shell"],
               "completion:script")

TOP: dict[str, Command] = {c.name: c for c in [*CONTAINER_CMDS, *IMAGE_CMDS, *SYSTEM_CMDS, COMPLETION]}
