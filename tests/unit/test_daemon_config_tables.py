"""seaboxd's config.toml carries the engine's [engine] and the CRI's [plugins.cri] tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seabox.cri import config as cri_config
from seabox.daemon import config
from seabox.engine import settings
from seabox.errdefs import InvalidArgument


def test_default_toml_tables_give_the_built_in_defaults(tmp_path: Path) -> None:
    cfg = config.parse(config.DEFAULT_TOML)
    from_table = settings.load("/r", "/s", "/g.sock", env={}, table=cfg.engine)
    bare = settings.load("/r", "/s", "/g.sock", env={})
    assert from_table.network_settings() == bare.network_settings()
    assert (from_table.hosts_dir, from_table.init_path, from_table.mux_splice) == (
        bare.hosts_dir, bare.init_path, bare.mux_splice)
    env = {cri_config.ENV: ""}
    assert cri_config.load("/r", "/s", env=env, table=cfg.plugins["cri"]) == cri_config.from_table({}, "/r", "/s")


def test_engine_table_then_env_file_override(tmp_path: Path) -> None:
    cfg = config.parse('[engine]\nhosts_dir = "/etc/x/certs.d"\n[engine.network]\ndefault_bridge = "sbx9"\n'
                       'subnet_start = "10.77.0.0/24"\n')
    st = settings.load("/r", "/s", "/g.sock", env={}, table=cfg.engine)
    assert st.hosts_dir == "/etc/x/certs.d"
    net = st.network_settings()
    assert (net.default_bridge, net.subnet_start) == ("sbx9", "10.77.0.0/24")
    override = tmp_path / "engine.json"
    override.write_text(json.dumps({"network": {"default_bridge": "sbx8"}}))
    st2 = settings.load("/r", "/s", "/g.sock", env={settings.ENV: str(override)}, table=cfg.engine)
    assert st2.network_settings().default_bridge == "sbx8"
    assert st2.hosts_dir == "/etc/x/certs.d"  # keys the file does not name stay from the table


def test_cri_table_and_env_file_wins(tmp_path: Path) -> None:
    cfg = config.parse('[plugins.cri]\nrestrict_oom_score_adj = true\n[plugins.cri.cni]\nconf_dir = "/c"\n')
    c = cri_config.load("/r", "/s", env={}, table=cfg.plugins["cri"])
    assert (c.restrict_oom_score_adj, c.cni_conf_dir) == (True, "/c")
    f = tmp_path / "cri.toml"
    f.write_text("[plugins.cri]\nenabled = false\n")
    c2 = cri_config.load("/r", "/s", env={cri_config.ENV: str(f)}, table=cfg.plugins["cri"])
    assert (c2.enabled, c2.restrict_oom_score_adj) == (False, False)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[engine]\nmux_splice = 1", '"mux_splice" must be a bool'),
        ("[engine]\nhosts_dir = 3", '"hosts_dir" must be a string'),
        ("[engine]\nroot = \"/x\"", 'unknown key "root"'),
        ("[engine]\nnetwork = 1", "must be a table"),
        ("[plugins]\ncri = 1", '"plugins.cri" must be a table'),
        ("[plugins.cri]\nstream_server_port = \"x\"", "stream_server_port"),
    ],
)
def test_bad_tables_are_named(text: str, needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle.replace("(", r"\(")):
        config.parse(text)


def test_dump_round_trips_tables() -> None:
    cfg = config.parse('[engine.network]\nbin_dirs = ["/a", "/b"]\n[plugins.cri]\nstream_server_port = 1234\n')
    again = config.parse(config.dump(cfg))
    assert again == cfg
    assert again.engine["network"]["bin_dirs"] == ["/a", "/b"]
