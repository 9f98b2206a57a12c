"""The plugin host: entry points, validation, blocking, and a real third-party distribution."""

import json
import types
from pathlib import Path

import pytest

from conftest import run_cli
from ganbench import hookimpl, plugins
from ganbench.api import Architecture, Loss
from ganbench.errors import PluginError, UsageError


def test_builtins_come_from_entry_points_of_the_ganbench_distribution():
    host = plugins.load()
    infos = {p.name: p for p in host.plugins()}
    assert infos["dcgan"].distribution == "ganbench"
    assert infos["dcgan"].module == "ganbench_plugins.archs.dcgan"
    assert "dcgan" in infos["dcgan"].provides["architectures"]
    assert "hinge" in host.losses and "ring8" in host.datasets and "mnist5k" in host.datasets


def test_plugins_json_lists_builtins_with_distribution():
    proc = run_cli("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["wgan_gp"]["distribution"] == "ganbench"
    assert by_name["wgan_gp"]["provides"] == {"losses": ["wgan_gp"]}
    assert by_name["mlp"]["provides"] == {"architectures": ["mlp"]}


def test_third_party_distribution_is_discovered_and_runs(toy_plugin_path, tmp_path):
    env = {"PYTHONPATH": str(toy_plugin_path)}
    proc = run_cli("plugins", "--json", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    toy = {p["name"]: p for p in json.loads(proc.stdout)["plugins"]}["toy"]
    assert toy["distribution"] == "ganbench-toy" and toy["version"] == "0.3.1"
    assert toy["provides"]["architectures"] == ["toy_mlp"]
    assert "toy_ls" in toy["provides"]["losses"]

    proc = run_cli("run", "--arch", "toy_mlp", "--loss", "toy_ls", "--dataset", "ring8", "--budget", "steps=30",
                   "--results-dir", str(tmp_path), "--quiet", "--json", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"completed": 1}
    spec = json.loads((tmp_path / "runs" / summary["runs"][0]["dir"].split("/runs/")[1] / "spec.json").read_text())
    assert spec["versions"]["plugins"]["toy"] == "ganbench-toy==0.3.1"


def _plugin(**hooks):
    module = types.ModuleType("throwaway_plugin")
    for name, fn in hooks.items():
        setattr(module, name, fn)
    return module


class _Arch(Architecture):
    name = "dup_arch"


def test_misspelled_hook_fails_loudly_naming_the_plugin():
    @hookimpl
    def ganbench_register_archs(registry):  # the spec is ganbench_register_architectures
        pass
    with pytest.raises(PluginError, match="'typo'.*ganbench_register_archs"):
        plugins.load(extra=[("typo", _plugin(ganbench_register_archs=ganbench_register_archs))])


def test_duplicate_name_names_both_classes():
    class Again(Architecture):
        name = "dcgan"

    @hookimpl
    def ganbench_register_architectures(registry):
        registry.add(Again)
    with pytest.raises(PluginError, match=r"duplicate name 'dcgan'") as info:
        plugins.load(extra=[("again", _plugin(ganbench_register_architectures=ganbench_register_architectures))])
    message = str(info.value)
    assert "ganbench_plugins.archs.dcgan.DCGAN" in message and "Again" in message
    assert "'again'" in message and "'dcgan'" in message


def test_wrong_type_and_bad_name_are_refused():
    @hookimpl
    def ganbench_register_losses(registry):
        registry.add(_Arch)  # an architecture offered as a loss
    with pytest.raises(PluginError, match="not a subclass of ganbench.api.Loss"):
        plugins.load(extra=[("wrong", _plugin(ganbench_register_losses=ganbench_register_losses))])

    class BadName(Loss):
        name = "Bad-Name"

    @hookimpl
    def ganbench_register_losses(registry):  # noqa: F811
        registry.add(BadName)
    with pytest.raises(PluginError, match="not a valid name"):
        plugins.load(extra=[("badname", _plugin(ganbench_register_losses=ganbench_register_losses))])


def test_block_and_allow_list(monkeypatch):
    host = plugins.load(disable=["hinge"])
    assert "hinge" not in host.losses and "wgan_gp" in host.losses
    monkeypatch.setenv("GANBENCH_LOAD_PLUGINS", "mlp,ring8")
    host = plugins.load()
    assert host.architectures.names() == ["mlp"] and host.losses.names() == []
    with pytest.raises(UsageError, match="no plugin named 'nope'"):
        plugins.load(disable=["nope"])


def test_disable_flag_on_the_command_line():
    proc = run_cli("--disable-plugin", "hinge", "plugins", "--json")
    assert proc.returncode == 0
    assert "hinge" not in {p["name"] for p in json.loads(proc.stdout)["plugins"]}


def test_unknown_name_gets_one_line_listing_valid_names():
    proc = run_cli("run", "--arch", "nope", "--dataset", "ring8")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown architecture 'nope'" in lines[0] and "dcgan" in lines[0]
    assert "Traceback" not in proc.stderr


def test_plugin_commands_and_run_observers(toy_plugin_path, tmp_path):
    log = tmp_path / "observed.txt"
    env = {"PYTHONPATH": str(toy_plugin_path), "GANBENCH_TOY_LOG": str(log)}
    proc = run_cli("toy-hello", env_extra=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "hello from ganbench-toy", proc.stderr
    proc = run_cli("run", "--arch", "toy_mlp", "--loss", "toy_ls", "--dataset", "ring8", "--budget", "steps=5",
                   "--metric", "mode_coverage", "--results-dir", str(tmp_path / "r"), "--quiet", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().split() == ["toy_mlp-toy_ls-ring8-s0", "completed"]
    proc = run_cli("no-such-command", env_extra=env)
    assert proc.returncode == 2 and "No such command" in proc.stderr


# ---------------------------------------------------------------------------------------------------
# Two distributions claiming one name: refused, naming both

def _fake_distribution(site: Path, name: str, version: str, entry_points: dict[str, str],
                       modules: dict[str, str] = {}) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(
        "[ganbench]\n" + "".join(f"{ep} = {target}\n" for ep, target in entry_points.items()))
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)


def test_an_entry_point_name_claimed_twice_names_both_distributions(tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "alpha_gan", "1.0", {"clash": "alpha_mod"})
    _fake_distribution(tmp_path, "beta_gan", "2.0", {"clash": "beta_mod"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as err:
        plugins.load()
    message = str(err.value)
    assert "'clash'" in message and "alpha_gan 1.0 (alpha_mod)" in message and "beta_gan 2.0 (beta_mod)" in message
    host = plugins.load(strict=False)  # the report still loads, without either claimant
    assert "clash" in host.broken and "mlp" in host.architectures


_SAME_LOSS = '''
from ganbench import hookimpl
from ganbench.api import Loss

class Same(Loss):
    """A loss."""
    name = "same_loss"
    paper = "Nobody (2026). A loss."

@hookimpl
def ganbench_register_losses(registry):
    registry.add(type("Same", (Same,), {}))
'''


def test_a_plugin_name_registered_by_two_distributions_names_both(tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "alpha_gan", "1.0", {"alpha": "alpha_losses"}, {"alpha_losses": _SAME_LOSS})
    _fake_distribution(tmp_path, "beta_gan", "2.0", {"beta": "beta_losses"}, {"beta_losses": _SAME_LOSS})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as err:
        plugins.load()
    message = str(err.value)
    assert "duplicate name 'same_loss'" in message
    assert "distribution alpha_gan 1.0" in message and "distribution beta_gan 2.0" in message, message
