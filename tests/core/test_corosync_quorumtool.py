"""Tests for `corosync-quorumtool -s` parsing (real corosync 3.1.7 captures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacluster.errors import ParseError
from hacluster.models.corosync import QUORUM_NOT_RUNNING, QuorumMember, QuorumStatus
from hacluster.parsers.corosync import parse_quorumtool

FIXTURES = Path(__file__).parent / "fixtures" / "corosync"


def load(name: str) -> bytes:
    """Return a corosync fixture's bytes."""
    return (FIXTURES / name).read_bytes()


def test_single_node() -> None:
    """A one-node cluster: quorate, one member, flag Quorate only."""
    q = parse_quorumtool(load("quorumtool-3.1.7-single-node.txt"), exit_status=0)
    assert q.running is True
    assert q.provider == "corosync_votequorum"
    assert (q.nodes, q.node_id, q.ring_id) == (1, 1, "1.5")
    assert q.quorate is True
    assert (q.expected_votes, q.highest_expected, q.total_votes, q.quorum) == (1, 1, 1, 1)
    assert q.activity_blocked is False
    assert q.flags == ("Quorate",)
    assert q.two_node is False
    assert q.members == (QuorumMember(node_id=1, votes=1, name="ha-0", local=True),)
    assert q.local_member == q.members[0]


@pytest.mark.parametrize(("node", "local_id"), [("ha-0", 1), ("ha-1", 2)])
def test_two_node(node: str, local_id: int) -> None:
    """two_node: 1 - flags 2Node Quorate WaitForAll, both members, local marked."""
    q = parse_quorumtool(load(f"quorumtool-3.1.7-two-node-{node}.txt"), exit_status=0)
    assert q.quorate is True
    assert q.two_node is True
    assert q.wait_for_all is True
    assert q.flags == ("2Node", "Quorate", "WaitForAll")
    assert q.node_id == local_id
    assert [(m.node_id, m.name, m.local) for m in q.members] == [
        (1, "ha-0", local_id == 1),
        (2, "ha-1", local_id == 2),
    ]
    assert q.local_member is not None
    assert q.local_member.node_id == local_id
    assert q.member(2) is not None
    assert q.member(3) is None


def test_two_node_peer_down_stays_quorate() -> None:
    """With 2Node the survivor keeps quorum with one vote."""
    q = parse_quorumtool(load("quorumtool-3.1.7-two-node-peer-down.txt"), exit_status=0)
    assert q.quorate is True
    assert (q.nodes, q.total_votes, q.expected_votes, q.quorum) == (1, 1, 2, 1)
    assert [m.name for m in q.members] == ["ha-0"]


def test_not_quorate_activity_blocked() -> None:
    """Without two_node one of two nodes is not quorate: 'Activity blocked', empty flags."""
    raw = load("quorumtool-3.1.7-not-quorate.txt")
    assert b"Flags:            \n" in raw
    q = parse_quorumtool(raw, exit_status=2)
    assert q.quorate is False
    assert q.activity_blocked is True
    assert q.quorum == 2
    assert q.flags == ()


def test_wait_for_all() -> None:
    """two_node with wait_for_all before the peer was ever seen: not quorate."""
    q = parse_quorumtool(load("quorumtool-3.1.7-wait-for-all.txt"), exit_status=2)
    assert q.quorate is False
    assert q.activity_blocked is True
    assert q.flags == ("2Node", "WaitForAll")
    assert q.two_node is True


def test_qdevice() -> None:
    """A quorum device: Qdevice column and the device row with node id 0."""
    q = parse_quorumtool(load("quorumtool-3.1-qdevice.txt"))
    assert q.flags == ("Quorate", "Qdevice")
    assert [m.qdevice for m in q.members] == ["A,V,NMW", "A,V,NMW"]
    assert (q.qdevice_name, q.qdevice_votes) == ("Qdevice", 1)
    assert q.expected_votes == 3


def test_qdevice_not_voting_and_hex_ids() -> None:
    """`-H` hex node ids and a quorum device row that is not casting its vote."""
    text = (
        "Quorum information\n------------------\n"
        "Date:             Sat Nov 28 15:40:11 2026\n"
        "Quorum provider:  corosync_votequorum\n"
        "Nodes:            2\nNode ID:          0x00000001\nRing ID:          1.2a\n"
        "Quorate:          Yes\n\nVotequorum information\n----------------------\n"
        "Expected votes:   3\nHighest expected: 3\nTotal votes:      2\nQuorum:           2  \n"
        "Flags:            Quorate Qdevice \n\nMembership information\n"
        "----------------------\n    Nodeid      Votes    Qdevice Name\n"
        "0x00000001          1   A,NV,NMW ha-0 (local)\n"
        "0x00000002          1         NR ha-1\n"
        "0x00000000          0            Qdevice (votes 1)\n"
    )
    q = parse_quorumtool(text)
    assert q.node_id == 1
    assert [(m.node_id, m.qdevice) for m in q.members] == [(1, "A,NV,NMW"), (2, "NR")]
    assert (q.qdevice_name, q.qdevice_votes) == ("Qdevice", 0)


def test_not_running() -> None:
    """Corosync down: exit 1, 'Cannot initialize CMAP service' on stderr - a state."""
    q = parse_quorumtool(load("quorumtool-3.1.7-not-running.stderr"), exit_status=1)
    assert q.running is False
    assert q.error == "Cannot initialize CMAP service"
    assert q.quorate is False
    assert parse_quorumtool(b"", exit_status=1) == QUORUM_NOT_RUNNING
    assert parse_quorumtool("Cannot initialise VOTEQUORUM service\n").running is False


def test_not_configured_provider() -> None:
    """Without votequorum only the first block is printed."""
    text = (
        "Quorum information\n------------------\nDate:             x\n"
        "Quorum provider:  Not configured\nNodes:            1\nNode ID:          1\n"
        "Ring ID:          1.5\nQuorate:          Yes\n\nMembership information\n"
        "----------------------\n    Nodeid Name\n         1 ha-0 (local)\n"
    )
    q = parse_quorumtool(text)
    assert q.provider == "Not configured"
    assert q.expected_votes is None
    assert q.quorum is None
    assert q.members[0] == QuorumMember(node_id=1, votes=None, name="ha-0", local=True)


def test_to_dict() -> None:
    """Serialisation includes the derived two_node flag and members."""
    d = parse_quorumtool(load("quorumtool-3.1.7-two-node-ha-0.txt")).to_dict()
    assert d["two_node"] is True
    assert d["members"][1] == {
        "node_id": 2,
        "votes": 1,
        "name": "ha-1",
        "local": False,
        "qdevice": None,
    }
    assert QuorumStatus().to_dict()["running"] is True
    assert QuorumStatus().local_member is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'Quorum information'"),
        ("garbage\n", "no 'Quorum information'"),
        ("Quorum information\nNodes:            1\n", "missing 'Quorum provider'"),
        (
            "Quorum information\nQuorum provider:  x\nNodes:            one\n"
            "Node ID:          1\nQuorate:          Yes\n",
            "Nodes is not a number",
        ),
        (
            "Quorum information\nQuorum provider:  x\nNodes:            1\n"
            "Node ID:          1\nQuorate:          Maybe\n",
            "Quorate is 'Maybe'",
        ),
        ("Quorum information\nsomething odd\n", "unexpected line"),
        (
            "Quorum information\nQuorum provider:  x\nNodes:            1\nNode ID:          1\n"
            "Quorate:          Yes\nMembership information\n    Nodeid Name\nbad row\n",
            "bad membership row",
        ),
        (
            "Quorum information\nQuorum provider:  x\nNodes:            1\nNode ID:          1\n"
            "Quorate:          Yes\nMembership information\n    Nodeid Name\n         1 \n",
            "bad membership row",
        ),
        (
            "Quorum information\nQuorum provider:  x\nNodes:            1\nNode ID:          1\n"
            "Quorate:          Yes\nMembership information\n    Nodeid      Votes Name\n"
            "         1          1\n",
            "without a name",
        ),
    ],
)
def test_malformed(text: str, message: str) -> None:
    """Malformed output raises ParseError naming the command."""
    with pytest.raises(ParseError, match=message) as err:
        parse_quorumtool(text, exit_status=0)
    assert err.value.command == "corosync-quorumtool -s"


def test_unable_lines_tolerated() -> None:
    """'Unable to ...' diagnostics mixed into the output are skipped."""
    text = load("quorumtool-3.1.7-single-node.txt").decode() + "Unable to get node 3 info\n"
    text = text.replace(
        "Votequorum information", "Unable to get node info: x\nVotequorum information"
    )
    assert parse_quorumtool(text).members[0].name == "ha-0"
