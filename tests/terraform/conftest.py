"""Terraform, offline: the real binary against the schema-only provider (provider.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.terraform.provider import ProviderServers
from tests.terraform.schema import ROOT

TERRAFORM_DIR = ROOT / "terraform"
MODULES = ("modules/aws", "modules/azure_trigger", "examples/complete")


@dataclass
class Terraform:
    """Runs `terraform` in a configuration directory, its working data kept out of the repo."""

    binary: str
    env: dict[str, str]
    data: Path

    def run(
        self, directory: Path, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        key = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
        env = {**self.env, "TF_DATA_DIR": str(self.data / key)}
        done = subprocess.run(
            [self.binary, f"-chdir={directory}", *args, "-no-color"],
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,  # `terraform test` of modules/aws plans ~45 runs: minutes on a busy machine
        )
        if check and done.returncode != 0:
            pytest.fail(
                f"terraform {' '.join(args)} in {directory} failed:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def init(self, directory: Path) -> None:
        self.run(directory, "init", "-backend=false", "-input=false")


@pytest.fixture(scope="session")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Terraform]:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip(
            "terraform is not on PATH: install Terraform 1.9 or newer "
            "(https://developer.hashicorp.com/terraform/install) to run the Terraform checks"
        )
    home = tmp_path_factory.mktemp("terraform")
    cli_config = home / "terraformrc"
    cli_config.write_text("")  # no plugin cache, no credentials, no mirrors
    servers = ProviderServers()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TF_", "AWS_", "ARM_", "AZURE_"))
    }
    env.update(servers.env)
    env.update(
        {
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
    )
    try:
        yield Terraform(binary, env, home)
    finally:
        servers.stop()
