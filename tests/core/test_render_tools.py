"""The rendered files, checked by the real tools installed on this machine.

- ``crm_verify --xml-file`` on the CIB XML (as rendered, and with a simulated healthy status);
- ``corosync -t`` (corosync's own parser) on corosync.conf, once per node, inside a throwaway
  network + mount namespace that has the node's addresses and a scratch ``/etc/corosync``;
- ``drbdadm -c FILE dump`` on the resource file, once per node, inside a throwaway network + UTS
  namespace with the node's host name and address (so drbdadm applies the node's own checks);
- crmsh: the crm text loaded into an empty CIB file gives exactly the rendered XML (same
  elements, attributes and ids).

Each check has a negative control, so a tool that accepts anything would be noticed. Missing
tools or namespaces skip with the reason (they are installed in the project's environment).
"""

from __future__ import annotations

from dataclasses import replace
import functools
import os
from pathlib import Path
import re
import shlex
import shutil
import subprocess
from typing import TYPE_CHECKING
import xml.etree.ElementTree as ET

import pytest

from hacluster.provision import ClusterConfig, load_config_file
from hacluster.render import (
    render_cib_crm,
    render_cib_xml,
    render_corosync_conf,
    render_drbd_resource,
)

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    "reference": ROOT / "scripts" / "examples" / "reference-cluster.yaml",
    "lab": ROOT / "scripts" / "examples" / "lab-cluster.yaml",
    "three-node": ROOT / "tests" / "core" / "fixtures" / "render" / "configs" / "three-node.yaml",
}
TIMEOUT = 60


def _config(name: str) -> ClusterConfig:
    return load_config_file(CONFIGS[name])


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install {package})")
    return path


@functools.cache
def _namespaces_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network, mount and UTS namespaces (unshare)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare (util-linux) and ip (iproute2)"
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "--uts", "true"],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    if probe.returncode != 0:
        return f"cannot create namespaces here: {probe.stderr.strip()}"
    return None


def _need_namespaces() -> None:
    problem = _namespaces_problem()
    if problem is not None:
        pytest.skip(problem)


def _in_namespace(
    script: list[str], *, addresses: list[str], mount: bool = False, uts: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run shell lines in a fresh network namespace (gone when the command ends)."""
    setup = ["ip link set lo up"] + [f"ip addr add {shlex.quote(a)}/32 dev lo" for a in addresses]
    argv = ["unshare", "--net"]
    if mount:
        argv.append("--mount")  # util-linux makes it private: nothing leaks to the host
    if uts:
        argv.append("--uts")
    argv += ["sh", "-ec", "\n".join(setup + script)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=TIMEOUT)


# -- crm_verify ------------------------------------------------------------------------------


def _with_status(xml: str, cfg: ClusterConfig) -> str:
    """The rendered CIB plus quorum and every node online, as a running cluster would have."""
    states = "".join(
        f'    <node_state id="{n.node_id}" uname="{n.name}" in_ccm="true" crmd="online" '
        'join="member" expected="member"/>\n'
        for n in cfg.nodes
    )
    xml = xml.replace("<cib ", f'<cib have-quorum="1" dc-uuid="{cfg.nodes[0].node_id}" ', 1)
    return xml.replace("  <status/>\n", f"  <status>\n{states}  </status>\n")


def _crm_verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_need("crm_verify", "pacemaker-cli-utils"), "--xml-file", str(path), "-V"],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("name", ["reference", "lab"])
def test_crm_verify_accepts_the_rendered_cib(name: str, tmp_path: Path) -> None:
    """Exactly what provisioning loads (stonith disabled): no errors, no warnings."""
    path = tmp_path / "cib.xml"
    path.write_text(render_cib_xml(_config(name)))
    result = _crm_verify(path)
    assert result.returncode == 0, result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_crm_verify_accepts_the_cib_of_a_running_cluster(name: str, tmp_path: Path) -> None:
    """With quorum and all nodes online (needed once fencing is on), crm_verify is silent."""
    cfg = _config(name)
    path = tmp_path / "cib.xml"
    path.write_text(_with_status(render_cib_xml(cfg), cfg))
    result = _crm_verify(path)
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


def test_crm_verify_negative_control(tmp_path: Path) -> None:
    cfg = _config("reference")
    xml = render_cib_xml(cfg).replace(f'with-rsc="{cfg.ids.clone}"', 'with-rsc="no_such_resource"')
    path = tmp_path / "cib.xml"
    path.write_text(xml)
    result = _crm_verify(path)
    assert result.returncode != 0
    assert "no_such_resource" in result.stderr


# -- corosync --------------------------------------------------------------------------------


def _corosync_test(cfg: ClusterConfig, conf_text: str, tmp_path: Path) -> list[str]:
    corosync = _need("corosync", "corosync")
    _need_namespaces()
    conf = tmp_path / "corosync.conf"
    conf.write_text(conf_text)
    etc = tmp_path / "etc-corosync"
    etc.mkdir()
    key = etc / "authkey"
    key.write_bytes(os.urandom(256))
    key.chmod(0o400)
    failures = []
    for node in cfg.nodes:
        addresses = [node.address] + ([node.ring1_address] if node.ring1_address else [])
        result = _in_namespace(
            [
                f"mount --bind {shlex.quote(str(etc))} /etc/corosync",
                f"{corosync} -t -c {shlex.quote(str(conf))}",
            ],
            addresses=addresses,
            mount=True,
        )
        if result.returncode != 0 or "exiting normally" not in result.stderr:
            failures.append(f"{node.name}: exit {result.returncode}: {result.stderr.strip()}")
    return failures


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_corosync_parses_the_rendered_conf_on_every_node(name: str, tmp_path: Path) -> None:
    cfg = _config(name)
    assert _corosync_test(cfg, render_corosync_conf(cfg), tmp_path) == []


def test_corosync_negative_control(tmp_path: Path) -> None:
    cfg = _config("reference")
    text = render_corosync_conf(cfg).replace("nodeid: 2", "nodeid: 1")
    failures = _corosync_test(cfg, text, tmp_path)
    assert len(failures) == 2
    assert "Nodeid 1 appears twice" in failures[0]


# -- drbdadm ---------------------------------------------------------------------------------


def _drbdadm_dump(cfg: ClusterConfig, res_text: str, tmp_path: Path) -> dict[str, str]:
    drbdadm = _need("drbdadm", "drbd-utils")
    _need_namespaces()
    res = tmp_path / f"{cfg.drbd.resource}.res"
    res.write_text(res_text)
    dumps = {}
    for node in cfg.nodes:
        result = _in_namespace(
            [f"hostname {shlex.quote(node.name)}", f"{drbdadm} -c {shlex.quote(str(res))} dump"],
            addresses=[node.address],
            uts=True,
        )
        noise = [line for line in result.stderr.splitlines() if "modinfo" not in line]
        dumps[node.name] = f"exit {result.returncode}\n" + "\n".join(noise) + result.stdout
    return dumps


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_drbdadm_parses_the_rendered_resource_on_every_node(name: str, tmp_path: Path) -> None:
    cfg = _config(name)
    dumps = _drbdadm_dump(cfg, render_drbd_resource(cfg), tmp_path)
    d = cfg.drbd
    for node in cfg.nodes:
        dump = dumps[node.name]
        assert dump.startswith("exit 0\n# "), dump
        assert f"# resource {d.resource} on {node.name}: not ignored, not stacked" in dump
        assert f"device               {d.device} minor {d.minor};" in dump
        assert re.search(rf"protocol +{d.protocol};", dump)
        for peer in cfg.nodes:
            assert f"on {peer.name} {{\n        node-id {peer.drbd_node_id};" in dump
            assert f"address          ipv4 {peer.address}:{d.port};" in dump
            assert re.search(rf"disk +{re.escape(peer.drbd_disk)};", dump)
        hosts = " ".join(n.name for n in cfg.nodes)
        assert f"hosts {hosts};" in dump
        if d.quorum is not None:
            assert re.search(rf"quorum +{d.quorum.quorum};", dump)
            assert re.search(rf"on-no-quorum +{d.quorum.on_no_quorum};", dump)


def test_drbdadm_negative_control(tmp_path: Path) -> None:
    cfg = _config("reference")
    text = render_drbd_resource(cfg).replace("node-id 1;", "node-id 0;")
    dumps = _drbdadm_dump(cfg, text, tmp_path)
    assert all(not d.startswith("exit 0") for d in dumps.values())
    assert "conflicting use of node-id" in dumps["ha-0"]


def test_drbdadm_checks_the_local_address(tmp_path: Path) -> None:
    """The namespace matters: with the wrong local address drbdadm refuses, as on a real node."""
    cfg = _config("reference")
    wrong = replace(cfg, nodes=(replace(cfg.nodes[0], address="192.168.222.99"), cfg.nodes[1]))
    dumps = _drbdadm_dump(wrong, render_drbd_resource(cfg), tmp_path)
    assert "IP 192.168.222.30 not found on this host" in dumps["ha-0"]


# -- crmsh -----------------------------------------------------------------------------------


def _canonical(element: Element) -> tuple[object, ...]:
    """Tag, attributes and children; order is kept except where Pacemaker ignores it."""
    children = [_canonical(child) for child in element]
    if element.tag in {"resources", "constraints", "nodes"}:
        children.sort(key=repr)
    return (element.tag, tuple(sorted(element.attrib.items())), tuple(children))


def _configuration(xml: str) -> tuple[object, ...]:
    root = ET.fromstring(xml)  # noqa: S314 (our own output and crmsh's)
    configuration = root.find("configuration")
    assert configuration is not None
    return _canonical(configuration)


def _crmsh_load(crm_text: str, tmp_path: Path, *, force: bool) -> str:
    crm = _need("crm", "crmsh")
    empty = subprocess.run(
        [_need("cibadmin", "pacemaker-cli-utils"), "--empty"],
        capture_output=True,
        text=True,
        check=True,
        timeout=TIMEOUT,
    )
    cib = tmp_path / "crmsh-cib.xml"
    cib.write_text(empty.stdout)
    source = tmp_path / "cib.txt"
    source.write_text(crm_text)
    env = {**os.environ, "CIB_file": str(cib), "HOME": str(tmp_path)}
    argv = [crm, *(["-F"] if force else []), "configure", "load", "update", str(source)]
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=TIMEOUT, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return cib.read_text()


# The lab's application agent (ocf:halab:app) only exists inside the lab: crmsh cannot read
# its meta-data here and needs --force to commit; the comparison below still checks the result.
@pytest.mark.parametrize(
    ("name", "force"), [("reference", False), ("three-node", False), ("lab", True)]
)
def test_crmsh_loads_the_crm_text_into_the_rendered_xml(
    name: str, force: bool, tmp_path: Path
) -> None:
    cfg = _config(name)
    loaded = _crmsh_load(render_cib_crm(cfg), tmp_path, force=force)
    assert _configuration(loaded) == _configuration(render_cib_xml(cfg))


def test_crmsh_negative_control(tmp_path: Path) -> None:
    """A different crm text gives a different configuration: the comparison can fail."""
    cfg = _config("reference")
    text = render_cib_crm(cfg).replace("interval=29s", "interval=28s")
    loaded = _crmsh_load(text, tmp_path, force=False)
    assert _configuration(loaded) != _configuration(render_cib_xml(cfg))
