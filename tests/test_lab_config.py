"""The lab config: derived names and addresses, and bad input refused with a reason."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.config.lab import REPO, LabConfig, LabConfigError
from harness.host import network as host_network


def test_defaults_derive_every_address_from_the_subnet(tmp_path: Path) -> None:
    config = LabConfig(subnet="10.80.0.0/24", state_root=tmp_path)
    rendered = config.render("tcg", box="b", console_dir=tmp_path / "c")
    nodes = {n["name"]: n for n in rendered["nodes"]}
    assert nodes["vnode2"]["lab_ip"] == "10.80.0.12"
    assert nodes["nas2"]["repl_ip"] == "10.80.1.22"
    assert nodes["vnode3"]["repl_ip"] is None
    assert rendered["vip"] == "10.80.0.20"
    assert rendered["guest_ip"] == "10.80.0.50"
    assert rendered["observer"] == "10.80.0.1:47000"
    assert rendered["networks"]["mgmt"]["address"] == "10.80.2.0/24"
    assert rendered["timings"]["corosync_token_ms"] == 10000
    assert config.render("kvm", box="b", console_dir=tmp_path)["timings"]["corosync_token_ms"] == 3000


def test_two_labs_share_no_name(tmp_path: Path) -> None:
    a = LabConfig(name="one", subnet="10.80.0.0/24", state_root=tmp_path)
    b = LabConfig(name="two", subnet="10.81.0.0/24", state_root=tmp_path)
    assert not set(a.network_names.values()) & set(b.network_names.values())
    assert a.domain_prefix != b.domain_prefix
    assert a.state_dir != b.state_dir


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "Bad_Name"}, "lower-case letters"),
        ({"name": "x" * 13}, "1-12"),
        ({"subnet": "10.77.0.0/16"}, "private /24"),
        ({"subnet": "8.8.8.0/24"}, "private /24"),
        ({"subnet": "10.77.0.1/24"}, "host bits set"),
        ({"subnet": "banana"}, "give a network such as"),
        ({"observer_port": 80}, "1024-65535"),
    ],
)
def test_bad_values_are_refused_with_what_to_change(values: dict[str, object], message: str) -> None:
    with pytest.raises(LabConfigError, match=message):
        LabConfig(**values)  # type: ignore[arg-type]


def test_lab_toml_is_read_and_overrides_win(tmp_path: Path) -> None:
    toml = tmp_path / "lab.toml"
    toml.write_text('name = "second"\nsubnet = "10.90.0.0/24"\n')
    assert LabConfig.load(toml).name == "second"
    assert LabConfig.load(toml, name="third").name == "third"
    assert LabConfig.load(toml, name=None).subnet == "10.90.0.0/24"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\ncolour = "red"\n', "unknown keys"),
        ("name = \n", "lab.toml"),
        ('observer_port = "many"\n', "must be a number"),
    ],
)
def test_broken_lab_toml_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    toml = tmp_path / "lab.toml"
    toml.write_text(text)
    with pytest.raises(LabConfigError, match=message):
        LabConfig.load(toml)


def test_missing_config_file_named_explicitly_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LabConfigError, match="no such lab config"):
        LabConfig.load(tmp_path / "absent.toml")


def test_cli_refuses_a_bad_subnet_and_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    state_root = LabConfig().state_root
    before = sorted(state_root.rglob("*")) if state_root.exists() else []
    assert main(["up", "--name", "fresh", "--subnet", "10.77.0.0/16"]) == 2
    assert "private /24" in capsys.readouterr().err
    assert (sorted(state_root.rglob("*")) if state_root.exists() else []) == before


def test_written_config_is_what_the_vagrantfile_reads(tmp_path: Path) -> None:
    config = LabConfig(state_root=tmp_path)
    path = config.write("tcg", box="halab-debian12-x", console_dir=tmp_path / "console")
    assert path == tmp_path / "halab" / "lab.json"
    assert json.loads(path.read_text())["box"] == "halab-debian12-x"


def test_the_state_folder_is_private_even_when_its_logs_came_first(tmp_path: Path) -> None:
    """A bring-up makes logs/ before lab.json: the folder that will hold the keys is 0700 all the same."""
    config = LabConfig(state_root=tmp_path / "state")
    (config.state_dir / "logs").mkdir(parents=True, mode=0o755)
    config.state_dir.chmod(0o755)
    config.write("tcg", box="b", console_dir=tmp_path / "console")
    assert config.state_dir.stat().st_mode & 0o777 == 0o700


def test_lab_state_lives_outside_the_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A CI checkout's `git clean -ffdx` must not take the state of a running lab with it."""
    monkeypatch.delenv("HA_LAB_STATE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert LabConfig().state_dir == tmp_path / "xdg" / "ha-lab" / "halab"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert LabConfig().state_root == tmp_path / "home" / ".local" / "state" / "ha-lab"
    assert REPO not in LabConfig().state_root.parents
    monkeypatch.setenv("HA_LAB_STATE", str(tmp_path / "mine"))
    assert LabConfig(name="other").state_dir == tmp_path / "mine" / "other"


def test_each_domain_is_told_which_state_folder_made_it(tmp_path: Path) -> None:
    odd = tmp_path / "a&b<c"
    config = LabConfig(state_root=odd)
    lab = json.loads(config.write("tcg", box="b", console_dir=tmp_path / "console").read_text())
    # The Vagrantfile hands it to vagrant-libvirt, which puts it into the domain XML as it is.
    assert lab["owner_xml"] == f"ha-lab state: {tmp_path}/a&amp;b&lt;c/halab"
    assert config.owner == f"ha-lab state: {odd}/halab"


def test_destroy_refuses_domains_another_state_folder_made(tmp_path: Path) -> None:
    mine = LabConfig(state_root=tmp_path / "one")
    theirs = LabConfig(state_root=tmp_path / "two")
    descriptions = {"halab_vnode2": mine.owner, "halab_nas1": theirs.owner, "halab_nas2": "\n"}
    assert host_network.not_ours(mine, descriptions) == {
        "halab_nas1": theirs.owner,
        "halab_nas2": "no owner mark",  # made before domains were marked: not provably ours
    }
    assert host_network.not_ours(mine, {"halab_vnode2": mine.owner + "\n"}) == {}


def test_one_export_names_both_vnodes_and_no_other_address(tmp_path: Path) -> None:
    config = LabConfig(subnet="10.80.0.0/24", state_root=tmp_path)
    assert config.hypervisor_clients == "10.80.0.12/31"
    covered = {str(a) for a in ipaddress.IPv4Network(config.hypervisor_clients)}
    assert covered == {config.lab_ip(n.offset) for n in config.nodes("hv")}
