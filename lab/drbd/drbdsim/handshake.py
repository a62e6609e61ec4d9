"""The sync handshake: generation identifier comparison and split-brain policies.

A simplified but faithful model of drbd_uuid_compare()/drbd_sync_handshake() of DRBD 9. Pure
functions: the decider (the node with the lower node-id) calls :func:`decide` with both sides'
handshake info and sends the verdict to the peer.

Handshake info of one side for one volume (dict): ``node_id``, ``role``, ``disk``, ``cu``
(current UUID), ``bu`` (bitmap UUID kept for the other side), ``hist`` (history UUIDs),
``crashed`` (crashed primary), ``bits`` (out-of-sync bits towards the other side),
``discard`` (``connect --discard-my-data``), ``name`` (host name).
"""

from __future__ import annotations

from typing import Any

from .states import DISK_RANK, UUID_JUST_CREATED

Info = dict[str, Any]


def _u(value: int) -> int:
    return int(value) & ~1


def uuid_compare(me: Info, peer: Info) -> tuple[int, int]:
    """(hg, rule): >0 I am sync source, <0 target, +-2 full sync, +-100 split brain,
    -1000 unrelated data, 0 no sync."""
    s, p = _u(me["cu"]), _u(peer["cu"])
    if s == UUID_JUST_CREATED and p == UUID_JUST_CREATED:
        return 0, 10
    if s == UUID_JUST_CREATED:
        return -2, 20
    if p == UUID_JUST_CREATED:
        return 2, 30
    if s == p:
        rct = (1 if me.get("crashed") else 0) + (2 if peer.get("crashed") else 0)
        if rct == 1:
            return 1, 40
        if rct == 2:
            return -1, 40
        if rct == 3:
            return (1 if me["node_id"] < peer["node_id"] else -1), 40
        return 0, 40
    if peer.get("bu") and _u(peer["bu"]) == s:
        return -1, 50
    if me.get("bu") and _u(me["bu"]) == p:
        return 1, 70
    if me.get("bu") and peer.get("bu") and _u(me["bu"]) == _u(peer["bu"]):
        return 100, 90
    if s in {_u(h) for h in peer.get("hist", []) if h}:
        return -2, 60
    if p in {_u(h) for h in me.get("hist", []) if h}:
        return 2, 80
    mine = {_u(h) for h in me.get("hist", []) if h}
    theirs = {_u(h) for h in peer.get("hist", []) if h}
    if mine & theirs:
        return -100, 100
    return -1000, 100


def _tiebreak(me: Info, peer: Info) -> int:
    return -1 if me["node_id"] > peer["node_id"] else 1


def _recover_0p(policy: str, me: Info, peer: Info) -> int:
    if policy == "discard-zero-changes":
        if me["bits"] == 0 and peer["bits"] == 0:
            return _tiebreak(me, peer)
        if me["bits"] == 0:
            return -1
        if peer["bits"] == 0:
            return 1
        return -100
    if policy == "discard-least-changes":
        if me["bits"] < peer["bits"]:
            return -1
        if me["bits"] > peer["bits"]:
            return 1
        return _tiebreak(me, peer)
    if policy.startswith("discard-node-"):
        victim = policy[len("discard-node-") :]
        if victim == me.get("name"):
            return -1
        if victim == peer.get("name"):
            return 1
    return -100


def recover(policies: dict[str, str], me: Info, peer: Info) -> tuple[int, int]:
    """After-split-brain automatic recovery; returns (hg, number of primaries)."""
    pcount = (me["role"] == "Primary") + (peer["role"] == "Primary")
    p0 = policies.get("after-sb-0pri", "disconnect")
    if pcount == 0:
        return _recover_0p(p0, me, peer), pcount
    if pcount == 1:
        p1 = policies.get("after-sb-1pri", "disconnect")
        secondary_is_me = me["role"] != "Primary"
        if p1 == "discard-secondary":
            return (-1 if secondary_is_me else 1), pcount
        if p1 in ("consensus", "call-pri-lost-after-sb"):
            hg = _recover_0p(p0, me, peer)
            if (hg == -1 and secondary_is_me) or (hg == 1 and not secondary_is_me):
                return hg, pcount
        return -100, pcount
    p2 = policies.get("after-sb-2pri", "disconnect")
    if p2 == "violently-as0p":
        return _recover_0p(p0, me, peer), pcount
    return -100, pcount


def decide(me: Info, peer: Info, policies: dict[str, str]) -> dict[str, Any]:
    """The verdict, from ``me``'s point of view.

    Keys: ``hg`` (final), ``rule``, ``raw`` (hg before disk states/policies), ``outcome``
    (``nosync``/``sync``/``splitbrain``/``unrelated``/``drop``), ``full`` (full sync),
    ``notes`` (kernel log lines for me and for the peer: lists of (level, text)).
    """
    notes_me: list[tuple[int, str]] = []
    notes_peer: list[tuple[int, str]] = []
    both = (notes_me, notes_peer)
    if me["disk"] == "Diskless" or peer["disk"] == "Diskless":
        return {
            "hg": 0,
            "rule": 0,
            "raw": 0,
            "outcome": "nosync",
            "full": False,
            "notes": (notes_me, notes_peer),
            "initial_sb": False,
        }
    hg, rule = uuid_compare(me, peer)
    raw = hg
    result: dict[str, Any] = {"rule": rule, "raw": raw, "notes": both, "initial_sb": False}
    if hg == -1000:
        for n in both:
            n.append((1, "Unrelated data, aborting!"))
        result.update(hg=hg, outcome="unrelated", full=False)
        return result
    my_rank, peer_rank = DISK_RANK[me["disk"]], DISK_RANK[peer["disk"]]
    inc = DISK_RANK["Inconsistent"]
    if (my_rank == inc and peer_rank > inc) or (peer_rank == inc and my_rank > inc):
        forced = hg == -100 or abs(hg) == 2
        hg = 1 if my_rank > inc else -1
        if forced:
            hg *= 2
        notes_me.append(
            (6, f"Becoming sync {'source' if hg > 0 else 'target'} due to disk states.")
        )
        notes_peer.append(
            (6, f"Becoming sync {'source' if hg < 0 else 'target'} due to disk states.")
        )
    if abs(hg) == 100:
        result["initial_sb"] = True
    if hg == 100 or (hg == -100 and policies.get("always-asbp") == "yes"):
        forced = hg == -100
        hg2, pcount = recover(policies, me, peer)
        if abs(hg2) < 100:
            if forced:
                hg2 *= 2
            hg = hg2
            for n, side in ((notes_me, hg), (notes_peer, -hg)):
                n.append(
                    (
                        4,
                        f"Split-Brain detected, {pcount} primaries, automatically solved. "
                        f"Sync from {'peer' if side < 0 else 'this'} node",
                    )
                )
        else:
            hg = -100
    if hg == -100:
        if me.get("discard") and not peer.get("discard"):
            hg = -1
        elif not me.get("discard") and peer.get("discard"):
            hg = 1
        if abs(hg) < 100:
            for n, side in ((notes_me, hg), (notes_peer, -hg)):
                n.append(
                    (
                        4,
                        f"Split-Brain detected, manually solved. "
                        f"Sync from {'peer' if side < 0 else 'this'} node",
                    )
                )
    if hg == -100:
        for n in both:
            n.append((1, "Split-Brain detected but unresolved, dropping connection!"))
        result.update(hg=hg, outcome="splitbrain", full=False)
        return result
    source, target = (me, peer) if hg > 0 else (peer, me)
    if hg != 0 and DISK_RANK[source["disk"]] <= inc:
        (notes_me if source is me else notes_peer).append(
            (3, "I shall become SyncSource, but I am inconsistent!")
        )
        result.update(hg=hg, outcome="drop", full=False)
        return result
    if (
        hg != 0
        and target["role"] == "Primary"
        and DISK_RANK[target["disk"]] >= DISK_RANK["Consistent"]
    ):
        (notes_me if target is me else notes_peer).append(
            (3, "I shall become SyncTarget, but I am primary!")
        )
        result.update(hg=hg, outcome="drop", full=False)
        return result
    result.update(hg=hg, outcome="nosync" if hg == 0 else "sync", full=abs(hg) >= 2)
    return result


_RULES = {
    10: "just-created-both",
    20: "just-created-self",
    30: "just-created-peer",
    40: "reconnected",
    50: "bitmap-peer",
    60: "history-peer",
    70: "bitmap-self",
    80: "history-self",
    90: "bitmap-both",
    100: "history-both",
}
_MIRROR = {
    "just-created-self": "just-created-peer",
    "just-created-peer": "just-created-self",
    "bitmap-peer": "bitmap-self",
    "bitmap-self": "bitmap-peer",
    "history-peer": "history-self",
    "history-self": "history-peer",
}
_STRATEGIES = {
    0: "no-sync",
    1: "source-use-bitmap",
    -1: "target-use-bitmap",
    2: "source-set-bitmap",
    -2: "target-set-bitmap",
    100: "split-brain-auto-recover",
    -100: "split-brain-disconnect",
    -1000: "unrelated-data",
}


def names(raw: int, rule: int, decider: bool) -> tuple[str, str]:
    """DRBD 9.2 names of a uuid_compare() result: (strategy, rule) from one side's view."""
    strategy = _STRATEGIES.get(raw, "no-sync")
    name = _RULES.get(rule, "reconnected")
    if rule == 40 and raw != 0:
        name = "crashed-primary"
    if not decider:
        name = _MIRROR.get(name, name)
    return strategy, name
