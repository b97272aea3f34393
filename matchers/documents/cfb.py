"""A small writer of OLE2 Compound Files (MS-CFB, version 3).

An object embedded in a legacy Office file or an Outlook message (a workbook in a Word
document, a document attached to a message as an object) is a *storage* inside the
container: to read it, `ole.embedded_objects` writes it out as a compound file of its
own with this, and the scan reads that as it reads any .xls or .doc. Tests build their
Outlook messages and damaged files with it too (olefile edits only streams of an
existing file, and no Python library writes .msg files).

Streams under 4,096 bytes go to the mini stream, as the format requires; larger ones
get sectors of their own. Storages nest: a tree is ``{name: bytes | dict}``.
"""

from __future__ import annotations

import itertools
import struct

SECTOR = 512
MINI = 64
CUTOFF = 4096
FREE, END, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
NONE = 0xFFFFFFFF


def _key(name: str) -> tuple[int, str]:  # the order of siblings in a storage (MS-CFB 2.6.4)
    return (len(name), name.upper())


def compound_file(tree: dict) -> bytes:
    """The compound file of `tree` (a storage: stream names to bytes, storage names to
    trees)."""
    entries: list[dict] = []  # name, type, children (ids), data

    def add(name: str, node: bytes | dict, kind: int) -> int:
        i = len(entries)
        entries.append({"name": name, "type": kind, "data": None, "children": []})
        if isinstance(node, dict):
            entries[i]["children"] = [add(k, v, 1 if isinstance(v, dict) else 2)
                                      for k, v in sorted(node.items(), key=lambda kv: _key(kv[0]))]
        else:
            entries[i]["data"] = node
        return i

    add("Root Entry", tree, 5)
    sectors: list[bytes] = []
    fat: list[int] = []

    def chain(data: bytes) -> int:
        if not data:
            return END
        first = len(sectors)
        n = -(-len(data) // SECTOR)
        for k in range(n):
            sectors.append(data[k * SECTOR:(k + 1) * SECTOR].ljust(SECTOR, b"\0"))
            fat.append(first + k + 1 if k < n - 1 else END)
        return first

    mini = bytearray()
    minifat: list[int] = []
    for e in entries:
        data = e["data"]
        if data is None:
            e["start"], e["size"] = (0 if e["type"] == 1 else END), 0
        elif len(data) < CUTOFF:
            first = len(mini) // MINI
            n = -(-len(data) // MINI) if data else 0
            mini += data.ljust(n * MINI, b"\0")
            minifat += [first + k + 1 if k < n - 1 else END for k in range(n)]
            e["start"], e["size"] = (first if n else END), len(data)
        else:
            e["start"], e["size"] = chain(data), len(data)
    root = entries[0]
    root["start"], root["size"] = chain(bytes(mini)), len(mini)
    minifat_start = chain(b"".join(struct.pack("<I", x) for x in minifat))
    # siblings are chained through their right links (a valid, if unbalanced, tree)
    right = {a: b for e in entries
             for a, b in itertools.pairwise(e["children"])}
    directory = bytearray()
    for i, e in enumerate(entries):
        name = e["name"].encode("utf-16-le") + b"\0\0"
        child = e["children"][0] if e["children"] else NONE
        directory += name.ljust(64, b"\0") + struct.pack("<HBB", len(name), e["type"], 1)
        directory += struct.pack("<III", NONE, right.get(i, NONE), child)
        directory += bytes(16 + 4 + 16) + struct.pack("<IQ", e["start"], e["size"])
    directory += bytes(-len(directory) % SECTOR)
    dir_start = chain(bytes(directory))
    # the FAT describes itself too
    n_fat = 1
    while (len(fat) + n_fat) > n_fat * (SECTOR // 4):
        n_fat += 1
    fat_start = len(sectors)
    fat += [FATSECT] * n_fat
    fat += [FREE] * (n_fat * (SECTOR // 4) - len(fat))
    table = b"".join(struct.pack("<I", x) for x in fat)
    sectors += [table[k * SECTOR:(k + 1) * SECTOR] for k in range(n_fat)]
    difat = [fat_start + k for k in range(n_fat)] + [FREE] * (109 - n_fat)
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
              + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
              + struct.pack("<IIIIIIIII", 0, n_fat, dir_start, 0, CUTOFF,
                            minifat_start, -(-len(minifat) * 4 // SECTOR), END, 0)
              + b"".join(struct.pack("<I", x) for x in difat))
    return header + b"".join(sectors)
