"""``drbdmeta MINOR v09 DISK internal dump-md`` in drbd-utils 9.22's text format.

The text is drbdmeta's ``meta_dump_md`` (LINBIT/drbd-utils ``user/shared/drbdmeta.c``): a
header, the geometry comments, ``node-id``, ``current-uuid``, ``flags``, 32 ``peer[N]`` blocks
(bitmap slot, bitmap UUID, dagtag, flags with drbdmeta's ``# connected | seen`` comment),
32 history UUIDs, the sizes, and one run-length encoded ``bitmap[N]`` per slot
(``fprintf_bm``: 32-bit words, interleaved over the slots, eight 64-bit words a line, runs of
more than eight equal words as ``N times 0x...;``, a ``# at NkB`` comment every 64 words).
``tests/lab/fixtures/drbdmeta`` holds outputs of Debian's real drbdmeta 9.22 that the
renderer reproduces byte for byte.

What the simulator's superblock does not store is rendered the way a real disk shows it:
device-uuid 0, dagtags 0, one activity-log stripe of 32 KiB, ``al-extents`` 257 before the
first attach and 1237 (DRBD 9's default) after it, ``la-peer-max-bio-size`` 0 before the first
attach and 1 MiB after it, ``la-size-sect`` 0 before the first attach and the data size after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time

from . import meta as metamod

DRBD_NODE_ID_MAX = 32
HISTORY_UUIDS = 32

# md.flags (drbd-headers drbd_meta_data.h)
MDF_CONSISTENT = 1 << 0
MDF_PRIMARY_IND = 1 << 1
MDF_WAS_UP_TO_DATE = 1 << 4
MDF_CRASHED_PRIMARY = 1 << 6
MDF_AL_CLEAN = 1 << 7
# peer md flags
MDF_PEER_CONNECTED = 1 << 0
MDF_PEER_OUTDATED = 1 << 1
MDF_PEER_DEVICE_SEEN = 1 << 4
MDF_NODE_EXISTS = 1 << 16

PEER_FLAG_NAMES = {
    0: "connected",
    1: "<=outdated",
    2: "fencing",
    3: "full-sync",
    4: "seen",
    16: "exists",
}

UNCLEAN = 'Found meta data is "unclean", please apply-al first\n'
NO_MD = "No valid meta data found\n"
UNCLEAN_MARK = (
    "This_is_an_unclean_meta_data_dump._Don't_trust_the_bitmap.\n"
    '# You should "apply-al" first, if you plan to restore this.\n\n'
)


@dataclass
class PeerMd:
    """One ``peer[N]`` entry (N is the peer's node id)."""

    bitmap_index: int = -1
    bitmap_uuid: int = 0
    bitmap_dagtag: int = 0
    flags: int = 0


@dataclass
class MdImage:
    """Everything ``dump-md`` prints about a v09 internal meta data block."""

    dev_size: int
    max_peers: int
    node_id: int = -1
    current_uuid: int = 4
    flags: int = MDF_AL_CLEAN
    peers: dict[int, PeerMd] = field(default_factory=dict)
    history: list[int] = field(default_factory=list)
    la_size_sect: int = 0
    bitmaps: dict[int, bytes] = field(default_factory=dict)
    """Per bitmap slot: the bitmap bytes (bit b of byte b>>3 = 4 KiB block b, little endian)."""
    al_nr_extents: int = 257
    device_uuid: int = 0
    la_peer_max_bio_size: int = 0
    al_stripes: int = 1
    al_stripe_size_4k: int = 8

    @property
    def al_clean(self) -> bool:
        """Whether the activity log was cleanly closed (otherwise ``apply-al`` first)."""
        return bool(self.flags & MDF_AL_CLEAN)


def from_superblock(sb: dict[str, object], dev_size: int, bitmaps: dict[int, bytes]) -> MdImage:
    """The dump view of the simulator's JSON superblock (``bitmaps`` by peer node id)."""
    max_peers = int(sb["max_peers"])  # type: ignore[call-overload]
    node_id = int(sb.get("node_id", -1))  # type: ignore[call-overload]
    attached = node_id != -1
    geo = metamod.geometry(dev_size, max_peers)
    flags = 0
    if sb.get("consistent"):
        flags |= MDF_CONSISTENT
    if sb.get("primary_ind"):
        flags |= MDF_PRIMARY_IND
    if sb.get("was_up_to_date") and not sb.get("outdated"):
        flags |= MDF_WAS_UP_TO_DATE
    if sb.get("crashed_primary"):
        flags |= MDF_CRASHED_PRIMARY
    if not sb.get("al"):
        flags |= MDF_AL_CLEAN
    peers: dict[int, PeerMd] = {}
    slots: dict[int, bytes] = {}
    for key, info in dict(sb.get("peers") or {}).items():  # type: ignore[call-overload]
        pid = int(key)
        pflags = MDF_NODE_EXISTS
        if info.get("outdated"):
            pflags |= MDF_PEER_OUTDATED
        if info.get("seen"):
            pflags |= MDF_PEER_DEVICE_SEEN
        peers[pid] = PeerMd(
            bitmap_index=int(info["slot"]),
            bitmap_uuid=int(info.get("bitmap_uuid", 0)),
            flags=pflags,
        )
        if pid in bitmaps:
            slots[int(info["slot"])] = bitmaps[pid]
    return MdImage(
        dev_size=dev_size,
        max_peers=max_peers,
        node_id=node_id,
        current_uuid=int(sb.get("current_uuid", 4)),  # type: ignore[call-overload]
        flags=flags,
        peers=peers,
        history=[int(h) for h in sb.get("history") or []],  # type: ignore[attr-defined]
        la_size_sect=geo["data_size"] // 512 if attached else 0,
        bitmaps=slots,
        al_nr_extents=1237 if attached else 257,
        la_peer_max_bio_size=1 << 20 if attached else 0,
    )


def bm_bytes(la_size_sect: int, max_peers: int, bytes_per_bit: int = 4096) -> int:
    """drbdmeta's ``bm_bytes``: the bitmap bytes of all slots for ``la_size_sect`` sectors."""
    per_bit = bytes_per_bit >> 9
    bits = (la_size_sect + per_bit - 1) // per_bit
    bits = (bits + 63) // 64 * 64
    return (bits // 8 * max_peers + 4095) // 4096 * 4096


def _words(md: MdImage, n: int) -> list[int]:
    """The bitmap area as drbdmeta reads it: ``n`` 32-bit words, interleaved over the slots."""
    mp = md.max_peers
    words = [0] * n
    for idx in range(n):
        raw = md.bitmaps.get(idx % mp, b"")
        k = 4 * (idx // mp)
        words[idx] = int.from_bytes(raw[k : k + 4].ljust(4, b"\0"), "little")
    return words


def _bitmap(md: MdImage, words: list[int], peer_nr: int) -> tuple[str, int]:
    """``fprintf_bm`` of one slot: (text from ``{`` to ``}\\n``, bits set)."""
    wpl = 8
    mp = md.max_peers
    n = len(words)
    parts = ["{"]
    bits_set = 0
    count = 0
    cw = 0
    lw = 0
    i = peer_nr
    while i < n:
        if count == 0:
            cw = words[i]
        if i % (wpl * mp) == peer_nr:
            if not count:
                if (i & 63) == peer_nr:
                    parts.append(f"\n   # at {128 * (i - peer_nr)}kB\n   ")
                else:
                    parts.append("\n   ")
            j = i
            while j < n and words[j] == cw:
                j += mp
            run = (j // mp - i // mp) // wpl * wpl
            if run > wpl:
                count += run
                i += run * mp
            if count:
                parts.append(f" {count // 2} times 0x{cw:08X}{cw:08X};")
                bits_set += count * cw.bit_count()
                count = 0
                continue
        if (i // mp) & 1 == 0:
            lw = words[i]
        else:
            parts.append(f" 0x{words[i]:08X}{lw:08X};")
        bits_set += words[i].bit_count()
        i += mp
    parts.append("\n}\n")
    return "".join(parts), bits_set


def render(md: MdImage, argv: list[str], hostname: str, now: float | None = None) -> str:
    """The complete ``dump-md`` output (stdout); unclean meta data only with ``--force``."""
    t = time.time() if now is None else now
    lt = time.localtime(t)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z", lt) + f" [{int(t)}]"
    geo = metamod.geometry(md.dev_size, md.max_peers)
    lines = [
        "# DRBD meta data dump\n",
        f"# {stamp}\n",
        f"# {hostname}>" + "".join(f" {a}" for a in argv) + "\n",
        "#\n\n",
        'version "v09";\n\n',
        *(() if md.al_clean else (UNCLEAN_MARK,)),
        f"max-peers {md.max_peers};\n",
        f"# md_size_sect {(md.dev_size - geo['bm_offset']) // 512}\n",
        f"# md_offset {geo['md_offset']}\n",
        f"# al_offset {geo['al_offset']}\n",
        f"# bm_offset {geo['bm_offset']}\n",
        "\n",
        f"node-id {md.node_id};\n",
        f"current-uuid 0x{md.current_uuid:016X};\n",
        f"flags 0x{md.flags:08X};\n",
    ]
    for nid in range(DRBD_NODE_ID_MAX):
        peer = md.peers.get(nid, PeerMd())
        names = [
            PEER_FLAG_NAMES.get(b, f"0x{1 << b:x}=?") for b in range(32) if peer.flags & (1 << b)
        ]
        pretty = (" # " + " | ".join(names)) if names else ""
        lines += [
            f"peer[{nid}] {{\n",
            f"    bitmap-index {peer.bitmap_index};\n",
            f"    bitmap-uuid 0x{peer.bitmap_uuid:016X};\n",
            f"    bitmap-dagtag 0x{peer.bitmap_dagtag:016X};\n",
            f"    flags 0x{peer.flags:08X};{pretty}\n",
            "}\n",
        ]
    history = (md.history + [0] * HISTORY_UUIDS)[:HISTORY_UUIDS]
    lines.append("history-uuids {")
    lines += [f"{' ' if i % 4 else chr(10) + ' ' * 8}0x{h:016X};" for i, h in enumerate(history)]
    lines.append("\n}\n")
    n = bm_bytes(md.la_size_sect, md.max_peers)
    lines += [
        f"# al-extents {md.al_nr_extents};\n",
        f"la-size-sect {md.la_size_sect};\n",
        "bm-byte-per-bit 4096;\n",
        f"device-uuid 0x{md.device_uuid:016X};\n",
        f"la-peer-max-bio-size {md.la_peer_max_bio_size};\n",
        f"al-stripes {md.al_stripes};\n",
        f"al-stripe-size-4k {md.al_stripe_size_4k};\n",
        f"# bm-bytes {n};\n",
    ]
    words = _words(md, n // 4)
    bits = 0
    for slot in range(md.max_peers):
        text, bits = _bitmap(md, words, slot)
        lines.append(f"bitmap[{slot}] {text}")
    lines.append(f"# bits-set {bits};\n")
    return "".join(lines)
