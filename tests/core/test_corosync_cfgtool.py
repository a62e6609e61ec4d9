"""Tests for `corosync-cfgtool -s` parsing (3.1.7 captures, 3.0 formats by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hacluster.errors import ParseError
from hacluster.models.corosync import KnetLink, LinkStatus, PeerLinkState
from hacluster.parsers.corosync import parse_cfgtool

FIXTURES = Path(__file__).parent / "fixtures" / "corosync"


def load(name: str) -> bytes:
    """Return a corosync fixture's bytes."""
    return (FIXTURES / name).read_bytes()


def test_single_node() -> None:
    """3.1.7: local node only."""
    s = parse_cfgtool(load("cfgtool-3.1.7-single-node.txt"), exit_status=0)
    assert (s.running, s.local_node_id, s.transport) == (True, 1, "knet")
    (link,) = s.links
    assert (link.link_id, link.transport, link.addr) == (0, "udp", "198.18.0.240")
    assert dict(link.peers) == {1: PeerLinkState.LOCALHOST}
    assert s.connected(1) is True
    assert s.connected(2) is None


@pytest.mark.parametrize(("node", "local", "peer"), [("ha-0", 1, 2), ("ha-1", 2, 1)])
def test_two_node_connected(node: str, local: int, peer: int) -> None:
    """3.1.7: both nodes see each other connected."""
    s = parse_cfgtool(load(f"cfgtool-3.1.7-two-node-{node}.txt"), exit_status=0)
    assert s.local_node_id == local
    assert s.links[0].peers[local] is PeerLinkState.LOCALHOST
    assert s.links[0].peers[peer] is PeerLinkState.CONNECTED
    assert s.connected(peer) is True
    assert s.node_ids == (1, 2)


def test_peer_disconnected() -> None:
    """3.1.7: the peer is down; exit status stays 0."""
    s = parse_cfgtool(load("cfgtool-3.1.7-peer-disconnected.txt"), exit_status=0)
    assert s.links[0].peers[2] is PeerLinkState.DISCONNECTED
    assert s.connected(2) is False
    assert s.to_dict()["connected"] == {"1": True, "2": False}


def test_corosync_30_format() -> None:
    """3.0.x-3.1.0: 'Printing link status.', no transport, 2-wide node ids."""
    s = parse_cfgtool(load("cfgtool-3.0-connected.txt"), exit_status=0)
    assert s.transport is None
    assert s.local_node_id == 1
    assert s.links[0].transport is None
    assert s.connected(2) is True


def test_corosync_30_one_link_down() -> None:
    """3.0: exit 1 when a link is down; the other link still connects the node."""
    s = parse_cfgtool(load("cfgtool-3.0-link0-down.txt"), exit_status=1)
    assert s.running is True
    assert [link.peers[2] for link in s.links] == [
        PeerLinkState.DISCONNECTED,
        PeerLinkState.CONNECTED,
    ]
    assert s.connected(2) is True


def test_corosync_30_link_enabled_format() -> None:
    """3.0.x 'link enabled:N link connected:N' form."""
    s = parse_cfgtool(load("cfgtool-3.0-link-enabled.txt"))
    assert dict(s.links[0].peers) == {
        1: PeerLinkState.LOCALHOST,
        2: PeerLinkState.CONNECTED,
        3: PeerLinkState.DISCONNECTED,
    }


def test_brief_and_unknown_states() -> None:
    """`-b` one-line status is kept as text; an unknown peer state is 'unknown'."""
    text = (
        "Local node ID 1, transport knet\nLINK ID 0 udp\n\taddr\t= 10.0.0.1\n\tstatus\t= n3\n"
        "LINK ID 1 \n\taddr\t= 10.0.1.1\n\tstatus:\n"
        "\t\tnodeid:          2:\tweirdstate\n"
    )
    s = parse_cfgtool(text)
    assert s.links[0].status == "n3"
    assert s.links[0].peers == {}
    assert s.links[1].transport is None
    assert s.links[1].peers[2] is PeerLinkState.UNKNOWN
    assert s.connected(2) is False


def test_not_running() -> None:
    """Corosync down: exit 1 and the configuration API error."""
    s = parse_cfgtool(load("cfgtool-3.1.7-not-running.stderr"), exit_status=1)
    assert s.running is False
    assert s.error == "Could not initialize corosync configuration API"
    assert s.links == ()
    assert parse_cfgtool(b"", exit_status=1) == LinkStatus(running=False)


def test_corosync2_rejected() -> None:
    """Corosync 2 'RING ID' output is refused with a clear ParseError."""
    with pytest.raises(ParseError, match="corosync 2") as err:
        parse_cfgtool(load("cfgtool-2.4-ring.txt"))
    assert err.value.command == "corosync-cfgtool -s"


def test_link_model() -> None:
    """KnetLink peers are read-only and serialise with string keys."""
    link = KnetLink(link_id=0, peers={2: PeerLinkState.CONNECTED, 1: PeerLinkState.LOCALHOST})
    assert link.to_dict()["peers"] == {"1": "localhost", "2": "connected"}
    assert KnetLink(link_id=1, peers=link.peers).peers is link.peers
    with pytest.raises(TypeError):
        link.peers[3] = PeerLinkState.CONNECTED  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'Local node ID'"),
        ("\taddr\t= 1.2.3.4\n", "unexpected line"),
        ("LINK ID 0 udp\n\tweird line\n", "unexpected line"),
    ],
)
def test_malformed(text: str, message: str) -> None:
    """Malformed output raises ParseError naming the command."""
    with pytest.raises(ParseError, match=message):
        parse_cfgtool(text, exit_status=0)
