"""Parse ``corosync-quorumtool -s`` and ``corosync-cfgtool -s`` (corosync 3.0.x and 3.1.1+).

Formats: corosync/corosync ``tools/corosync-quorumtool.c`` and ``tools/corosync-cfgtool.c``;
the 3.1.7 outputs in ``tests/core/fixtures/corosync`` were recorded from the real tools.
``corosync-quorumtool`` exits 0 when quorate, 2 when not, 1 on error; both tools exit 1 and
print ``Cannot initialize CMAP service`` / ``Could not initialize corosync configuration API``
when corosync is not running, which is returned as a state (``running=False``), not raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re

from .._enum import parse_enum
from ..errors import ParseError
from ..models.corosync import (
    KnetLink,
    LinkStatus,
    PeerLinkState,
    QuorumMember,
    QuorumStatus,
)

QUORUMTOOL = "corosync-quorumtool -s"
CFGTOOL = "corosync-cfgtool -s"

_NOT_RUNNING_RE = re.compile(
    r"Cannot initiali[sz]e (?:CMAP|QUORUM|CFG|VOTEQUORUM) service"
    r"|Could not initiali[sz]e corosync configuration API"
)
_KV_RE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z ]*?):\s*(?P<value>.*?)\s*$")
_INT_RE = re.compile(r"^(?:0x[0-9a-fA-F]+|\d+)$")


def _text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def _int(value: str, what: str, command: str) -> int:
    value = value.strip()
    if not _INT_RE.match(value):
        raise ParseError(f"{what} is not a number: {value!r}", command=command)
    return int(value, 16) if value.startswith("0x") else int(value)


def _not_running_message(text: str) -> str | None:
    match = _NOT_RUNNING_RE.search(text)
    return match.group(0) if match else None


def parse_quorumtool(data: bytes | str, *, exit_status: int | None = None) -> QuorumStatus:
    """Parse ``corosync-quorumtool -s`` output (stdout, or stdout+stderr).

    ``exit_status`` 1 (or the ``Cannot initialize ... service`` message) means corosync is not
    running; the returned status then has ``running=False``. Output without the
    ``Quorum information`` header raises :class:`ParseError`.
    """
    text = _text(data)
    message = _not_running_message(text)
    if "Quorum information" not in text:
        if message is not None or exit_status == 1:
            return QuorumStatus(running=False, error=message or text.strip() or None)
        raise ParseError("no 'Quorum information' section", command=QUORUMTOOL)

    values: dict[str, str] = {}
    members: list[QuorumMember] = []
    qdevice_name: str | None = None
    qdevice_votes: int | None = None
    in_members = False
    has_qdevice_column = False
    for raw in text.splitlines():
        line = raw.rstrip("\n")
        if not line.strip() or set(line.strip()) == {"-"}:
            continue
        if line.strip() == "Membership information":
            in_members = True
            continue
        if in_members:
            header = line.split()
            if header[:1] == ["Nodeid"]:
                has_qdevice_column = "Qdevice" in header
                continue
            member, qdevice = _parse_member(line, has_qdevice_column)
            if qdevice is not None:
                qdevice_votes, qdevice_name = qdevice
            elif member is not None:
                members.append(member)
            continue
        match = _KV_RE.match(line)
        if match and match.group("key") in _QUORUM_KEYS:
            values[match.group("key")] = match.group("value")
            continue
        if line.strip() in ("Quorum information", "Votequorum information"):
            continue
        if line.startswith(("Unable to", "Cannot ")):
            continue
        raise ParseError(f"unexpected line {line!r}", command=QUORUMTOOL)

    for required in ("Quorum provider", "Nodes", "Node ID", "Quorate"):
        if required not in values:
            raise ParseError(f"missing {required!r}", command=QUORUMTOOL)

    quorate_text = values["Quorate"]
    if quorate_text not in ("Yes", "No"):
        raise ParseError(f"Quorate is {quorate_text!r}", command=QUORUMTOOL)

    quorum: int | None = None
    activity_blocked = False
    if "Quorum" in values:
        quorum_text, _, rest = values["Quorum"].partition(" ")
        quorum = _int(quorum_text, "Quorum", QUORUMTOOL)
        activity_blocked = "Activity blocked" in rest
    flags = tuple(values.get("Flags", "").split())

    def optional_int(key: str) -> int | None:
        return _int(values[key], key, QUORUMTOOL) if key in values else None

    return QuorumStatus(
        running=True,
        provider=values["Quorum provider"],
        nodes=_int(values["Nodes"], "Nodes", QUORUMTOOL),
        node_id=_int(values["Node ID"], "Node ID", QUORUMTOOL),
        ring_id=values.get("Ring ID"),
        quorate=quorate_text == "Yes",
        expected_votes=optional_int("Expected votes"),
        highest_expected=optional_int("Highest expected"),
        total_votes=optional_int("Total votes"),
        quorum=quorum,
        activity_blocked=activity_blocked,
        flags=flags,
        members=tuple(members),
        qdevice_name=qdevice_name,
        qdevice_votes=qdevice_votes,
    )


_QUORUM_KEYS = frozenset(
    {
        "Date",
        "Quorum provider",
        "Nodes",
        "Node ID",
        "Ring ID",
        "Quorate",
        "Expected votes",
        "Highest expected",
        "Total votes",
        "Quorum",
        "Flags",
    }
)


def _parse_member(
    line: str, has_qdevice_column: bool
) -> tuple[QuorumMember | None, tuple[int | None, str] | None]:
    """Parse one membership row; the second item is set for the quorum device row."""
    tokens = line.split()
    if len(tokens) < 2 or not _INT_RE.match(tokens[0]):
        if line.startswith("Unable to"):
            return None, None
        raise ParseError(f"bad membership row {line!r}", command=QUORUMTOOL)
    node_id = _int(tokens[0], "Nodeid", QUORUMTOOL)
    votes: int | None = None
    rest = tokens[1:]
    if rest and rest[0].isdigit():
        votes = int(rest[0])
        rest = rest[1:]
    if node_id == 0:
        # The quorum device row: "0  <votes>  <name>[ (votes N)]".
        name = " ".join(rest)
        name = re.sub(r"\s*\(votes \d+\)$", "", name)
        return None, (votes, name)
    qdevice: str | None = None
    if has_qdevice_column and len(rest) > 1:
        qdevice, rest = rest[0], rest[1:]
    if not rest:
        raise ParseError(f"membership row without a name {line!r}", command=QUORUMTOOL)
    local = rest[-1] == "(local)"
    if local:
        rest = rest[:-1]
    return (
        QuorumMember(
            node_id=node_id, votes=votes, name=" ".join(rest), local=local, qdevice=qdevice
        ),
        None,
    )


# corosync 3.1.1+: "\t\tnodeid:          2:\tconnected"; 3.0.x/3.1.0: "\t\tnodeid  2:\tconnected"
# or "\t\tnodeid  2:\tlink enabled:1\tlink connected:1"; 3.0.0: "\t\tnode 2:\tlink enabled:...".
_NODE_RE = re.compile(r"^\s*(?:nodeid:?|node)\s*(?P<id>\d+):\s*(?P<state>.*?)\s*$")
_LINK_RE = re.compile(r"^LINK ID (?P<id>\d+)(?: (?P<transport>\S*))?\s*$", re.IGNORECASE)
_LOCAL_RE = re.compile(r"^Local node ID (?P<id>\d+)(?:, transport (?P<transport>\S+))?\s*$")
_ENABLED_RE = re.compile(r"link enabled:(?P<enabled>\d)\s+link connected:(?P<connected>\d)")


@dataclass(kw_only=True, slots=True)
class _LinkBuilder:
    link_id: int
    transport: str | None
    addr: str | None = None
    status: str | None = None
    peers: dict[int, PeerLinkState] = field(default_factory=dict)

    def build(self) -> KnetLink:
        return KnetLink(
            link_id=self.link_id,
            transport=self.transport or None,
            addr=self.addr,
            peers=self.peers,
            status=self.status,
        )


def parse_cfgtool(data: bytes | str, *, exit_status: int | None = None) -> LinkStatus:
    """Parse ``corosync-cfgtool -s`` output (corosync 3.0.x-3.1.0 and 3.1.1+ formats).

    The 3.0 format exits 1 when a link is down; the output is parsed all the same. Corosync not
    running gives ``running=False``. The corosync 2 ``RING ID`` format raises
    :class:`ParseError`.
    """
    text = _text(data)
    message = _not_running_message(text)
    if message is not None:
        return LinkStatus(running=False, error=message)
    if re.search(r"^RING ID \d+", text, re.MULTILINE) or "Printing ring status." in text:
        raise ParseError(
            "corosync 2 ring status format (RING ID) is not supported", command=CFGTOOL
        )

    local_node_id: int | None = None
    transport: str | None = None
    links: list[KnetLink] = []
    current: _LinkBuilder | None = None
    seen_header = False
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped == "Printing link status.":
            continue
        if match := _LOCAL_RE.match(stripped):
            local_node_id = int(match.group("id"))
            transport = match.group("transport")
            seen_header = True
            continue
        if match := _LINK_RE.match(stripped):
            if current is not None:
                links.append(current.build())
            current = _LinkBuilder(
                link_id=int(match.group("id")), transport=match.group("transport")
            )
            seen_header = True
            continue
        if current is None:
            raise ParseError(f"unexpected line {stripped!r}", command=CFGTOOL)
        if stripped.startswith("addr"):
            current.addr = stripped.partition("=")[2].strip()
        elif stripped == "status:":
            continue
        elif stripped.startswith("status"):
            current.status = stripped.partition("=")[2].strip()
        elif match := _NODE_RE.match(stripped):
            node_id = int(match.group("id"))
            current.peers[node_id] = _peer_state(match.group("state"), node_id, local_node_id)
        else:
            raise ParseError(f"unexpected line {stripped!r}", command=CFGTOOL)
    if current is not None:
        links.append(current.build())
    if not seen_header:
        if exit_status == 1:
            return LinkStatus(running=False, error=text.strip() or None)
        raise ParseError("no 'Local node ID' or 'LINK ID' line", command=CFGTOOL)
    return LinkStatus(
        running=True, local_node_id=local_node_id, transport=transport, links=tuple(links)
    )


def _peer_state(state: str, node_id: int, local_node_id: int | None) -> PeerLinkState:
    if node_id == local_node_id and state != PeerLinkState.DISCONNECTED:
        return PeerLinkState.LOCALHOST
    if match := _ENABLED_RE.search(state):
        connected = match.group("connected") == "1" and match.group("enabled") == "1"
        return PeerLinkState.CONNECTED if connected else PeerLinkState.DISCONNECTED
    return parse_enum(PeerLinkState, state)


__all__ = ["CFGTOOL", "QUORUMTOOL", "parse_cfgtool", "parse_quorumtool"]
