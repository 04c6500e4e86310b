package bmap

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestRealExtImage checks the map and the index against a real
// filesystem, with debugfs as the independent oracle: mkfs.ext4 builds a
// 1 KiB-block image, debugfs fragments a file by writing it into the holes
// left by deleted ones, the map is made from debugfs's own extent lists
// ("ex"), and then every mapped block is looked up and compared with
// debugfs "icheck" (which inode owns the block) and "bmap" (which block
// holds a logical block of a file).
func TestRealExtImage(t *testing.T) {
	testutil.NeedTools(t, "mkfs.ext4", "debugfs")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	must(t, os.MkdirAll(filepath.Join(root, "a", "b"), 0o755))
	for i := 1; i <= 3; i++ {
		must(t, os.WriteFile(filepath.Join(root, "a", fmt.Sprint("f", i)), bytes.Repeat([]byte{byte(i)}, 5000*i), 0o644))
	}
	img := filepath.Join(dir, "ext4.img")
	run(t, "mkfs.ext4", "-q", "-F", "-b", "1024", "-U", "4d0c7f6e-3b1a-4c55-9a0e-5d2b8f1e6a10", "-E", "lazy_itable_init=0", "-d", root, img, "4M")
	small := filepath.Join(dir, "small")
	must(t, os.WriteFile(small, bytes.Repeat([]byte{'s'}, 3000), 0o644))
	big := filepath.Join(dir, "big")
	must(t, os.WriteFile(big, bytes.Repeat([]byte{'b'}, 40000), 0o644))
	var cmds strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&cmds, "write %s /s%d\n", small, i)
	}
	for i := 1; i <= 20; i += 2 {
		fmt.Fprintf(&cmds, "rm /s%d\n", i)
	}
	fmt.Fprintf(&cmds, "write %s /big\n", big)
	debugfs(t, img, true, cmds.String())

	// Walk the tree with "ls -p" and map every object from "ex".
	const bs = 1024
	st, err := os.Stat(img)
	must(t, err)
	b := NewBuilder()
	b.AddDisk(Disk{Index: 1, Device: "/dev/sda", Size: st.Size()})
	b.Add(Object{Disk: 1, Kind: KindDisk, Device: "/dev/sda", Extents: []Extent{{Off: 0, Len: st.Size(), FileOff: -1, Role: RoleMeta}}})
	b.Add(Object{Disk: 1, Kind: KindMeta, Device: "/dev/sda", Path: "superblock", Extents: []Extent{{Off: 1024, Len: 1024, FileOff: -1, Role: RoleMeta}}})
	pathOf := map[uint64]string{}
	queue := []string{"/"}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, line := range strings.Split(debugfs(t, img, false, "ls -p "+d), "\n") {
			// /ino/mode/uid/gid/name/size/
			f := strings.Split(line, "/")
			if len(f) < 7 || f[5] == "." || f[5] == ".." {
				continue
			}
			ino, _ := strconv.ParseUint(f[1], 10, 64)
			p := strings.TrimSuffix(d, "/") + "/" + f[5]
			kind := KindFile
			if strings.HasPrefix(f[2], "04") {
				kind = KindDir
				queue = append(queue, p)
			}
			size, _ := strconv.ParseInt(f[6], 10, 64)
			pathOf[ino] = p
			b.Add(Object{Disk: 1, Kind: kind, Device: "/dev/sda", Path: p, Inode: ino, Size: size,
				Extents: parseEx(t, debugfs(t, img, false, fmt.Sprintf("ex <%d>", ino)), bs)})
		}
	}
	m := b.Map()
	if pathOf[17] != "/big" {
		t.Fatalf("inode 17 is %q, want /big", pathOf[17])
	}
	var bigExt int
	for _, o := range m.Objects {
		if o.Path == "/big" {
			bigExt = len(o.Extents)
		}
	}
	if bigExt < 5 {
		t.Fatalf("/big has %d extents: not fragmented, the test proves little", bigExt)
	}

	var txt bytes.Buffer
	must(t, WriteText(&txt, m))
	mt, err := ReadText(&txt)
	must(t, err)
	exact, approx := NewIndex(m), NewIndex(mt)

	// Every block of every object: who owns it according to debugfs.
	var blocks []int64
	for _, o := range m.Objects {
		if o.Kind != KindFile && o.Kind != KindDir {
			continue
		}
		for _, e := range o.Extents {
			for x := e.Off; x < e.End(); x += bs {
				blocks = append(blocks, x/bs)
			}
		}
	}
	var q strings.Builder
	q.WriteString("icheck")
	for _, blk := range blocks {
		fmt.Fprintf(&q, " %d", blk)
	}
	owner := map[int64]uint64{}
	for _, line := range strings.Split(debugfs(t, img, false, q.String()), "\n") {
		var blk int64
		var ino uint64
		if n, _ := fmt.Sscanf(line, "%d\t%d", &blk, &ino); n == 2 {
			owner[blk] = ino
		}
	}
	var bmapCmds strings.Builder
	type check struct {
		blk     int64
		ino     uint64
		logical int64
	}
	var checks []check
	textExact, textOff := 0, 0
	for _, blk := range blocks {
		ino, ok := owner[blk]
		if !ok {
			t.Fatalf("debugfs icheck says nobody owns block %d", blk)
		}
		for name, ix := range map[string]*Index{"exact": exact, "text": approx} {
			hits := ix.Lookup(1, blk*bs, bs)
			if len(hits) == 0 || hits[0].Object.Path != pathOf[ino] {
				t.Fatalf("%s index: block %d: got %s, debugfs says inode %d %s", name, blk, hitsString(hits), ino, pathOf[ino])
			}
			if last := hits[len(hits)-1]; last.Object.Kind != KindDisk || last.Len != bs {
				t.Errorf("%s index: block %d: last hit %s, want the whole disk", name, blk, hitString(last))
			}
		}
		h := exact.Lookup(1, blk*bs, bs)[0]
		if h.FileOff >= 0 {
			checks = append(checks, check{blk, ino, h.FileOff / bs})
			fmt.Fprintf(&bmapCmds, "bmap <%d> %d\n", ino, h.FileOff/bs)
			if ht := approx.Lookup(1, blk*bs, bs)[0]; ht.FileOff == h.FileOff {
				textExact++
			} else {
				textOff++
			}
		} else if h.Extent.Role != RoleExtentIndex {
			t.Errorf("block %d: %s has no file offset but is not an index block", blk, hitString(h))
		}
	}
	// The file offsets of the exact index: debugfs "bmap" of each logical
	// block must give back the physical block.
	var got []int64
	for _, line := range strings.Split(debugfs(t, img, false, bmapCmds.String()), "\n") {
		if n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64); err == nil {
			got = append(got, n)
		}
	}
	if len(got) != len(checks) {
		t.Fatalf("debugfs answered %d bmap queries of %d", len(got), len(checks))
	}
	for i, c := range checks {
		if got[i] != c.blk {
			t.Errorf("inode %d logical block %d: index says physical %d, debugfs bmap says %d", c.ino, c.logical, c.blk, got[i])
		}
	}
	// The text form keeps file offsets wherever a file's blocks are in
	// order on disk with nothing of its own between them; /big's extent
	// index block sits between two of its runs and shifts the rest.
	var idxBlk int64 = -1
	wantOff := 0
	for _, o := range m.Objects {
		if o.Path != "/big" {
			continue
		}
		for _, e := range o.Extents {
			if e.Role == RoleExtentIndex {
				idxBlk = e.Off / bs
			}
		}
		for _, e := range o.Extents {
			for x := e.Off; x < e.End() && e.Role == RoleData && idxBlk >= 0; x += bs {
				if x/bs > idxBlk {
					wantOff++
				}
			}
		}
	}
	t.Logf("%d blocks checked; text form: %d file offsets exact, %d shifted by /big's index block %d", len(blocks), textExact, textOff, idxBlk)
	if textOff != wantOff || textExact != len(checks)-wantOff {
		t.Errorf("text form: %d exact, %d approximate file offsets; want %d approximate", textExact, textOff, wantOff)
	}
	// A block nobody owns (inode table area aside) is the disk's only.
	if hits := exact.Lookup(1, 3500*bs, bs); len(hits) != 1 || hits[0].Object.Kind != KindDisk {
		t.Errorf("block 3500: %s", hitsString(hits))
	}
}

// parseEx turns debugfs "ex" output into extents: leaves are data with
// their logical offset, interior nodes are extent-index blocks.
func parseEx(t *testing.T, out string, bs int64) []Extent {
	var ex []Extent
	for _, line := range strings.Split(out, "\n") {
		// " 1/ 1   2/ 12     3 -     5  1368 -  1370      3 "
		f := strings.Fields(strings.ReplaceAll(line, "/", " / "))
		if len(f) < 9 || f[1] != "/" {
			continue
		}
		level, _ := strconv.Atoi(f[0])
		depth, _ := strconv.Atoi(f[2])
		nums := []int64{}
		for _, s := range f[6:] {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				nums = append(nums, n)
			}
		}
		// logical start, logical end, physical start, [physical end], length
		if len(nums) < 4 {
			t.Fatalf("cannot parse ex line %q", line)
		}
		lstart, phys, n := nums[0], nums[2], nums[len(nums)-1]
		if level < depth {
			ex = append(ex, Extent{Off: phys * bs, Len: bs, FileOff: -1, Role: RoleExtentIndex})
			continue
		}
		ex = append(ex, Extent{Off: phys * bs, Len: n * bs, FileOff: lstart * bs, Role: RoleData})
	}
	return ex
}

func debugfs(t *testing.T, img string, write bool, cmds string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cmds")
	must(t, os.WriteFile(f, []byte(cmds), 0o644))
	args := []string{"-f", f, img}
	if write {
		args = append([]string{"-w"}, args...)
	}
	return run(t, "debugfs", args...)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, errb.Bytes())
	}
	return out.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
