"""Shared pieces of the control tests (services, switches, buttons, self-move).

Test modules import the fixtures they use from here (pytest finds fixtures in a module's
globals). The integration conftest's ``cluster`` fixture simulates polls; here:

* ``controller``: ``ClusterController`` in ``runner.py`` replaced by a mock whose ``execute``
  and ``complete`` return :func:`result` (the core's control is tested in tests/core; these tests
  are about what Home Assistant does with it). The interlocks stay real: the runner judges every
  request with the core's ``assess`` on the simulated poll before it reaches the controller.
* ``not_self`` (autouse where imported): this host has no cluster address (addresses and host
  name patched), so no action counts as a self-move unless a test says so.
* ``light_batch``/``command_sessions``: what the real controller needs from the fake sessions
  (a light poll's crm_mon, and every node in ``transport.sessions``), for the tests that run
  the real ``ClusterController`` through Home Assistant.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.pacemaker_drbd.hacluster.commands import BatchResult, CommandResult
from custom_components.pacemaker_drbd.hacluster.control import ActionResult, ResultCode
from custom_components.pacemaker_drbd.hacluster.interlocks import ActionKind, Reason, ReasonCode

REPO = Path(__file__).resolve().parents[2]
PM = REPO / "tests" / "core" / "fixtures" / "pacemaker"
RUNNER = "custom_components.pacemaker_drbd.runner"
ENTRY_ID = "01JPACEMAKERDRBDENTRY0000"
FENCING = Reason.make(ReasonCode.FENCING_DISABLED)


def result(
    action: ActionKind | str = ActionKind.FAILOVER,
    *,
    ok: bool = True,
    code: ResultCode = ResultCode.OK,
    message: str = "move g_home-assistant to ha-1: done in 3.2 s",
    **fields: Any,
) -> ActionResult:
    """An ActionResult as the controller returns it."""
    values: dict[str, Any] = {
        "duration_s": 4.0,
        "cluster_seconds": 3.2,
        "new_location": "ha-1",
        "warnings": (FENCING,),
        "command_node": "ha-0",
    }
    values.update(fields)
    return ActionResult(action=ActionKind(action), ok=ok, code=code, message=message, **values)


@pytest.fixture
def controller() -> Iterator[MagicMock]:
    """The controller instance the runner builds (execute/complete are AsyncMocks)."""
    with patch(f"{RUNNER}.ClusterController") as cls:
        instance = cls.return_value
        instance.execute = AsyncMock(return_value=result())
        instance.complete = AsyncMock(return_value=result())
        yield instance


@pytest.fixture(autouse=True)
def not_self() -> Iterator[None]:
    """This host is no cluster node (unless a test patches the addresses again)."""
    with (
        patch(f"{RUNNER}.own_addresses", return_value=("10.9.9.9",)),
        patch(f"{RUNNER}.own_hostname", return_value="hass-host"),
    ):
        yield


def ok_result(data: bytes = b"") -> CommandResult:
    """A successful command result with ``data`` as its output."""
    return CommandResult(argv=("x",), exit_status=0, stdout=data, stderr=b"")


def light_batch(crm: str, constraints: str = "healthy") -> BatchResult:
    """A light poll's answer: crm_mon of ``crm`` and the constraints of ``constraints``."""
    return BatchResult(
        node="ha-0",
        results={
            "crm_mon": ok_result((PM / f"{crm}.xml").read_bytes()),
            "cib_constraints": ok_result((PM / f"{constraints}.constraints.xml").read_bytes()),
        },
        duration=0.01,
        bytes_read=100,
    )


def cib_batch() -> BatchResult:
    """``cibadmin --query --scope resources`` (the recorded full CIB will do)."""
    return BatchResult(
        node="ha-0",
        results={"cib_resources": ok_result((PM / "healthy.cib.xml").read_bytes())},
        duration=0.01,
        bytes_read=100,
    )


def command_sessions(cluster: Any) -> None:
    """Give every simulated client a session per node (the controller sends to them)."""
    for client in cluster.clients:
        client.transport.sessions = {"ha-0": cluster.session, "ha-1": cluster.session}


def entities(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, domain: str
) -> dict[str, dict[str, Any]]:
    """Registry entries and states of one platform, reduced to what the integration sets."""
    summary: dict[str, dict[str, Any]] = {}
    for entry in sorted(
        er.async_entries_for_config_entry(entity_registry, ENTRY_ID), key=lambda e: e.entity_id
    ):
        if entry.domain != domain:
            continue
        state = hass.states.get(entry.entity_id)
        summary[entry.entity_id] = {
            "unique_id": entry.unique_id,
            "translation_key": entry.translation_key,
            "original_name": entry.original_name,
            "entity_category": entry.entity_category,
            "disabled_by": entry.disabled_by,
            "state": state.state if state is not None else None,
            "attributes": (
                {str(k): v for k, v in state.attributes.items()} if state is not None else None
            ),
        }
    return summary
