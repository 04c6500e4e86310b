package integration

// NTFS partitions of ntfs.img (testimages/ntfs.sh) against The Sleuth Kit
// (fls -r -p, istat, icat) and ntfs-3g's ntfscluster.
//
// What is compared, per NTFS partition:
//   - every name fls lists (but $OrphanFiles and TSK's duplicate
//     "DIR/.:STREAM" names) is an object of ours with the same path, kind
//     and MFT record number, and nothing of ours is missing from fls but
//     the main entries of files without an unnamed $DATA ($Secure,
//     $Extend/$Quota...), which hold only their records;
//   - the clusters of each object (extents of roles data and metadata)
//     equal the clusters istat lists for the attributes that object
//     stands for: for "PATH", every non-resident attribute but named
//     $DATA and the index attributes of a named index other than $I30;
//     for "PATH:NAME", the non-resident attributes called NAME;
//   - a resident stream's inline extents hold, byte for byte (outside
//     the fixup positions), what icat prints for it, inside the record;
//   - the object's first record extent is where record N sits according
//     to istat's run list of $MFT (record 0);
//   - ntfscluster, asked about the whole volume, names exactly the
//     (record, attribute) pairs that our data and metadata extents name,
//     and asked about the clusters of a sample of our extents, names the
//     same record;
//   - the boot sector and its backup sit at the partition's first and
//     last sector.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// ntfsImage returns ntfs.img in imagesDir, building it with
// testimages/ntfs.sh when a reused images directory lacks it.
func ntfsImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(imagesDir, "ntfs.img")
	if _, err := os.Stat(img); err == nil {
		return img
	}
	if out, err := runTool("bash", filepath.Join(repoRoot, "testimages", "ntfs.sh"), imagesDir); err != nil {
		t.Fatalf("testimages/ntfs.sh: %v\n%s", err, out)
	}
	return img
}

var reFlsNTFS = regexp.MustCompile(`^(\S+) (\* )?(\d+)(?:-\d+-\d+)?:\t(.*)$`)

// flsNTFS lists the allocated names of the NTFS volume at sector off
// (fls -r -p), without deleted names and $OrphanFiles. NTFS inodes are
// printed RECORD-TYPE-ID.
func flsNTFS(img string, sector int64) ([]flsEntry, error) {
	out, err := runTool("fls", "-r", "-p", "-o", strconv.FormatInt(sector, 10), img)
	if err != nil {
		return nil, err
	}
	var es []flsEntry
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		m := reFlsNTFS.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("fls: unexpected line %q", line)
		}
		p := m[4]
		if m[2] != "" || p == "$OrphanFiles" || strings.HasPrefix(p, "$OrphanFiles/") {
			continue
		}
		es = append(es, flsEntry{Type: m[1], Inode: atou(m[3]), Path: p})
	}
	return es, nil
}

// ntfsAttr is one attribute istat lists.
type ntfsAttr struct {
	Type       string // "$DATA"
	TypeID     int    // 128
	ID         int
	Name       string // "" for N/A
	Resident   bool
	Compressed bool
	Clusters   []uint64 // non-resident: allocated clusters (0 = sparse, dropped, except for $Boot)
}

var reIstatNTFSAttr = regexp.MustCompile(`^Type: (\S+) \((\d+)-(\d+)\)\s+Name: (.*?)\s+(Resident|Non-Resident)(, Compressed)?`)

// parseIstatNTFS reads istat's "Attributes:" section for an NTFS inode.
func parseIstatNTFS(out []byte, keepZero bool) []ntfsAttr {
	var as []ntfsAttr
	in := false
	for line := range strings.SplitSeq(string(out), "\n") {
		if line == "Attributes: " || line == "Attributes:" {
			in = true
			continue
		}
		if !in {
			continue
		}
		if m := reIstatNTFSAttr.FindStringSubmatch(line); m != nil {
			a := ntfsAttr{Type: m[1], TypeID: atoi(m[2]), ID: atoi(m[3]), Name: m[4], Resident: m[5] == "Resident", Compressed: m[6] != ""}
			if a.Name == "N/A" {
				a.Name = ""
			}
			as = append(as, a)
			continue
		}
		if len(as) == 0 {
			continue
		}
		for _, f := range strings.Fields(line) {
			n, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				break
			}
			if n != 0 || keepZero {
				as[len(as)-1].Clusters = append(as[len(as)-1].Clusters, n)
			}
		}
	}
	return as
}

// streamOf says which of our objects an istat attribute belongs to: ""
// for the file itself, else the stream name.
func streamOf(a ntfsAttr) string {
	switch a.TypeID {
	case 128:
		return a.Name
	case 144, 160, 176:
		if a.Name != "$I30" {
			return a.Name
		}
	}
	return ""
}

func TestNTFSAgainstTSK(t *testing.T) {
	setup(t)
	testutil.NeedTools(t, "istat", "icat", "fls", "ntfscluster", "mkntfs", "gcc")
	img := ntfsImage(t)
	m := runMap(t, img)
	parts, ss, err := sfdiskParts(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 {
		t.Fatalf("ntfs.img: %d partitions, want 2", len(parts))
	}
	for _, p := range parts {
		t.Run(strings.TrimPrefix(p.Device, "/dev/"), func(t *testing.T) {
			checkNTFS(t, m, img, p, ss)
		})
	}
}

func checkNTFS(t *testing.T, m *jsonMap, img string, p sfPart, ss int64) {
	partOff := p.Start * ss
	fsImg := filepath.Join(t.TempDir(), "p.fs")
	if _, err := runTool("dd", "if="+img, "of="+fsImg, "bs=512", fmt.Sprintf("skip=%d", p.Start*ss/512),
		fmt.Sprintf("count=%d", p.Size*ss/512), "conv=sparse", "status=none"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fsImg)
	if err != nil {
		t.Fatal(err)
	}
	cs := int64(0)
	if out, err := runTool("fsstat", fsImg); err == nil {
		if mm := regexp.MustCompile(`Cluster Size: (\d+)`).FindSubmatch(out); mm != nil {
			cs = int64(atoi(string(mm[1])))
		}
	}
	if cs == 0 {
		t.Fatal("fsstat: no cluster size")
	}

	// Our objects of this partition.
	ours := map[string]bmap.Object{}
	var meta []bmap.Object
	for _, o := range m.Objects {
		if o.Device != p.Device {
			continue
		}
		switch o.Kind {
		case bmap.KindFile, bmap.KindDir:
			if _, dup := ours[o.Path]; dup {
				t.Errorf("%s: two objects for %s", p.Device, o.Path)
			}
			ours[o.Path] = o
		case bmap.KindMeta:
			if strings.HasPrefix(o.Path, "$") {
				// A system file ("$MFT", "$Extend/$Quota:$Q"): fls
				// lists it as /$MFT.
				ours["/"+o.Path] = o
				continue
			}
			meta = append(meta, o)
		}
	}
	var d diffs

	// Boot sector and backup.
	wantMeta := map[string]int64{"boot sector": partOff, "backup boot sector": partOff + (p.Size-1)*ss}
	for _, o := range meta {
		want, ok := wantMeta[o.Path]
		if !ok {
			d.add("metadata %q not expected", o.Path)
			continue
		}
		delete(wantMeta, o.Path)
		if len(o.Extents) != 1 || o.Extents[0].Off != want || o.Extents[0].Len != 512 {
			d.add("%s: extents %v, want 512 bytes at %#x", o.Path, o.Extents, want)
		}
	}
	for k := range wantMeta {
		d.add("metadata %q missing", k)
	}

	// fls names and istat of every record named.
	es, err := flsNTFS(img, p.Start)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]flsEntry{}
	inodes := []uint64{0, 5}
	for _, e := range es {
		if strings.Contains(e.Path, "/.:") || strings.HasPrefix(e.Path, ".:") {
			continue // TSK lists a directory's stream twice, once as DIR/.:NAME
		}
		listed["/"+e.Path] = e
		if !slices.Contains(inodes, e.Inode) {
			inodes = append(inodes, e.Inode)
		}
	}
	if len(listed) < 20 {
		t.Fatalf("fls listed only %d names", len(listed))
	}
	attrs := istatNTFSAll(t, fsImg, inodes)

	// Where record N lies: istat's run list of $MFT.
	var mftClusters []uint64
	for _, a := range attrs[0] {
		if a.TypeID == 128 && a.Name == "" {
			mftClusters = a.Clusters
		}
	}
	recordSize := int64(1024)
	recordOff := func(n uint64) int64 {
		b := int64(n) * recordSize
		i := b / cs
		if i >= int64(len(mftClusters)) {
			return -1
		}
		return partOff + int64(mftClusters[i])*cs + b%cs
	}

	listed["/"] = flsEntry{Type: "d/d", Inode: 5, Path: ""}
	for path, e := range listed {
		o, ok := ours[path]
		if !ok {
			d.add("%s (fls %s %d): no object", path, e.Type, e.Inode)
			continue
		}
		wantKind := bmap.KindFile
		if e.Type == "d/d" {
			wantKind = bmap.KindDir
		}
		if strings.HasPrefix(path, "/$") {
			wantKind = bmap.KindMeta // system files and the $Extend tree
		}
		if o.Kind != wantKind || o.Inode != e.Inode {
			d.add("%s: kind %c record %d, fls says %s %d", path, o.Kind, o.Inode, e.Type, e.Inode)
		}
		main, stream, isStream := strings.Cut(strings.TrimPrefix(path, "/"), ":")
		_ = main
		if !isStream {
			stream = ""
		}
		// Clusters: ours vs istat's for the attributes this object stands for.
		var want []uint64
		var resident []ntfsAttr
		for _, a := range attrs[e.Inode] {
			if streamOf(a) != stream {
				continue
			}
			if a.Resident {
				if a.TypeID == 128 {
					resident = append(resident, a)
				}
				continue
			}
			want = append(want, a.Clusters...)
		}
		var got []uint64
		tail := map[uint64]bool{} // our clusters past the data size
		var inline []bmap.Extent
		for _, x := range o.Extents {
			switch x.Role {
			case bmap.RoleData, bmap.RoleMeta:
				if (x.Off-partOff)%cs != 0 || x.Len%cs != 0 {
					d.add("%s: extent %+v not cluster-aligned", path, x)
				}
				for c := (x.Off - partOff) / cs; c < (x.End()-partOff)/cs; c++ {
					// istat stops a compressed attribute's list at its
					// data size, and prints 0 for the clusters of other
					// attributes past it ($MFT's preallocated tail); they
					// are allocated to it all the same (ntfscluster
					// agrees, checked below).
					if x.Role == bmap.RoleData && x.FileOff+(c-(x.Off-partOff)/cs)*cs >= (o.Size+cs-1)/cs*cs {
						tail[uint64(c)] = true
					}
					got = append(got, uint64(c))
				}
			case bmap.RoleInline:
				inline = append(inline, x)
			case bmap.RoleRecord:
				if isStream {
					d.add("%s: a stream with a record extent", path)
				}
			default:
				d.add("%s: unexpected role %s", path, x.Role)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		a, b := setDiff(got, want)
		if a = slices.DeleteFunc(a, func(c uint64) bool { return tail[c] }); len(a) > 0 || len(b) > 0 {
			d.add("%s (record %d): clusters differ from istat: only ours %s, only istat's %s", path, e.Inode, short(a), short(b))
		}
		// The record.
		if !isStream {
			var rec []bmap.Extent
			for _, x := range o.Extents {
				if x.Role == bmap.RoleRecord {
					rec = append(rec, x)
				}
			}
			if want := recordOff(e.Inode); len(rec) == 0 || rec[0].Off != want || rec[0].Len != recordSize {
				d.add("%s: first record extent %v, istat's $MFT runs put record %d at %#x", path, rec, e.Inode, want)
			}
		}
		// Resident data: the bytes icat prints, inside the record.
		if len(resident) > 0 {
			checkInline(&d, fsImg, raw, partOff, path, e.Inode, resident[0], inline, recordOff(e.Inode), recordSize)
		} else if len(inline) > 0 {
			d.add("%s: inline extents but istat has no resident $DATA", path)
		}
	}
	// Nothing extra of ours.
	for path, o := range ours {
		if _, ok := listed[path]; ok {
			continue
		}
		onlyRecords := true
		for _, x := range o.Extents {
			if x.Role != bmap.RoleRecord {
				onlyRecords = false
			}
		}
		hasData := false
		for _, a := range attrs[o.Inode] {
			if a.TypeID == 128 && a.Name == "" {
				hasData = true
			}
		}
		if attrs[o.Inode] == nil || !onlyRecords || hasData || strings.Contains(path, ":") {
			d.add("%s (record %d): ours, not listed by fls", path, o.Inode)
		}
	}
	d.report(t, p.Device+" against fls/istat/icat")
	checkNTFSCluster(t, fsImg, ours, partOff, cs)
	checkNTFSShapes(t, ours, attrs)
	checkNTFSReparse(t, ours, listed, attrs)
}

// checkNTFSReparse: each reparse point the image is built with (a
// junction, a directory symbolic link, a junction to its own parent) is
// one directory object of ours, under the record fls names, that istat
// shows holding a $REPARSE_POINT; nothing is listed under it, by fls or
// by us (its target is not followed), and its record is mapped (the
// record's place itself is checked against istat's $MFT runs above).
func checkNTFSReparse(t *testing.T, ours map[string]bmap.Object, listed map[string]flsEntry, attrs map[uint64][]ntfsAttr) {
	found := 0
	for _, path := range []string{"/reparse/junction-to-docs", "/reparse/symlink-to-nested", "/small/up"} {
		e, ok := listed[path]
		if !ok {
			continue // not in this partition
		}
		found++
		o, ok := ours[path]
		if !ok {
			t.Errorf("%s: reparse point listed by fls (record %d), not by us", path, e.Inode)
			continue
		}
		if o.Kind != bmap.KindDir || o.Inode != e.Inode {
			t.Errorf("%s: kind %c record %d, fls says a directory, record %d", path, o.Kind, o.Inode, e.Inode)
		}
		hasReparse := false
		for _, a := range attrs[e.Inode] {
			hasReparse = hasReparse || a.TypeID == 192
		}
		if !hasReparse {
			t.Errorf("%s: istat shows no $REPARSE_POINT in record %d", path, e.Inode)
		}
		records := 0
		for _, x := range o.Extents {
			if x.Role == bmap.RoleRecord {
				records++
			}
		}
		if records != 1 {
			t.Errorf("%s: %d record extents, want its one record", path, records)
		}
		for p := range listed {
			if strings.HasPrefix(p, path+"/") {
				t.Errorf("%s: fls lists %s under the reparse point", path, p)
			}
		}
		for p := range ours {
			if strings.HasPrefix(p, path+"/") {
				t.Errorf("%s: we list %s under the reparse point", path, p)
			}
		}
	}
	if found == 0 {
		if _, ok := ours["/small"]; ok {
			t.Error("/small/up: the junction is not listed by fls")
		}
		if _, ok := ours["/docs"]; ok {
			t.Error("/reparse/...: the junction and symbolic link are not listed by fls")
		}
	}
}

// istatNTFSAll runs istat on every record, a few at a time.
func istatNTFSAll(t *testing.T, fsImg string, inodes []uint64) map[uint64][]ntfsAttr {
	t.Helper()
	res := make(map[uint64][]ntfsAttr, len(inodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan uint64)
	var firstErr error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range ch {
				out, err := runTool("istat", fsImg, strconv.FormatUint(n, 10))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				res[n] = parseIstatNTFS(out, n == 7) // $Boot's cluster 0 is real
				mu.Unlock()
			}
		}()
	}
	for _, n := range inodes {
		ch <- n
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return res
}

// checkInline compares a resident stream's inline extents with icat's
// output: same length, same bytes but at the fixup positions (the last
// two bytes of each 512-byte stride of the record hold the update
// sequence number on disk), and inside the record.
func checkInline(d *diffs, fsImg string, raw []byte, partOff int64, path string, ino uint64, a ntfsAttr, inline []bmap.Extent, recOff, recSize int64) {
	want, err := runTool("icat", fsImg, fmt.Sprintf("%d-%d-%d", ino, a.TypeID, a.ID))
	if err != nil {
		d.add("%s: %v", path, err)
		return
	}
	var got []byte
	fo := int64(0)
	for _, x := range inline {
		if x.FileOff != fo {
			d.add("%s: inline extent at file offset %d, want %d", path, x.FileOff, fo)
		}
		if x.Off < recOff || x.End() > recOff+recSize {
			d.add("%s: inline extent %#x-%#x outside record %d at %#x", path, x.Off, x.End(), ino, recOff)
			return
		}
		got = append(got, raw[x.Off-partOff:x.End()-partOff]...)
		fo += x.Len
	}
	if len(got) != len(want) {
		d.add("%s: %d inline bytes, icat prints %d", path, len(got), len(want))
		return
	}
	if len(got) == 0 {
		return
	}
	start := inline[0].Off
	for i := range got {
		if (start+int64(i)-recOff)%512 >= 510 {
			continue // a fixup position
		}
		if got[i] != want[i] {
			d.add("%s: inline byte %d is %#x on disk, icat prints %#x", path, i, got[i], want[i])
			return
		}
	}
}

var reNTFSCluster = regexp.MustCompile(`^Inode (\d+) (.*)/(\$[A-Z_]+)(?:\((.*)\))?$`)

// checkNTFSCluster asks ntfscluster which records and attributes own the
// whole volume's clusters, and the clusters of a sample of our extents.
func checkNTFSCluster(t *testing.T, fsImg string, ours map[string]bmap.Object, partOff, cs int64) {
	var d diffs
	type owner struct {
		ino    uint64
		stream string
	}
	key := func(o owner) string { return fmt.Sprintf("%d:%s", o.ino, o.stream) }
	parse := func(out []byte) map[string]bool {
		set := map[string]bool{}
		for line := range strings.SplitSeq(string(out), "\n") {
			mm := reNTFSCluster.FindStringSubmatch(line)
			if mm == nil {
				continue
			}
			a := ntfsAttr{Type: mm[3], Name: mm[4]}
			switch a.Type {
			case "$DATA":
				a.TypeID = 128
			case "$INDEX_ALLOCATION":
				a.TypeID = 160
			case "$BITMAP":
				a.TypeID = 176
			}
			set[key(owner{atou(mm[1]), streamOf(a)})] = true
		}
		return set
	}
	st, err := os.Stat(fsImg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runTool("ntfscluster", "-f", "-c", fmt.Sprintf("0-%d", st.Size()/cs-2), fsImg)
	if err != nil {
		t.Fatal(err)
	}
	theirs := parse(out)
	mine := map[string]bool{}
	type sample struct {
		path         string
		first, last  int64
		owner        owner
		ignoreStream bool
	}
	var samples []sample
	paths := make([]string, 0, len(ours))
	for p := range ours {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		o := ours[p]
		_, stream, _ := strings.Cut(strings.TrimPrefix(p, "/"), ":")
		for i, x := range o.Extents {
			if x.Role != bmap.RoleData && x.Role != bmap.RoleMeta {
				continue
			}
			ow := owner{o.Inode, stream}
			mine[key(ow)] = true
			if (i == len(o.Extents)-1 || i%7 == 0) && len(samples) < 150 && !strings.HasPrefix(p, "/links/hard") {
				samples = append(samples, sample{p, (x.Off - partOff) / cs, (x.End()-partOff)/cs - 1, ow, false})
			}
		}
	}
	for k := range theirs {
		if !mine[k] {
			d.add("ntfscluster names %s, we map no cluster of it", k)
		}
	}
	for k := range mine {
		if !theirs[k] {
			d.add("we map clusters of %s, ntfscluster names none", k)
		}
	}
	if len(samples) < 10 {
		d.add("only %d extents to sample", len(samples))
	}
	for _, s := range samples {
		out, err := runTool("ntfscluster", "-f", "-c", fmt.Sprintf("%d-%d", s.first, s.last), fsImg)
		if err != nil {
			d.add("%s: %v", s.path, err)
			continue
		}
		got := parse(out)
		if len(got) != 1 || !got[key(s.owner)] {
			d.add("%s: clusters %d-%d: ntfscluster names %v, we say %s", s.path, s.first, s.last, got, key(s.owner))
		}
	}
	d.report(t, "against ntfscluster")
}

// checkNTFSShapes fails if a shape the test image is built to have is
// missing from our map, so the comparison cannot pass vacuously.
func checkNTFSShapes(t *testing.T, ours map[string]bmap.Object, attrs map[uint64][]ntfsAttr) {
	has := func(path string, ok func(o bmap.Object) bool, what string) {
		t.Helper()
		o, found := ours[path]
		if !found {
			return // not in this partition
		}
		if !ok(o) {
			t.Errorf("%s: %s missing from the map", path, what)
		}
	}
	count := func(o bmap.Object, r bmap.Role) int {
		n := 0
		for _, x := range o.Extents {
			if x.Role == r {
				n++
			}
		}
		return n
	}
	has("/frag/scattered", func(o bmap.Object) bool { return count(o, bmap.RoleRecord) > 1 && count(o, bmap.RoleData) > 100 }, "extension records and 100+ fragments")
	has("/many", func(o bmap.Object) bool { return count(o, bmap.RoleData) > 0 }, "$INDEX_ALLOCATION")
	has("/docs/tiny", func(o bmap.Object) bool { return count(o, bmap.RoleInline) == 1 }, "resident data")
	has("/streams:big stream", func(o bmap.Object) bool { return count(o, bmap.RoleData) > 0 }, "a non-resident named stream")
	has("/sparse/island", func(o bmap.Object) bool { return o.Extents[len(o.Extents)-1].FileOff > 9<<20 }, "data after a hole")
	has("/compressed/text", func(o bmap.Object) bool { return count(o, bmap.RoleData) > 2 }, "compression units")
	has("/$MFT", func(o bmap.Object) bool { return count(o, bmap.RoleData) > 0 }, "$MFT's data")
	if o, ok := ours["/links/hard1"]; ok {
		for _, p := range []string{"/links/hard2", "/docs/hard3"} {
			if x, ok := ours[p]; !ok || x.Inode != o.Inode || !bytes.Equal([]byte(fmt.Sprint(x.Extents)), []byte(fmt.Sprint(o.Extents))) {
				t.Errorf("%s: not the same record and extents as /links/hard1", p)
			}
		}
	}
	_ = attrs
}
