"""The lab's machines as Vagrant (through python-vagrant) sees them: their state, up, destroy."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import vagrant

from harness.config.lab import REPO
from harness.host.box import vagrant_env
from harness.lab.ssh import LabError

# The few lines of `vagrant up` worth a glance; the rest is in the log.
SHOWN = ("Creating domain", "Starting domain", "Machine booted", "Waiting for SSH")


class Machines:
    def __init__(self, state_dir: Path, logs: Path, lab_json: Path) -> None:
        self.state_dir, self.logs, self.lab_json = state_dir, logs, lab_json

    def env(self) -> dict[str, str]:
        return {
            **vagrant_env(),
            "HA_LAB_JSON": str(self.lab_json),
            # Each lab keeps its own machine records, so two labs share one checkout.
            "VAGRANT_DOTFILE_PATH": str(self.state_dir / "vagrant"),
        }

    def vagrant(self) -> vagrant.Vagrant:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = vagrant.make_file_cm(str(self.logs / "vagrant.log"), "a")
        return vagrant.Vagrant(root=str(REPO), env=self.env(), out_cm=log, err_cm=log)

    def ssh_config(self) -> str:
        return str(self.vagrant().ssh_config())

    def up(self, progress: Callable[[str], None]) -> None:
        """`vagrant up` without provisioning, its output in the log and its milestones shown."""
        log = open(self.logs / "vagrant.log", "a")  # noqa: SIM115 - closed below, after streaming
        try:
            for line in self.vagrant().up(no_provision=True, stream_output=True):
                log.write(line)
                log.flush()
                text = line.strip()
                if text.startswith("==>") and any(key in text for key in SHOWN):
                    progress(f"  {text[4:]}")
        except subprocess.CalledProcessError as err:
            raise LabError(f"vagrant up failed (exit {err.returncode}); see {self.logs / 'vagrant.log'}") from err
        finally:
            log.close()

    def destroy(self) -> bool:
        """False when Vagrant could not: libvirt is then swept directly."""
        try:
            self.vagrant().destroy()
        except subprocess.CalledProcessError:
            return False
        return True
