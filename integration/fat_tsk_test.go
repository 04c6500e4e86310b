package integration

// The FAT proof: for every partition of fat.img (testimages/fat.sh), every
// file and directory fls lists is in virt-bmap's map with the same path,
// kind and TSK address, and its clusters (istat's sectors) are exactly
// ours; nothing else of ours; the metadata regions are where fsstat puts
// them; a few files' cluster runs are checked again with mtools' mshowfat.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// fatImage returns fat.img, building it with testimages/fat.sh when the
// shared images directory lacks it (VIRT_BMAP_TESTIMAGES made before
// fat.sh existed).
func fatImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(imagesDir, "fat.img")
	fatOnce.Do(func() {
		if _, err := os.Stat(img); err == nil {
			return
		}
		out, err := exec.Command("bash", filepath.Join(repoRoot, "testimages", "fat.sh"), imagesDir).CombinedOutput()
		if err != nil {
			fatErr = fmt.Errorf("testimages/fat.sh %s: %v\n%s", imagesDir, err, out)
		}
	})
	if fatErr != nil {
		t.Fatal(fatErr)
	}
	return img
}

var (
	fatOnce sync.Once
	fatErr  error
)

func TestFATAgainstTSK(t *testing.T) {
	setup(t)
	testutil.NeedTools(t, "fsstat", "mkfs.fat", "mshowfat", "mcopy")
	img := fatImage(t)
	m := runMap(t, img)
	parts, ss, err := sfdiskParts(img)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	checkDiskAndPartitions(t, m, img, st.Size(), parts, ss)
	if len(parts) != 3 {
		t.Fatalf("fat.img: %d partitions, want 3 (FAT12, FAT16, FAT32)", len(parts))
	}
	variants := map[string]bool{}
	for _, p := range parts {
		t.Run(strings.TrimPrefix(p.Device, "/dev/"), func(t *testing.T) {
			info, err := fsstatFAT(img, p.Start*ss/512)
			if err != nil {
				t.Fatal(err)
			}
			variants[info.Type] = true
			checkFAT(t, m, img, p, p.Start*ss, info)
		})
	}
	for _, v := range []string{"FAT12", "FAT16", "FAT32"} {
		if !variants[v] {
			t.Errorf("fsstat found no %s partition in fat.img", v)
		}
	}
}

// fatInfo is what fsstat says of a FAT volume, in sectors.
type fatInfo struct {
	Type          string
	SectorSize    int64
	ClusterSize   int64
	Reserved      [2]int64   // first, last
	BootSector    int64      // -1 if not listed
	FSInfo        int64      // -1 if not listed
	BackupBoot    int64      // -1 if not listed
	FATs          [][2]int64 // in order
	RootDir       [2]int64   // FAT12/16 fixed region; [0 -1] otherwise
	ClusterArea   [2]int64
	LastCluster   int64
	HasRootRegion bool
}

var (
	reFsstatRange = regexp.MustCompile(`^\*+ ([A-Za-z ]+?)( \d+)?: (\d+)(?: - (\d+))?$`)
	reFsstatNum   = regexp.MustCompile(`^(File System Type|Sector Size|Cluster Size|Total Cluster Range): (?:\d+ - )?(\S+)$`)
)

func fsstatFAT(img string, sector int64) (*fatInfo, error) {
	out, err := runTool("fsstat", "-o", strconv.FormatInt(sector, 10), img)
	if err != nil {
		return nil, err
	}
	return parseFsstatFAT(out)
}

func parseFsstatFAT(out []byte) (*fatInfo, error) {
	fi := &fatInfo{BootSector: -1, FSInfo: -1, BackupBoot: -1, RootDir: [2]int64{0, -1}}
	for line := range strings.SplitSeq(string(out), "\n") {
		line = strings.TrimSpace(line)
		if m := reFsstatNum.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "File System Type":
				fi.Type = m[2]
			case "Sector Size":
				fi.SectorSize = int64(atoi(m[2]))
			case "Cluster Size":
				fi.ClusterSize = int64(atoi(m[2]))
			case "Total Cluster Range":
				fi.LastCluster = int64(atoi(m[2]))
			}
			continue
		}
		m := reFsstatRange.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := int64(atoi(m[3]))
		b := a
		if m[4] != "" {
			b = int64(atoi(m[4]))
		}
		switch m[1] {
		case "Reserved":
			fi.Reserved = [2]int64{a, b}
		case "Boot Sector":
			fi.BootSector = a
		case "FS Info Sector":
			fi.FSInfo = a
		case "Backup Boot Sector":
			fi.BackupBoot = a
		case "FAT":
			fi.FATs = append(fi.FATs, [2]int64{a, b})
		case "Root Directory":
			if strings.HasPrefix(line, "** ") { // FAT12/16 region; FAT32's is "*** " in the cluster area
				fi.RootDir = [2]int64{a, b}
				fi.HasRootRegion = true
			}
		case "Cluster Area":
			fi.ClusterArea = [2]int64{a, b}
		}
	}
	if fi.Type == "" || fi.SectorSize == 0 || fi.ClusterSize == 0 || len(fi.FATs) == 0 || fi.ClusterArea[1] == 0 {
		return nil, fmt.Errorf("fsstat: incomplete FAT layout in its output: %+v", fi)
	}
	return fi, nil
}

// istatSectors runs istat on every address, workers at a time, and returns
// the sectors each lists (0, which istat prints for the unused sectors of
// a file's last cluster, dropped).
func istatSectors(img string, sector int64, addrs []uint64, workers int) (map[uint64][]int64, error) {
	res := make(map[uint64][]int64, len(addrs))
	var mu sync.Mutex
	var firstErr error
	ch := make(chan uint64)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for a := range ch {
				out, err := runTool("istat", "-o", strconv.FormatInt(sector, 10), img, strconv.FormatUint(a, 10))
				secs := parseIstatSectors(out)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				res[a] = secs
				mu.Unlock()
			}
		})
	}
	for _, a := range addrs {
		ch <- a
	}
	close(ch)
	wg.Wait()
	return res, firstErr
}

func parseIstatSectors(out []byte) []int64 {
	var secs []int64
	in := false
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.TrimSpace(line) == "Sectors:" {
			in = true
			continue
		}
		if !in {
			continue
		}
		for f := range strings.FieldsSeq(line) {
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return secs
			}
			if n != 0 {
				secs = append(secs, n)
			}
		}
	}
	return secs
}

// checkFAT compares the map's objects on one FAT partition with fls,
// istat, fsstat and mshowfat.
func checkFAT(t *testing.T, m *jsonMap, img string, p sfPart, partOff int64, info *fatInfo) {
	ss, cs := info.SectorSize, info.ClusterSize
	spc := cs / ss
	firstClusterSec := info.ClusterArea[0]
	var objs []bmap.Object
	for _, o := range m.Objects {
		if o.Device == p.Device && (o.Kind == bmap.KindDir || o.Kind == bmap.KindFile || o.Kind == bmap.KindMeta) {
			objs = append(objs, o)
		}
	}
	if len(objs) == 0 {
		t.Fatalf("%s: fsstat sees %s, the map has no object on it", p.Device, info.Type)
	}

	// 1. Names: every allocated name fls lists (not the volume label, not
	// TSK's virtual files), with its kind and address; nothing else.
	entries, err := fls(img, partOff/512)
	if err != nil {
		t.Fatal(err)
	}
	var d diffs
	ours := map[string]bmap.Object{}
	var root *bmap.Object
	for i, o := range objs {
		switch {
		case o.Kind == bmap.KindMeta:
		case o.Path == "/":
			root = &objs[i]
		default:
			if _, dup := ours[o.Path]; dup {
				d.add("path %q listed twice", o.Path)
			}
			ours[o.Path] = o
		}
	}
	if root == nil || root.Kind != bmap.KindDir || root.Inode != 2 {
		d.add("root: %+v, want a directory with TSK address 2", root)
	}
	seen := map[string]bool{}
	addrs := []uint64{2}
	for _, e := range entries {
		if e.Type == "v/v" || e.Type == "V/V" || strings.HasSuffix(e.Path, "(Volume Label Entry)") {
			continue
		}
		path := "/" + e.Path
		o, ok := ours[path]
		if !ok {
			d.add("%q (address %d, %s): in fls, not in the map", path, e.Inode, e.Type)
			continue
		}
		seen[path] = true
		addrs = append(addrs, e.Inode)
		want := bmap.KindFile
		if e.Type == "d/d" {
			want = bmap.KindDir
		}
		if o.Kind != want || o.Inode != e.Inode {
			d.add("%q: kind %s address %d in the map, %s %d in fls", path, o.Kind, o.Inode, e.Type, e.Inode)
		}
	}
	for path, o := range ours {
		if !seen[path] {
			d.add("%q (%s, address %d): in the map, not in fls", path, o.Kind, o.Inode)
		}
	}
	d.report(t, p.Device+": names, kinds and addresses vs fls -r -p")

	// 2. Clusters of every file and directory (and the root) vs istat.
	ist, err := istatSectors(img, partOff/512, addrs, runtime.NumCPU())
	if err != nil {
		t.Fatal(err)
	}
	byAddr := map[uint64]bmap.Object{}
	for _, o := range ours {
		byAddr[o.Inode] = o
	}
	if root != nil {
		byAddr[2] = *root
	}
	d = diffs{}
	compared := 0
	// unit turns a sector into the unit both sides are compared in: a
	// cluster number, or -sector for the FAT12/16 root region.
	unit := func(sec int64) int64 {
		if sec < firstClusterSec {
			return -sec
		}
		return (sec-firstClusterSec)/spc + 2
	}
	for _, a := range addrs {
		o, ok := byAddr[a]
		if !ok {
			continue
		}
		var got []int64
		for _, e := range o.Extents {
			rel := e.Off - partOff
			if rel < 0 || rel%ss != 0 || e.Len%ss != 0 {
				d.add("%q: extent [%#x,+%#x) not sector-aligned in the partition", o.Path, e.Off, e.Len)
				continue
			}
			if e.Role != bmap.RoleData || (rel >= firstClusterSec*ss && ((rel-firstClusterSec*ss)%cs != 0 || e.Len%cs != 0)) {
				d.add("%q: extent %+v not whole clusters of data", o.Path, e)
			}
			for s := rel / ss; s < (rel+e.Len)/ss; s++ {
				if u := unit(s); len(got) == 0 || got[len(got)-1] != u {
					got = append(got, u)
				}
			}
		}
		var want []int64
		for _, s := range ist[a] {
			if u := unit(s); len(want) == 0 || want[len(want)-1] != u {
				want = append(want, u)
			}
		}
		if !slices.Equal(got, want) {
			d.add("%q (address %d): clusters %v, istat %v", o.Path, a, shortInts(got), shortInts(want))
		}
		if o.Kind == bmap.KindDir && o.Size != sumLen(o.Extents) {
			d.add("directory %q: size %d, its extents have %d bytes", o.Path, o.Size, sumLen(o.Extents))
		}
		compared++
	}
	d.report(t, p.Device+": clusters of every file and directory vs istat")
	t.Logf("%s (%s): %d names, %d objects' clusters compared with istat", p.Device, info.Type, len(ours), compared)

	// 3. Metadata vs fsstat.
	d = diffs{}
	meta := map[string][][2]int64{} // name -> merged sector ranges, inclusive
	for _, o := range objs {
		if o.Kind != bmap.KindMeta {
			continue
		}
		for _, r := range mergedRanges(o.Extents) {
			meta[o.Path] = append(meta[o.Path], [2]int64{(r[0] - partOff) / ss, (r[1]-partOff)/ss - 1})
		}
	}
	expect := func(name string, want [2]int64) {
		if g := meta[name]; len(g) != 1 || g[0] != want {
			d.add("%q: sectors %v, fsstat %v", name, g, want)
		}
		delete(meta, name)
	}
	expect("boot sector", [2]int64{info.BootSector, info.BootSector})
	for i, f := range info.FATs {
		expect(fmt.Sprintf("FAT %d", i+1), f)
	}
	if info.HasRootRegion {
		expect("root directory", info.RootDir)
		if root != nil {
			if g := mergedRanges(root.Extents); len(g) != 1 || (g[0][0]-partOff)/ss != info.RootDir[0] || (g[0][1]-partOff)/ss-1 != info.RootDir[1] {
				d.add("directory /: %v, want the root region, sectors %v", g, info.RootDir)
			}
		}
	}
	if info.FSInfo >= 0 {
		expect("fsinfo", [2]int64{info.FSInfo, info.FSInfo})
	}
	if info.BackupBoot >= 0 {
		expect("backup boot sector", [2]int64{info.BackupBoot, info.BackupBoot})
	}
	if info.Type == "FAT32" && (info.FSInfo < 0 || info.BackupBoot < 0) {
		d.add("FAT32: fsstat lists no FS Info or Backup Boot Sector: the image lost a shape it was built to have")
	}
	// What is left of ours must lie in the reserved area, and with what was
	// checked above cover all of it.
	var reserved []bmap.Extent
	for _, o := range objs {
		if o.Kind == bmap.KindMeta && !strings.HasPrefix(o.Path, "FAT ") && o.Path != "root directory" {
			reserved = append(reserved, o.Extents...)
		}
	}
	if r := mergedRanges(reserved); len(r) != 1 || (r[0][0]-partOff)/ss != info.Reserved[0] || (r[0][1]-partOff)/ss-1 != info.Reserved[1] {
		d.add("boot sector, fsinfo, backups and reserved sectors cover %v, fsstat's reserved area is sectors %v", r, info.Reserved)
	}
	for name, g := range meta {
		switch name {
		case "backup fsinfo", "reserved sectors":
			for _, r := range g {
				if r[0] < info.Reserved[0] || r[1] > info.Reserved[1] {
					d.add("%q: sectors %v outside the reserved area %v", name, r, info.Reserved)
				}
			}
		default:
			d.add("%q at sectors %v: a metadata name this test does not know", name, g)
		}
	}
	d.report(t, p.Device+": metadata vs fsstat")

	// 4. Cluster runs of a few files and directories vs mshowfat, reading
	// the partition inside the disk (mtools' FILE@@OFFSET).
	d = diffs{}
	for _, path := range []string{"/frag/big", "/frag/after", "/large.bin", "/bigdir", "/deep/level1/level2/level3/level4/level5/leaf.txt", "/names/résumé-élève.txt", "/case1/readme.txt"} {
		o, ok := ours[path]
		if !ok {
			d.add("%q: not in the map", path)
			continue
		}
		want := mshowfatRuns(t, fmt.Sprintf("%s@@%d", img, partOff), path)
		var got [][2]int64
		for _, e := range o.Extents {
			a := (e.Off-partOff-firstClusterSec*ss)/cs + 2
			got = append(got, [2]int64{a, a + e.Len/cs - 1})
		}
		if !slices.Equal(got, want) {
			d.add("%q: runs %v, mshowfat %v", path, got, want)
		}
	}
	d.report(t, p.Device+": cluster runs vs mshowfat")

	// 5. The shapes fat.sh built are there.
	d = diffs{}
	if o := ours["/frag/big"]; len(o.Extents) < 5 {
		d.add("/frag/big: %d extents, want a fragmented file", len(o.Extents))
	}
	if o := ours["/bigdir"]; len(o.Extents) == 0 || o.Size < 3*cs {
		d.add("/bigdir: %d bytes, want a directory of several clusters", o.Size)
	}
	if o, ok := ours["/empty"]; !ok || len(o.Extents) != 0 || o.Size != 0 {
		d.add("/empty: %+v, want an empty file without extents", o)
	}
	if o := ours["/large.bin"]; o.Size < 3<<20 {
		d.add("/large.bin: %d bytes, want a multi-MiB file", o.Size)
	}
	for _, n := range []string{"/names/smile-😀.txt", "/names/日本語のファイル名.txt", "/case1/readme.txt", "/case2/README.TXT", "/case3/ReadMe.txt", "/case3/notes.TXT", "/deep/level1/level2/level3/level4/level5/leaf.txt"} {
		if _, ok := ours[n]; !ok {
			d.add("%q: not in the map", n)
		}
	}
	d.report(t, p.Device+": shapes fat.sh built")
}

func sumLen(es []bmap.Extent) int64 {
	var n int64
	for _, e := range es {
		n += e.Len
	}
	return n
}

func shortInts(xs []int64) string {
	if len(xs) > 12 {
		return fmt.Sprintf("%v... (%d)", xs[:12], len(xs))
	}
	return fmt.Sprint(xs)
}

var reShowfatRun = regexp.MustCompile(`<(\d+)(?:-(\d+))?>`)

// mshowfatRuns lists path's cluster runs as mtools' mshowfat prints them.
func mshowfatRuns(t *testing.T, img, path string) [][2]int64 {
	t.Helper()
	cmd := exec.Command("mshowfat", "-i", img, "::"+path)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mshowfat -i %s ::%s: %v\n%s", img, path, err, out)
	}
	var runs [][2]int64
	for _, m := range reShowfatRun.FindAllStringSubmatch(string(out), -1) {
		a := int64(atoi(m[1]))
		b := a
		if m[2] != "" {
			b = int64(atoi(m[2]))
		}
		runs = append(runs, [2]int64{a, b})
	}
	return runs
}
