"""Tests for the split-brain verdict (per node and across nodes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacluster.models.drbd import (
    ConnectionState,
    DiskState,
    DrbdConnection,
    DrbdResource,
    DrbdRole,
    DrbdStatus,
    DrbdVolume,
    SplitBrainVerdict,
)
from hacluster.parsers.drbd import (
    parse_drbd_status_json,
    parse_drbd_status_text,
    parse_events2,
    parse_kernel_log,
)
from hacluster.split_brain import (
    STANDALONE_UNKNOWN,
    analyze_split_brain,
    cluster_split_brain,
    resource_verdict,
)

FIXTURES = Path(__file__).parent / "fixtures" / "drbd"
HELPER = "events2: call helper split-brain (peer ha-1, volume 0)"
KERNEL = "kernel: Split-Brain detected but unresolved, dropping connection! (ha-1)"


def load(name: str) -> bytes:
    """Return a DRBD fixture's bytes."""
    return (FIXTURES / name).read_bytes()


def status(name: str) -> DrbdStatus:
    """Parse a status fixture (JSON or text)."""
    if name.endswith(".json"):
        return parse_drbd_status_json(load(name))
    return parse_drbd_status_text(load(name))


def verdict(
    status_name: str, *, events: str | None = None, kernel: str | None = None
) -> SplitBrainVerdict:
    """The verdict for home-assistant given a status fixture and optional evidence files."""
    analyzed = analyze_split_brain(
        status(status_name),
        events=parse_events2(load(events)) if events else (),
        kernel_log=parse_kernel_log(load(kernel)) if kernel else (),
    )
    res = analyzed.resource("home-assistant")
    assert res is not None
    return res.split_brain


def test_helper_call_while_standalone_is_split_brain() -> None:
    """The split-brain helper call in events2 plus StandAlone: true."""
    result = verdict(
        "status-json-9.22-split-brain-ha-0.json", events="events2-9.22-split-brain.txt"
    )
    assert result == SplitBrainVerdict(split_brain=True, evidence=(HELPER,), peers=("ha-1",))


def test_helper_call_then_reconnect_clears() -> None:
    """A later `connection:Connected` in the stream clears the helper evidence."""
    result = verdict(
        "status-json-9.22-healthy-primary.json", events="events2-9.22-split-brain-resolved.txt"
    )
    assert result == SplitBrainVerdict()
    # Even if the status were captured earlier (StandAlone), the events say it was resolved:
    stale = verdict(
        "status-json-9.22-split-brain-ha-0.json", events="events2-9.22-split-brain-resolved.txt"
    )
    assert stale.split_brain is False
    assert stale.evidence == (STANDALONE_UNKNOWN,)


def test_helper_call_cleared_by_current_status() -> None:
    """The current status Connected to that peer clears old evidence."""
    result = verdict(
        "status-json-9.33-healthy-primary.json",
        events="events2-9.22-split-brain.txt",
        kernel="kernel-dmesg-split-brain-ha-0.txt",
    )
    assert result == SplitBrainVerdict()


def test_initial_split_brain_alone_is_not_split_brain() -> None:
    """`initial-split-brain` is called for every detection, also resolved ones."""
    result = verdict(
        "status-json-9.22-healthy-primary.json", events="events2-9.22-initial-split-brain-auto.txt"
    )
    assert result.split_brain is False
    assert result.evidence == ()


def test_kernel_line_only() -> None:
    """The kernel's unresolved line alone is enough (the peer may show only Connecting)."""
    result = verdict(
        "status-text-9.22-split-brain-ha-0.txt", kernel="kernel-dmesg-split-brain-ha-0.txt"
    )
    assert result == SplitBrainVerdict(split_brain=True, evidence=(KERNEL,), peers=("ha-1",))
    connecting = verdict(
        "status-json-9.22-peer-connecting.json", kernel="kernel-dmesg-split-brain-ha-0.txt"
    )
    assert connecting.split_brain is True


def test_both_sources_listed_in_order() -> None:
    """Events2 evidence comes first, then the kernel's, each once."""
    result = verdict(
        "status-json-9.22-split-brain-ha-0.json",
        events="events2-9.22-split-brain.txt",
        kernel="kernel-dmesg-split-brain-ha-0.txt",
    )
    assert result.evidence == (HELPER, KERNEL)


def test_kernel_reconnect_clears() -> None:
    """`conn( ... -> Connected )` later in the kernel log clears; 'manually solved' is noted."""
    result = verdict(
        "status-json-9.22-healthy-primary.json",
        kernel="kernel-dmesg-T-split-brain-then-reconnect.txt",
    )
    assert result.split_brain is False
    assert result.evidence == (
        "kernel: Split-Brain detected, manually solved. Full sync from this node (ha-1)",
    )


def test_admin_disconnect_is_cause_unknown() -> None:
    """StandAlone after `drbdadm disconnect`: false, 'StandAlone, cause unknown'."""
    result = verdict(
        "status-json-9.33-split-brain-ha-0.json", events="events2-9.33-admin-disconnect.txt"
    )
    assert result == SplitBrainVerdict(
        split_brain=False, evidence=(STANDALONE_UNKNOWN,), peers=("ha-1",)
    )
    assert verdict("status-text-9.33-split-brain-ha-1.txt").evidence == (STANDALONE_UNKNOWN,)


def test_auto_resolved_is_noted_but_false() -> None:
    """'automatically solved' is evidence text only; the verdict is false."""
    result = verdict(
        "status-json-9.22-healthy-primary.json", kernel="kernel-journal-short-iso-auto-solved.txt"
    )
    assert result.split_brain is False
    assert result.evidence == (
        "kernel: Split-Brain detected, 1 primaries, automatically solved. Sync from this node"
        " (ha-1)",
    )


def test_notes_kept_next_to_true_verdict() -> None:
    """An unresolved split brain after an auto-solved one keeps both lines."""
    kernel = parse_kernel_log(
        load("kernel-journal-short-iso-auto-solved.txt") + load("kernel-dmesg-split-brain-ha-0.txt")
    )
    res = status("status-json-9.22-split-brain-ha-0.json").resources[0]
    result = resource_verdict(res, kernel_log=kernel)
    assert result.split_brain is True
    assert result.evidence[0] == KERNEL
    assert "automatically solved" in result.evidence[1]


def test_sync_state_split_brain() -> None:
    """Newer drbd-utils report `sync-state:SplitBrain` on a StandAlone connection."""
    events = parse_events2(
        "change connection name:home-assistant peer-node-id:1 conn-name:ha-1"
        " connection:StandAlone sync-state:SplitBrain\n"
    )
    res = status("status-json-9.33-split-brain-ha-0.json").resources[0]
    result = resource_verdict(res, events=events)
    assert result.split_brain is True
    assert result.evidence == ("events2: connection StandAlone sync-state:SplitBrain (peer ha-1)",)


def test_evidence_without_peer() -> None:
    """A device-level kernel line (no peer name) applies to the resource's connections."""
    kernel = parse_kernel_log(
        "[ 1.0] drbd home-assistant/0 drbd0: Split-Brain detected but unresolved,"
        " dropping connection!\n"
    )
    standalone = status("status-json-9.22-split-brain-ha-0.json").resources[0]
    result = resource_verdict(standalone, kernel_log=kernel)
    assert result.split_brain is True
    assert result.evidence == (
        "kernel: Split-Brain detected but unresolved, dropping connection! (volume 0)",
    )
    assert result.peers == ()
    healthy = status("status-json-9.22-healthy-primary.json").resources[0]
    assert resource_verdict(healthy, kernel_log=kernel).split_brain is False
    helper = parse_events2("call helper name:home-assistant helper:split-brain\n")
    assert resource_verdict(standalone, events=helper).evidence == (
        "events2: call helper split-brain",
    )


def test_other_resources_ignored() -> None:
    """Evidence for another resource does not leak."""
    events = parse_events2(load("events2-9.22-split-brain.txt"))
    kernel = parse_kernel_log(load("kernel-dmesg-split-brain-ha-0.txt"))
    analyzed = analyze_split_brain(
        status("status-json-9.22-two-resources.json"), events=events, kernel_log=kernel
    )
    media = analyzed.resource("media")
    assert media is not None
    assert media.split_brain == SplitBrainVerdict()


# ------------------------------------------------------------------------- cluster ---


def analyzed(name: str, **kwargs: str) -> DrbdStatus:
    """A status fixture with its own verdicts filled in."""
    events = kwargs.get("events")
    kernel = kwargs.get("kernel")
    return analyze_split_brain(
        status(name),
        events=parse_events2(load(events)) if events else (),
        kernel_log=parse_kernel_log(load(kernel)) if kernel else (),
    )


def test_cluster_both_primary_disconnected() -> None:
    """Both nodes Primary while not Connected: diverged data, true."""
    verdicts = cluster_split_brain(
        {
            "ha-0": analyzed("status-json-9.22-peer-connecting.json"),
            "ha-1": analyzed("status-json-9.33-isolated-primary-ha-1.json"),
        }
    )
    assert verdicts == {
        "home-assistant": SplitBrainVerdict(
            split_brain=True,
            evidence=("ha-0 and ha-1 are both Primary while not Connected (diverged data)",),
            peers=("ha-0", "ha-1"),
        )
    }


def test_cluster_one_node_has_evidence() -> None:
    """One node saw the helper, the other only StandAlone: true, naming the nodes."""
    verdicts = cluster_split_brain(
        {
            "ha-0": analyzed(
                "status-json-9.22-split-brain-ha-0.json", events="events2-9.22-split-brain.txt"
            ),
            "ha-1": analyzed("status-json-9.22-split-brain-ha-1.json"),
        }
    )
    result = verdicts["home-assistant"]
    assert result.split_brain is True
    assert result.evidence == (f"ha-0: {HELPER}",)
    assert result.peers == ("ha-0", "ha-1")


def test_cluster_standalone_without_evidence() -> None:
    """Both sides StandAlone, one Primary, no evidence: false with the notes."""
    verdicts = cluster_split_brain(
        {
            "ha-0": analyzed("status-json-9.22-split-brain-ha-0.json"),
            "ha-1": analyzed("status-json-9.22-split-brain-ha-1.json"),
        }
    )
    assert verdicts["home-assistant"] == SplitBrainVerdict(
        split_brain=False,
        evidence=(f"ha-0: {STANDALONE_UNKNOWN}", f"ha-1: {STANDALONE_UNKNOWN}"),
        peers=("ha-0", "ha-1"),
    )


def test_cluster_healthy_and_dual_primary_connected() -> None:
    """A healthy pair is false; two Primaries that are Connected (dual-primary) too."""
    healthy = cluster_split_brain(
        {
            "ha-0": analyzed("status-json-9.22-healthy-primary.json"),
            "ha-1": analyzed("status-json-9.22-healthy-secondary.json"),
        }
    )
    assert healthy == {"home-assistant": SplitBrainVerdict()}

    def dual(peer: str) -> DrbdStatus:
        return DrbdStatus(
            resources=(
                DrbdResource(
                    name="vm",
                    role=DrbdRole.PRIMARY,
                    volumes=(DrbdVolume(volume=0, disk_state=DiskState.UP_TO_DATE),),
                    connections=(
                        DrbdConnection(
                            name=peer,
                            connection_state=ConnectionState.CONNECTED,
                            peer_role=DrbdRole.PRIMARY,
                        ),
                    ),
                ),
            )
        )

    assert cluster_split_brain({"a": dual("b"), "b": dual("a")})["vm"].split_brain is False
    # Node names that are not the DRBD connection names: a Connected Primary peer counts.
    assert cluster_split_brain({"n1": dual("x"), "n2": dual("y")})["vm"].split_brain is False


def test_cluster_resource_on_one_node_only() -> None:
    """A resource only one node reports is judged from that node alone."""
    verdicts = cluster_split_brain(
        {
            "ha-0": analyzed("status-json-9.22-two-resources.json"),
            "ha-1": analyzed("status-json-9.22-healthy-secondary.json"),
        }
    )
    assert sorted(verdicts) == ["home-assistant", "media"]
    assert verdicts["media"] == SplitBrainVerdict()


@pytest.mark.parametrize("primary_conn_state", ["Connecting", "StandAlone"])
def test_cluster_names_mismatch_not_connected(primary_conn_state: str) -> None:
    """Two Primaries without a Connected Primary peer, names unknown: diverged."""

    def node(peer: str) -> DrbdStatus:
        return DrbdStatus(
            resources=(
                DrbdResource(
                    name="vm",
                    role=DrbdRole.PRIMARY,
                    connections=(
                        DrbdConnection(
                            name=peer,
                            connection_state=ConnectionState(primary_conn_state),
                            peer_role=DrbdRole.DRBD_UNKNOWN,
                        ),
                    ),
                ),
            )
        )

    result = cluster_split_brain({"n1": node("x"), "n2": node("y")})["vm"]
    assert result.split_brain is True
    assert result.peers == ("n1", "n2")
