package integration

// Parsers of the independent tools' outputs: sfdisk --json, dumpe2fs, fls,
// istat and debugfs (stat, imap, ls -p). Nothing here looks at virt-bmap's
// output.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// ---- sfdisk --------------------------------------------------------------

type sfPart struct {
	Device string // "/dev/sda5", from the node's partition number
	Number int
	Start  int64 // sectors
	Size   int64 // sectors
	Type   string
}

func (p sfPart) Extended() bool {
	switch strings.ToLower(p.Type) {
	case "5", "f", "85":
		return true
	}
	return false
}

// sfdiskLabel is the partition table type sfdisk sees: "dos" or "gpt".
func sfdiskLabel(img string) (string, error) {
	out, err := runTool("sfdisk", "--json", img)
	if err != nil {
		return "", err
	}
	var v testutil.SfdiskTable
	if err := json.Unmarshal(out, &v); err != nil {
		return "", fmt.Errorf("sfdisk --json %s: %w", img, err)
	}
	return v.PartitionTable.Label, nil
}

// sgdiskMainTable is where sgdisk -p says the main GPT entry array lies
// (first and last sector).
func sgdiskMainTable(img string) (int64, int64, error) {
	out, err := runTool("sgdisk", "-p", img)
	if err != nil {
		return 0, 0, err
	}
	m := regexp.MustCompile(`Main partition table begins at sector (\d+) and ends at sector (\d+)`).FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("sgdisk -p %s: no main partition table line", img)
	}
	return int64(atou(string(m[1]))), int64(atou(string(m[2]))), nil
}

func sfdiskParts(img string) ([]sfPart, int64, error) {
	out, err := runTool("sfdisk", "--json", img)
	if err != nil {
		return nil, 0, err
	}
	var v testutil.SfdiskTable
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, 0, fmt.Errorf("sfdisk --json %s: %w", img, err)
	}
	var ps []sfPart
	for _, p := range v.PartitionTable.Partitions {
		num := strings.TrimPrefix(p.Node, img)
		n, err := strconv.Atoi(num)
		if err != nil {
			return nil, 0, fmt.Errorf("sfdisk node %q: not IMAGE+NUMBER", p.Node)
		}
		ps = append(ps, sfPart{Device: "/dev/sda" + num, Number: n, Start: p.Start, Size: p.Size, Type: p.Type})
	}
	ss := v.PartitionTable.SectorSize
	if ss == 0 {
		ss = 512
	}
	return ps, ss, nil
}

// ---- dumpe2fs -----------------------------------------------------------

// e2info is what dumpe2fs says about a filesystem.
type e2info struct {
	BlockSize int64
	InodeSize int64
	Features  []string
	// Meta maps a structure to its blocks: key "CATEGORY GROUP", category
	// one of superblock, descriptors, reserved-gdt, block-bitmap,
	// inode-bitmap, inode-table.
	Meta   map[string][]uint64
	Groups int
}

func (e *e2info) has(feature string) bool { return slices.Contains(e.Features, feature) }

var (
	reGroup    = regexp.MustCompile(`^Group (\d+): \(Blocks `)
	reSuper    = regexp.MustCompile(`(Primary|Backup) superblock at (\d+)`)
	reDesc     = regexp.MustCompile(`Group descriptors? at (\d+)(?:-(\d+))?`)
	reRsv      = regexp.MustCompile(`Reserved GDT blocks at (\d+)-(\d+)`)
	reBBitmap  = regexp.MustCompile(`^\s+Block bitmap at (\d+)`)
	reIBitmap  = regexp.MustCompile(`^\s+Inode bitmap at (\d+)`)
	reITable   = regexp.MustCompile(`^\s+Inode table at (\d+)-(\d+)`)
	reHdrField = regexp.MustCompile(`^([A-Za-z ]+):\s+(.*)$`)
)

func dumpe2fs(fsImg string) (*e2info, error) {
	out, err := runTool("dumpe2fs", fsImg)
	if err != nil {
		return nil, err
	}
	return parseDumpe2fs(out)
}

func parseDumpe2fs(out []byte) (*e2info, error) {
	e := &e2info{Meta: map[string][]uint64{}}
	g := -1
	add := func(cat string, a, b uint64) {
		k := fmt.Sprintf("%s %d", cat, g)
		for x := a; x <= b; x++ {
			e.Meta[k] = append(e.Meta[k], x)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if m := reGroup.FindStringSubmatch(line); m != nil {
			g = atoi(m[1])
			e.Groups = g + 1
			continue
		}
		if g < 0 {
			if m := reHdrField.FindStringSubmatch(line); m != nil {
				switch m[1] {
				case "Block size":
					e.BlockSize = int64(atoi(m[2]))
				case "Inode size":
					e.InodeSize = int64(atoi(m[2]))
				case "Filesystem features":
					e.Features = strings.Fields(m[2])
				}
			}
			continue
		}
		if m := reSuper.FindStringSubmatch(line); m != nil {
			b := atou(m[2])
			add("superblock", b, b)
		}
		if m := reDesc.FindStringSubmatch(line); m != nil {
			a := atou(m[1])
			b := a
			if m[2] != "" {
				b = atou(m[2])
			}
			add("descriptors", a, b)
		}
		if m := reRsv.FindStringSubmatch(line); m != nil {
			add("reserved-gdt", atou(m[1]), atou(m[2]))
		}
		if m := reBBitmap.FindStringSubmatch(line); m != nil {
			add("block-bitmap", atou(m[1]), atou(m[1]))
		}
		if m := reIBitmap.FindStringSubmatch(line); m != nil {
			add("inode-bitmap", atou(m[1]), atou(m[1]))
		}
		if m := reITable.FindStringSubmatch(line); m != nil {
			add("inode-table", atou(m[1]), atou(m[2]))
		}
	}
	if e.BlockSize == 0 || e.Groups == 0 {
		return nil, fmt.Errorf("dumpe2fs: no block size or no groups in its output")
	}
	return e, nil
}

// ---- fls ------------------------------------------------------------------

type flsEntry struct {
	Type  string // "d/d", "r/r", "l/l"...
	Inode uint64
	Path  string // relative, as fls prints it (control characters as '^')
}

var reFls = regexp.MustCompile(`^(\S+) (\* )?(\d+)(?:\([^)]*\))?:\t(.*)$`)

// fls lists the allocated names of the filesystem at sector off, skipping
// deleted entries ("*") and TSK's virtual $OrphanFiles directory.
func fls(img string, sector int64) ([]flsEntry, error) {
	out, err := runTool("fls", "-r", "-p", "-o", strconv.FormatInt(sector, 10), img)
	if err != nil {
		return nil, err
	}
	return parseFls(out)
}

func parseFls(out []byte) ([]flsEntry, error) {
	var es []flsEntry
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		m := reFls.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("fls: unexpected line %q", line)
		}
		if m[2] != "" {
			continue // deleted
		}
		p := m[4]
		if p == "$OrphanFiles" || strings.HasPrefix(p, "$OrphanFiles/") {
			continue
		}
		es = append(es, flsEntry{Type: m[1], Inode: atou(m[3]), Path: p})
	}
	return es, nil
}

// tskName is how fls prints an absolute path of ours: relative, and every
// control character replaced by '^' (TSK's tsk_fs_name_print cleans them).
func tskName(p string) string {
	b := []byte(strings.TrimPrefix(p, "/"))
	for i, c := range b {
		if c < 0x20 {
			b[i] = '^'
		}
	}
	return string(b)
}

// ---- istat ----------------------------------------------------------------

// istatBlocks is what istat lists for an inode: its data blocks (holes,
// printed as 0, dropped), its indirect blocks (all levels) or extent-tree
// blocks, and its external xattr block.
type istatBlocks struct {
	Direct, Indirect, Extent []uint64
	Xattr                    uint64
}

var reIstatXattr = regexp.MustCompile(`^Extended Attributes\s+\(Block: (\d+)\)`)

func parseIstat(out []byte) istatBlocks {
	var r istatBlocks
	var cur *[]uint64
	for line := range strings.SplitSeq(string(out), "\n") {
		switch {
		case line == "Direct Blocks:":
			cur = &r.Direct
			continue
		case line == "Indirect Blocks:":
			cur = &r.Indirect
			continue
		case line == "Extent Blocks:":
			cur = &r.Extent
			continue
		case strings.TrimSpace(line) == "":
			cur = nil
			continue
		}
		if m := reIstatXattr.FindStringSubmatch(line); m != nil {
			r.Xattr = atou(m[1])
			continue
		}
		if cur == nil {
			continue
		}
		fields := strings.Fields(line)
		for _, f := range fields {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil { // not a block list line after all
				cur = nil
				break
			}
			if n != 0 {
				*cur = append(*cur, n)
			}
		}
	}
	return r
}

// istatAll runs istat on every inode, workers at a time.
func istatAll(img string, sector int64, inodes []uint64, workers int) (map[uint64]istatBlocks, error) {
	res := make(map[uint64]istatBlocks, len(inodes))
	var mu sync.Mutex
	var firstErr error
	ch := make(chan uint64)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ino := range ch {
				out, err := runTool("istat", "-o", strconv.FormatInt(sector, 10), img, strconv.FormatUint(ino, 10))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				res[ino] = parseIstat(out)
				mu.Unlock()
			}
		})
	}
	for _, ino := range inodes {
		ch <- ino
	}
	close(ch)
	wg.Wait()
	return res, firstErr
}

// ---- debugfs ----------------------------------------------------------------

// blockRun is one mapping of debugfs's EXTENTS/BLOCKS list.
type blockRun struct {
	Logical, Physical, Len uint64
	Unwritten              bool
}

// dfsInode is what debugfs stat and imap say about an inode.
type dfsInode struct {
	Type       string // regular, directory, symlink...
	Size       int64
	ACL        uint64
	InlineSize int64 // -1 without inline data
	FastLink   bool
	Data       []blockRun
	ETB        []uint64 // extent tree blocks, any level
	IND        []uint64
	DIND       []uint64
	TIND       []uint64
	RecordOff  int64 // byte offset of the inode record in the filesystem (imap)
}

// Blocks lists every block of the inode: data, extent tree, indirect.
func (d *dfsInode) Blocks() []uint64 {
	var bs []uint64
	for _, r := range d.Data {
		for i := range r.Len {
			bs = append(bs, r.Physical+i)
		}
	}
	bs = append(bs, d.ETB...)
	bs = append(bs, d.IND...)
	bs = append(bs, d.DIND...)
	bs = append(bs, d.TIND...)
	return bs
}

var (
	reDfsCmd    = regexp.MustCompile(`^debugfs: (stat|imap) <(\d+)>$`)
	reDfsType   = regexp.MustCompile(`^Inode: \d+\s+Type: (\S+)`)
	reDfsSize   = regexp.MustCompile(`Size: (\d+)$`)
	reDfsACL    = regexp.MustCompile(`^File ACL: (\d+)`)
	reDfsInline = regexp.MustCompile(`^Size of inline data: (\d+)`)
	reDfsImap   = regexp.MustCompile(`^\s+located at block (\d+), offset 0x([0-9a-f]+)`)
	reDfsItem   = regexp.MustCompile(`^\((ETB\d+|IND|DIND|TIND|(\d+)(?:-(\d+))?(\[u\])?)\):(\d+)(?:-(\d+))?$`)
)

// debugfsInodes runs one debugfs with "stat <N>" and "imap <N>" for every
// inode and parses the answers.
func debugfsInodes(fsImg string, bs int64, inodes []uint64) (map[uint64]*dfsInode, error) {
	var cmds strings.Builder
	for _, ino := range inodes {
		fmt.Fprintf(&cmds, "stat <%d>\nimap <%d>\n", ino, ino)
	}
	f, err := os.CreateTemp("", "debugfs-cmds-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(cmds.String()); err != nil {
		return nil, err
	}
	f.Close()
	out, err := runTool("debugfs", "-f", f.Name(), fsImg)
	if err != nil {
		return nil, err
	}
	res, err := parseDebugfs(out, bs)
	if err != nil {
		return nil, err
	}
	for _, ino := range inodes {
		if res[ino] == nil {
			return nil, fmt.Errorf("debugfs said nothing about inode %d", ino)
		}
	}
	return res, nil
}

func parseDebugfs(out []byte, bs int64) (map[uint64]*dfsInode, error) {
	res := map[uint64]*dfsInode{}
	var cur *dfsInode
	var cmd string
	var ino uint64
	blockList := false
	for line := range strings.SplitSeq(string(out), "\n") {
		if m := reDfsCmd.FindStringSubmatch(line); m != nil {
			cmd, ino = m[1], atou(m[2])
			if res[ino] == nil {
				res[ino] = &dfsInode{InlineSize: -1, RecordOff: -1}
			}
			cur = res[ino]
			blockList = false
			continue
		}
		if cur == nil {
			continue
		}
		if cmd == "imap" {
			if m := reDfsImap.FindStringSubmatch(line); m != nil {
				off, _ := strconv.ParseInt(m[2], 16, 64)
				cur.RecordOff = int64(atou(m[1]))*bs + off
			}
			continue
		}
		switch {
		case blockList:
			blockList = false
			if strings.HasPrefix(line, "TOTAL:") || strings.TrimSpace(line) == "" {
				continue
			}
			for item := range strings.SplitSeq(line, ", ") {
				if err := cur.addItem(strings.TrimSpace(item)); err != nil {
					return nil, fmt.Errorf("debugfs stat <%d>: %w", ino, err)
				}
			}
		case line == "EXTENTS:" || line == "BLOCKS:":
			blockList = true
		case strings.HasPrefix(line, "Fast link dest:"):
			cur.FastLink = true
		default:
			if m := reDfsType.FindStringSubmatch(line); m != nil {
				cur.Type = m[1]
			}
			if strings.HasPrefix(line, "User:") {
				if m := reDfsSize.FindStringSubmatch(line); m != nil {
					cur.Size = int64(atou(m[1]))
				}
			}
			if m := reDfsACL.FindStringSubmatch(line); m != nil {
				cur.ACL = atou(m[1])
			}
			if m := reDfsInline.FindStringSubmatch(line); m != nil {
				cur.InlineSize = int64(atou(m[1]))
			}
		}
	}
	return res, nil
}

func (d *dfsInode) addItem(item string) error {
	m := reDfsItem.FindStringSubmatch(item)
	if m == nil {
		return fmt.Errorf("unexpected block list item %q", item)
	}
	p := atou(m[5])
	pe := p
	if m[6] != "" {
		pe = atou(m[6])
	}
	switch {
	case strings.HasPrefix(m[1], "ETB"):
		d.ETB = append(d.ETB, p)
	case m[1] == "IND":
		d.IND = append(d.IND, p)
	case m[1] == "DIND":
		d.DIND = append(d.DIND, p)
	case m[1] == "TIND":
		d.TIND = append(d.TIND, p)
	default:
		l := atou(m[2])
		le := l
		if m[3] != "" {
			le = atou(m[3])
		}
		if le-l != pe-p {
			return fmt.Errorf("block list item %q: logical and physical lengths differ", item)
		}
		d.Data = append(d.Data, blockRun{Logical: l, Physical: p, Len: le - l + 1, Unwritten: m[4] != ""})
	}
	return nil
}

// debugfsTree lists every allocated name under the root with debugfs ls -p,
// one debugfs run per tree level: the name oracle where TSK cannot open
// the filesystem (bigalloc). Paths are absolute. Names containing a newline
// cannot be told apart in ls -p output and make it fail.
func debugfsTree(fsImg string) (map[string]uint64, map[string]bool, error) {
	paths := map[string]uint64{}
	isDir := map[string]bool{}
	level := map[uint64]string{2: "/"}
	seen := map[uint64]bool{2: true}
	for depth := 0; len(level) > 0; depth++ {
		if depth > 64 {
			return nil, nil, fmt.Errorf("debugfs tree deeper than 64 levels")
		}
		var cmds strings.Builder
		var order []uint64
		for ino := range level {
			order = append(order, ino)
		}
		slices.Sort(order)
		for _, ino := range order {
			fmt.Fprintf(&cmds, "ls -p <%d>\n", ino)
		}
		f, err := os.CreateTemp("", "debugfs-ls-")
		if err != nil {
			return nil, nil, err
		}
		f.WriteString(cmds.String())
		f.Close()
		out, err := runTool("debugfs", "-f", f.Name(), fsImg)
		os.Remove(f.Name())
		if err != nil {
			return nil, nil, err
		}
		next := map[uint64]string{}
		var dir string
		for line := range strings.SplitSeq(string(out), "\n") {
			if strings.HasPrefix(line, "debugfs: ls -p <") {
				dir = level[atou(strings.TrimSuffix(strings.TrimPrefix(line, "debugfs: ls -p <"), ">"))]
				continue
			}
			if line == "" {
				continue
			}
			// /INO/MODE/UID/GID/NAME/SIZE/
			f := strings.Split(line, "/")
			if len(f) != 8 || f[0] != "" || f[7] != "" {
				return nil, nil, fmt.Errorf("debugfs ls -p under %s: unexpected line %q", dir, line)
			}
			ino, name := atou(f[1]), f[5]
			if name == "." || name == ".." || ino == 0 {
				continue
			}
			p := strings.TrimSuffix(dir, "/") + "/" + name
			paths[p] = ino
			if strings.HasPrefix(f[2], "04") {
				isDir[p] = true
				if !seen[ino] {
					seen[ino] = true
					next[ino] = p
				}
			}
		}
		level = next
	}
	return paths, isDir, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

func atou(s string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return n
}
