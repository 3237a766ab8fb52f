"""The custhub command line over the sandbox estate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hub.cli import app
from hub.config import HubConfig
from sandbox.estate import SandboxEstate

pytestmark = [pytest.mark.integration]


@pytest.mark.parametrize("hub_store_url", ["sqlite"], indirect=True)
def test_run_nightly_then_status(hub_config: HubConfig, sandbox_estate: SandboxEstate,
                                 tmp_path: Path) -> None:
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(yaml.safe_dump(hub_config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["run", "nightly", "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    assert "crm" in result.output and "Report:" in result.output
    status = runner.invoke(app, ["status", "--config", str(config_path)])
    assert status.exit_code == 0, status.output
    assert "succeeded" in status.output


def test_a_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "hub.yaml"
    bad.write_text("systems: {}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "nightly", "--config", str(bad)])
    assert result.exit_code == 1
    assert str(bad) in result.output and "survivorship" in result.output
