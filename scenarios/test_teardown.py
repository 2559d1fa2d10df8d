"""A cleaned checkout loses nothing of its lab: its destroy removes the lab whole, and no other.

A nightly runner cleans its checkout (`git clean -ffdx`) before each night. The lab's state
lives outside the checkout, so a destroy from a fresh, cleaned checkout still finds every
domain, network, volume and fence_virtd of the lab, and leaves another lab alone (a stand-in
here: a domain, a volume, a network and a fence_virtd made from another state folder). The
lab is brought back afterwards from its kept provisioned state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cluster.whole import WHOLE_TIMEOUT_S, wait_whole
from harness.config.lab import REPO, LabConfig
from harness.host import fencing
from harness.host import network as host_network
from harness.lab.handle import Lab

pytestmark = [pytest.mark.destructive]

STAND_IN = "import time; time.sleep(3600)"


def _names(*args: str) -> set[str]:
    done = host_network.virsh(*args)
    assert done.returncode == 0, f"virsh {' '.join(args)}: {done.stderr}"
    return set(done.stdout.split())


def held(config: LabConfig) -> dict[str, set[str]]:
    """What libvirt and the host hold of a lab, by its names and its state folder."""
    return {
        "domains": {d for d in _names("list", "--all", "--name") if d.startswith(config.domain_prefix)},
        "volumes": {v for v in host_network.pool_volumes("default") if v.startswith(config.domain_prefix)},
        "networks": _names("net-list", "--all", "--name") & set(config.network_names.values()),
        "fence_virtd": set(fencing.running_pids(config.state_dir)),
    }


@pytest.fixture
def another_lab(lab: Lab, tmp_path: Path) -> Iterator[LabConfig]:
    """A stand-in for another checkout's lab on this host: one of each thing a lab holds."""
    other = LabConfig(name="otherlab" if lab.config.name != "otherlab" else "otherlab2", subnet="10.204.0.0/24",
                      state_root=tmp_path / "other-state")  # fmt: skip
    domain = f"{other.domain_prefix}vnode2"
    xml = tmp_path / "domain.xml"
    xml.write_text(
        f"<domain type='qemu'><name>{domain}</name><description>{other.owner}</description>"
        "<memory unit='MiB'>16</memory><os><type arch='x86_64'>hvm</type></os></domain>"
    )
    assert host_network.virsh("define", str(xml)).returncode == 0
    assert host_network.virsh("vol-create-as", "default", f"{domain}.img", "1M").returncode == 0
    net = tmp_path / "network.xml"
    net.write_text(
        f"<network><name>{other.network_names['lab']}</name><ip address='10.204.0.1' prefix='24'/></network>"
    )
    assert host_network.virsh("net-define", str(net)).returncode == 0  # defined, not started: no bridge
    daemon = subprocess.Popen(
        ["fence_virtd", "-c", STAND_IN, "-f", str(other.state_dir / "fence_virtd" / "hv.conf")],
        executable=sys.executable,
    )
    try:
        yield other
    finally:
        daemon.kill()
        daemon.wait()
        host_network.virsh("undefine", domain)
        host_network.virsh("vol-delete", f"{domain}.img", "--pool", "default")
        host_network.virsh("net-undefine", other.network_names["lab"])


def test_a_cleaned_checkouts_destroy_removes_its_lab_whole_and_no_other(
    lab: Lab, another_lab: LabConfig, tmp_path: Path
) -> None:
    accel = lab.accel()
    before = held(lab.config)
    assert before["domains"] and before["networks"] and before["fence_virtd"], f"the lab is not all there: {before}"
    others = held(another_lab)
    assert all(others.values()), f"the stand-in is not all there: {others}"

    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(checkout)], check=True)
    (checkout / "artifacts").mkdir()
    (checkout / "artifacts" / "junit.xml").write_text("<testsuites/>")  # a night's leftovers
    subprocess.run(["git", "-C", str(checkout), "clean", "-ffdx", "--quiet"], check=True)
    assert not (checkout / "artifacts").exists()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "destroy", "--name", lab.config.name, "--subnet", lab.config.subnet],
            cwd=checkout,  # the cleaned checkout's own code: `-m` puts it first on the path
            env={**os.environ, "HA_LAB_STATE": str(lab.config.state_root)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"destroy from the cleaned checkout: {done.stdout}{done.stderr}"
        left = {kind: names for kind, names in held(lab.config).items() if names}
        assert not left, f"the destroy left {left}\n{done.stdout}"
        assert held(another_lab) == others, "the destroy took part of another lab"
    finally:
        lab.up(accel)  # from the kept provisioned state: the runs after this one want a lab
        wait_whole(lab, WHOLE_TIMEOUT_S)
