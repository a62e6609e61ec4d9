"""Internal meta data at the end of the backing device, with drbdmeta's v09 geometry.

Layout for a device of ``D`` bytes and ``p`` bitmap slots (``max-peers``)::

    bm_offset = D - 4096 - 32768 - p * align4k(ceil(D / 4096 / 8))   # data ends here
    al_offset = D - 4096 - 32768                                      # activity log (unused)
    md_offset = D - 4096                                              # superblock

The usable size is therefore exactly what real DRBD exposes (256 MiB -> 262100 KiB). The
superblock is a JSON document (generation identifiers, flags, activity log extents, per-peer
bitmap UUIDs); each peer slot has a bitmap with one bit per 4 KiB block.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from typing import Any

from .states import UUID_JUST_CREATED

MAGIC = b"DRBDSIM-MD-V1\n"
BLOCK = 4096
AL_BYTES = 32768
SB_BYTES = 4096
AL_EXTENT = 4 << 20


def align4k(n: int) -> int:
    """Round up to a multiple of 4096."""
    return (n + BLOCK - 1) // BLOCK * BLOCK


def geometry(dev_size: int, max_peers: int) -> dict[str, int]:
    """Offsets (bytes) of the meta data areas for a backing device of ``dev_size`` bytes."""
    bits = (dev_size + BLOCK - 1) // BLOCK
    bm_slot = align4k((bits + 7) // 8)
    md_offset = dev_size - SB_BYTES
    al_offset = md_offset - AL_BYTES
    bm_offset = al_offset - bm_slot * max_peers
    return {
        "md_offset": md_offset,
        "al_offset": al_offset,
        "bm_offset": bm_offset,
        "bm_slot": bm_slot,
        "data_size": bm_offset,
        "bits": (bm_offset + BLOCK - 1) // BLOCK,
    }


def new_uuid() -> int:
    """A random generation identifier with the primary bit cleared."""
    return secrets.randbits(64) & ~1 or 8


def read_superblock(fd: int, dev_size: int) -> dict[str, Any] | None:
    """The superblock at the end of the device, or None when there is no valid one."""
    if dev_size < 1 << 20:
        return None
    raw = os.pread(fd, SB_BYTES, dev_size - SB_BYTES)
    if not raw.startswith(MAGIC):
        return None
    try:
        data: dict[str, Any] = json.loads(raw[len(MAGIC) :].rstrip(b"\0").decode())
    except ValueError:
        return None
    return data


def ext_fs_size(fd: int) -> int:
    """Size in bytes claimed by an ext2/3/4 file system at the start, 0 when there is none."""
    sb = os.pread(fd, 1024, 1024)
    if len(sb) < 1024 or sb[56:58] != b"\x53\xef":
        return 0
    blocks = int.from_bytes(sb[4:8], "little")
    log_block = int.from_bytes(sb[24:28], "little")
    return blocks * (1024 << log_block)


class Meta:
    """Open meta data of one backing device (thread-safe)."""

    def __init__(self, fd: int, dev_size: int, sb: dict[str, Any]) -> None:
        """Load the bitmaps of an existing superblock."""
        self.fd = fd
        self.dev_size = dev_size
        self.sb = sb
        self.lock = threading.RLock()
        self.geo = geometry(dev_size, int(sb["max_peers"]))
        self.bitmaps: dict[int, bytearray] = {}
        self.counts: dict[int, int] = {}
        self.al_writes = 0
        self.bm_writes = 0
        for peer, info in sb["peers"].items():
            slot = int(info["slot"])
            off = self.geo["bm_offset"] + slot * self.geo["bm_slot"]
            data = bytearray(os.pread(fd, self.geo["bm_slot"], off))
            self.bitmaps[int(peer)] = data
            self.counts[int(peer)] = sum(b.bit_count() for b in data)

    # -- creation -------------------------------------------------------------------------

    @staticmethod
    def create(fd: int, dev_size: int, max_peers: int, peer_ids: list[int], node_id: int) -> None:
        """Write fresh meta data (current UUID "just created", empty bitmaps)."""
        geo = geometry(dev_size, max_peers)
        zero = bytes(geo["bm_slot"])
        for slot in range(max_peers):
            os.pwrite(fd, zero, geo["bm_offset"] + slot * geo["bm_slot"])
        os.pwrite(fd, bytes(AL_BYTES), geo["al_offset"])
        peers = {
            str(pid): {"slot": i, "bitmap_uuid": 0, "outdated": False, "seen": False}
            for i, pid in enumerate(sorted(peer_ids)[:max_peers])
        }
        sb = {
            "version": 1,
            "node_id": node_id,
            "max_peers": max_peers,
            "current_uuid": UUID_JUST_CREATED,
            "history": [0, 0],
            "consistent": False,
            "was_up_to_date": False,
            "outdated": False,
            "primary_ind": False,
            "crashed_primary": False,
            "al": [],
            "peers": peers,
        }
        Meta(fd, dev_size, sb).write_superblock(sync=True)

    # -- superblock -----------------------------------------------------------------------

    def write_superblock(self, sync: bool = True) -> None:
        """Persist the superblock (and fdatasync it unless ``sync`` is False)."""
        with self.lock:
            raw = MAGIC + json.dumps(self.sb, sort_keys=True).encode()
            os.pwrite(self.fd, raw.ljust(SB_BYTES, b"\0"), self.geo["md_offset"])
            if sync:
                os.fdatasync(self.fd)

    @property
    def data_size(self) -> int:
        """Bytes usable for data (the DRBD device size)."""
        return int(self.geo["data_size"])

    @property
    def bits(self) -> int:
        """Number of bitmap bits (4 KiB blocks) of the data area."""
        return int(self.geo["bits"])

    def peer(self, node_id: int) -> dict[str, Any]:
        """The superblock entry of a peer (created on first use if a slot is free)."""
        with self.lock:
            key = str(node_id)
            if key not in self.sb["peers"]:
                used = {int(p["slot"]) for p in self.sb["peers"].values()}
                free = [s for s in range(int(self.sb["max_peers"])) if s not in used]
                if not free:
                    raise OSError(28, "no free bitmap slot")
                self.sb["peers"][key] = {
                    "slot": free[0],
                    "bitmap_uuid": 0,
                    "outdated": False,
                    "seen": False,
                }
                self.bitmaps[node_id] = bytearray(self.geo["bm_slot"])
                self.counts[node_id] = 0
                self.write_superblock()
            return dict(self.sb["peers"][key])

    def set_peer(self, node_id: int, **values: Any) -> None:
        """Update fields of a peer entry (persisted by the next write_superblock)."""
        with self.lock:
            self.peer(node_id)
            self.sb["peers"][str(node_id)].update(values)

    # -- bitmap ---------------------------------------------------------------------------

    def _write_bm_range(self, node_id: int, first_byte: int, last_byte: int) -> None:
        slot = int(self.sb["peers"][str(node_id)]["slot"])
        base = self.geo["bm_offset"] + slot * self.geo["bm_slot"]
        start = first_byte // BLOCK * BLOCK
        end = min(align4k(last_byte + 1), self.geo["bm_slot"])
        os.pwrite(self.fd, bytes(self.bitmaps[node_id][start:end]), base + start)
        self.bm_writes += 1

    def mark(self, node_id: int, offset: int, length: int, value: bool) -> int:
        """Set (``value``) or clear the bits covering a byte range; returns bits changed."""
        if length <= 0:
            return 0
        first = offset // BLOCK
        last = min((offset + length - 1) // BLOCK, self.bits - 1)
        return self.mark_bits(node_id, first, last, value)

    def mark_bits(self, node_id: int, first: int, last: int, value: bool) -> int:
        """Set or clear bits ``first..last`` (inclusive) of a peer's bitmap."""
        with self.lock:
            self.peer(node_id)
            bm = self.bitmaps[node_id]
            changed = 0
            for bit in range(first, last + 1):
                byte, mask = bit >> 3, 1 << (bit & 7)
                if bool(bm[byte] & mask) != value:
                    bm[byte] ^= mask
                    changed += 1
            if changed:
                self.counts[node_id] += changed if value else -changed
                self._write_bm_range(node_id, first >> 3, last >> 3)
            return changed

    def set_all(self, node_id: int) -> None:
        """Mark the whole device out of sync for a peer (full sync)."""
        self.mark_bits(node_id, 0, self.bits - 1, True)

    def clear_all(self, node_id: int) -> None:
        """Mark everything in sync for a peer."""
        with self.lock:
            self.peer(node_id)
            self.bitmaps[node_id][:] = bytes(len(self.bitmaps[node_id]))
            self.counts[node_id] = 0
            self._write_bm_range(node_id, 0, self.geo["bm_slot"] - 1)

    def test(self, node_id: int, bit: int) -> bool:
        """Is ``bit`` out of sync for the peer?"""
        bm = self.bitmaps.get(node_id)
        return bool(bm and bm[bit >> 3] & (1 << (bit & 7)))

    def any_set(self, node_id: int, offset: int, length: int) -> bool:
        """Is any block of the byte range out of sync for the peer?"""
        first = offset // BLOCK
        last = min((offset + length - 1) // BLOCK, self.bits - 1)
        return any(self.test(node_id, b) for b in range(first, last + 1))

    def bitmap_bytes(self, node_id: int) -> bytes:
        """A copy of a peer's bitmap."""
        with self.lock:
            self.peer(node_id)
            return bytes(self.bitmaps[node_id])

    def merge(self, node_id: int, other: bytes) -> None:
        """OR another bitmap into a peer's bitmap (resync = union of both sides)."""
        with self.lock:
            self.peer(node_id)
            bm = self.bitmaps[node_id]
            merged = int.from_bytes(bm, "little") | int.from_bytes(other[: len(bm)], "little")
            bm[:] = merged.to_bytes(len(bm), "little")
            self.counts[node_id] = sum(b.bit_count() for b in bm)
            self._write_bm_range(node_id, 0, self.geo["bm_slot"] - 1)

    def count(self, node_id: int) -> int:
        """Number of out-of-sync 4 KiB blocks for a peer."""
        return self.counts.get(node_id, 0)

    def next_set(self, node_id: int, start: int) -> int:
        """First set bit >= start, or -1."""
        with self.lock:
            bm = self.bitmaps.get(node_id)
            if bm is None:
                return -1
            byte = start >> 3
            bit = start
            while byte < len(bm):
                if bm[byte]:
                    for b in range(max(bit, byte << 3), (byte << 3) + 8):
                        if b >= self.bits:
                            return -1
                        if bm[byte] & (1 << (b & 7)):
                            return b
                byte += 1
            return -1

    # -- activity log ---------------------------------------------------------------------

    def al_touch(self, offset: int, length: int) -> None:
        """Record the 4 MiB extents of a write in the activity log (persisted on change)."""
        first = offset // AL_EXTENT
        last = (offset + max(length, 1) - 1) // AL_EXTENT
        with self.lock:
            al = self.sb["al"]
            new = [e for e in range(first, last + 1) if e not in al]
            if new:
                al.extend(new)
                self.al_writes += 1
                self.write_superblock(sync=True)

    def al_clear(self) -> None:
        """Forget the activity log (clean demotion)."""
        with self.lock:
            if self.sb["al"]:
                self.sb["al"] = []
                self.write_superblock()

    def al_extents(self) -> list[int]:
        """Extents of the activity log."""
        return list(self.sb["al"])

    def sync(self) -> None:
        """fdatasync the backing device (data and meta data)."""
        os.fdatasync(self.fd)
