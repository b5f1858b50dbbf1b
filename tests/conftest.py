"""Suite-wide fixtures: markers, fixture-image metadata, and the leak check.

Root tests (``-m root``) run whenever the suite runs as root (CI always does);
as another user they are skipped and reported as skipped, never as passed.
At the end of the session the host is compared with its state at the start:
any new mount, process of ours, cgroup, netns, link or iptables chain fails the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from seabox.testing import leaks

FIXTURES_DIR = Path(os.environ.get("SEABOX_FIXTURES", "/var/lib/seabox-fixtures"))

_before: leaks.HostState | None = None


def _leak_check_enabled() -> bool:
    return os.environ.get("SEABOX_LEAK_CHECK", "1") != "0"


def pytest_sessionstart(session: pytest.Session) -> None:
    global _before
    if _leak_check_enabled():
        _before = leaks.snapshot()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _before is None or getattr(session.config, "workerinput", None) is not None:
        return
    found = leaks.leaks(_before, leaks.snapshot())
    if found:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["", "LEAK CHECK FAILED: the run left these behind:"] + [f"  {x}" for x in found]
        if tr is not None:
            tr.write_line("\n".join(lines), red=True)
        else:
            print("\n".join(lines))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fixtures_info() -> dict:
    """What ``make fixtures`` built: registries, image references, digests, layouts."""
    path = FIXTURES_DIR / "fixtures.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make fixtures` (the test command does)")
    return json.loads(path.read_text())
