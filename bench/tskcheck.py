#!/usr/bin/env python3
"""tskcheck.py — check a virt-bmap JSON map against The Sleuth Kit.

Usage: tskcheck.py FS IMG PART_OFFSET_SECTORS FLS_TXT MAP_JSON [SAMPLE]

FS is ntfs or ext. FLS_TXT is the output of `fls -r -p -o OFF IMG` and
MAP_JSON of `virt-bmap --json` on the same image (a single-partition disk).

1. Names: every live file and directory fls lists (not deleted, not under
   $OrphanFiles, not NTFS's own $-files at the root) must be in the map
   with the same type (f for r/r and l/l, d for d/d) and inode; map objects
   fls does not list are counted.
2. Blocks: for SAMPLE (default 200) random files (seeded, so the same every
   run) plus up to 20 of each kind worth a look (named streams, hard links,
   fragmented, sparse and compressed files, found by name), `istat` is
   run and the
   clusters/blocks it lists for the file's data (the $DATA attribute fls
   named, for NTFS) must be exactly the ones the map gives as the file's
   "data" extents, and the size the same; except that clusters of the run
   holding the end of the file that lie past the end, which the map gives
   (the runlist allocates them: an NTFS-compressed file's last compression
   unit stored whole) and istat omits, are allowed and counted.

The map is read one line at a time (virt-bmap writes one object a line),
so a map of a million objects does not need gigabytes. Exit status 1 on
any mismatch, with the first few printed.
"""
import json
import random
import re
import subprocess
import sys


def die(msg):
    print("tskcheck: " + msg, file=sys.stderr)
    sys.exit(2)


def main():
    if len(sys.argv) not in (6, 7):
        die(__doc__.split("\n\n")[1])
    fs, img, off, fls_txt, map_json = sys.argv[1:6]
    sample_n = int(sys.argv[6]) if len(sys.argv) == 7 else 200
    if fs not in ("ntfs", "ext"):
        die("FS must be ntfs or ext")

    # --- fls ---------------------------------------------------------------
    want = {}  # path -> (type, inode, attr type-id or None)
    line_re = re.compile(r"^(\S+) (\*\s)?([0-9]+)(-[0-9]+-[0-9]+)?(\([^)]*\))?:\t(.*)$")
    with open(fls_txt, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            m = line_re.match(line)
            if not m:
                die("cannot parse fls line: " + line)
            typ, deleted, ino, attr, _, name = m.groups()
            if deleted or name.startswith("$OrphanFiles"):
                continue
            if fs == "ntfs" and name.startswith("$"):
                continue  # the metafiles: kind m in the map, named without '/'
            if typ in ("r/r", "l/l"):
                kind = "f"
            elif typ == "d/d":
                kind = "d"
            else:
                continue
            want["/" + name] = (kind, int(ino), attr[1:] if attr else None, typ)

    # --- pick the sample ---------------------------------------------------
    files = sorted(p for p, w in want.items() if w[0] == "f" and w[3] == "r/r")
    rng = random.Random(16)
    sample = set(rng.sample(files, min(sample_n, len(files))))
    by_ino = {}
    for p in files:
        if ":" not in p.rsplit("/", 1)[-1]:
            by_ino.setdefault(want[p][1], []).append(p)
    special = {
        "stream": [p for p in files if ":" in p.rsplit("/", 1)[-1]],
        "hard link": [p for ps in by_ino.values() if len(ps) > 1 for p in ps],
        # by name, as bmapscale.sh makes them (a named stream ":big" is a
        # stream, not one of these)
        "fragmented": [p for p in files if ":" not in p and re.search(r"frag|/big[0-9]", p)],
        "sparse": [p for p in files if ":" not in p and re.search(r"sparse|pagefile", p)],
        "compressed": [p for p in files if ":" not in p and re.search(r"compress", p)],
    }
    for kind, ps in special.items():
        sample.update(ps[:20])

    # --- the map -----------------------------------------------------------
    got = {}  # path -> (type, inode)
    extents = {}  # sampled path -> (size, [(file_offset, offset, length)])
    with open(map_json, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if not line.startswith('{"disk"'):
                continue
            o = json.loads(line.rstrip().rstrip(","))
            if o["type"] not in ("f", "d") or "path" not in o:
                continue
            p = o["path"]
            got[p] = (o["type"], o.get("inode"))
            if p in sample:
                ex = [(e["file_offset"], e["offset"], e["length"]) for e in o.get("extents", []) if e.get("role") == "data"]
                extents[p] = (o.get("size", 0), ex)

    bad = []
    missing = [p for p in want if p not in got]
    for p in missing[:5]:
        bad.append("not in the map: %s (%s)" % (p, want[p][3]))
    wrong = [p for p in want if p in got and got[p] != (want[p][0], want[p][1])]
    for p in wrong[:5]:
        bad.append("%s: map says %s, fls %s" % (p, got[p], want[p][:2]))
    extra = [p for p in got if p not in want and p != "/"]

    # --- istat the sample --------------------------------------------------
    part = int(off) * 512
    unit = None
    checked = 0
    slack = [0, 0]  # files, clusters mapped past the end that istat omits
    for p in sorted(sample):
        out = subprocess.run(["istat", "-o", off, img, str(want[p][1])], capture_output=True, check=True).stdout.decode("utf-8", "surrogateescape")
        if unit is None:
            unit = block_size(fs, img, off)
        if fs == "ntfs":
            size, blocks = ntfs_attr(out, want[p][2])
        else:
            size, blocks = ext_blocks(out)
        if p not in extents:
            bad.append("%s: no map object" % p)
            continue
        msize, ex = extents[p]
        mblocks = []
        tail = set()  # blocks of the extent holding the end of the file, past it
        for fo, o, n in sorted(ex):
            if (o - part) % unit:
                bad.append("%s: extent at 0x%x not on a %d-byte block" % (p, o, unit))
            first = (o - part) // unit
            mblocks.extend(range(first, first + (n + unit - 1) // unit))
            if fo < msize < fo + n:
                tail.update(range(first + (msize - fo + unit - 1) // unit, first + (n + unit - 1) // unit))
        if size != msize:
            bad.append("%s: size %d in the map, %d in istat" % (p, msize, size))
        # TSK lists sparse runs as block 0 (and NTFS block 0 is the boot sector)
        blocks = [b for b in blocks if b != 0]
        # istat stops at the end of the file; the map gives every cluster of
        # the run that holds it, as the runlist allocates them: the last
        # compression unit of an NTFS-compressed file, stored whole (16
        # clusters for a few bytes), is the case met. Such clusters past
        # the end are allowed, and counted.
        extra = set(mblocks) - set(blocks)
        if extra and extra <= tail and set(blocks) <= set(mblocks):
            slack[0] += 1
            slack[1] += len(extra)
            mblocks = [b for b in mblocks if b not in extra]
        if sorted(blocks) != sorted(mblocks):
            bad.append("%s: %d blocks in the map, %d in istat (first %s vs %s)" % (p, len(mblocks), len(blocks), mblocks[:4], blocks[:4]))
        checked += 1

    print("tskcheck: %d fls names: %d missing from the map, %d with another type or inode; %d map objects fls does not list" % (len(want), len(missing), len(wrong), len(extra)))
    print("tskcheck: %d files checked block by block against istat (%d sampled at random + %s)" % (checked, min(sample_n, len(files)), ", ".join("%d %s" % (min(20, len(v)), k) for k, v in special.items())))
    if slack[0]:
        print("tskcheck: %d files with %d allocated clusters past their end in the map, which istat does not list (the run holding the end)" % tuple(slack))
    for b in bad[:20]:
        print("tskcheck: MISMATCH " + b)
    sys.exit(1 if bad else 0)


def block_size(fs, img, off):
    out = subprocess.run(["fsstat", "-o", off, img], capture_output=True, check=True).stdout.decode("utf-8", "replace")
    m = re.search(r"^(Cluster Size|Block Size): ([0-9]+)", out, re.M)
    if not m:
        die("no block size in fsstat")
    return int(m.group(2))


def ntfs_attr(out, attr):
    """size and clusters of the $DATA attribute TYPE-ID (as fls names it)."""
    tid = "128-" + attr.split("-")[1] if attr else None
    lines = out.split("\n")
    for i, l in enumerate(lines):
        # "Non-Resident, Compressed", "Non-Resident, Sparse" and the like
        m = re.match(r"^Type: \$DATA \(([0-9]+-[0-9]+)\)\s+Name: .*?(Non-Resident|Resident)(?:, [A-Za-z]+)*\s+size: ([0-9]+)", l)
        if not m or (tid and m.group(1) != tid):
            continue
        size = int(m.group(3))
        blocks = []
        if m.group(2) == "Non-Resident":
            for l2 in lines[i + 1:]:
                if not re.match(r"^[0-9 ]+$", l2) or not l2.strip():
                    break
                blocks.extend(int(x) for x in l2.split())
        return size, blocks
    die("no $DATA attribute %s in istat output" % tid)


def ext_blocks(out):
    m = re.search(r"^size: ([0-9]+)", out, re.M)
    size = int(m.group(1)) if m else 0
    blocks = []
    sec = re.search(r"^Direct Blocks:\n((?:[0-9 ]+\n)*)", out, re.M)
    if sec:
        for l in sec.group(1).split("\n"):
            blocks.extend(int(x) for x in l.split())
    return size, blocks


if __name__ == "__main__":
    main()
