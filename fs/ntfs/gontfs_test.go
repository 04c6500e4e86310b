package ntfs

// go-ntfs (www.velocidex.com/golang/go-ntfs) as an independent
// cross-check of the walk: for every record the walk reports, the run
// lists go-ntfs decodes for its attributes must place the same clusters
// at the same file offsets as our extents, resident values must hold the
// bytes go-ntfs reads, and every file read through our extents must have
// the contents go-ntfs gives for its path. go-ntfs' known faults are
// worked around, not trusted: sparse runs repeat the previous LCN in
// RunList (RelativeUrnOffset == 0 marks them), VtoP is not used, and
// streams split over more than 20 attribute extents (GetAllVCNs' limit)
// are not read through go-ntfs.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/fs"
	"www.velocidex.com/golang/go-ntfs/parser"
)

// gAttr is one attribute of a record as go-ntfs enumerates it: the
// pieces of an attribute split over extension records gathered.
type gAttr struct {
	typ        uint64
	name       string
	resident   bool
	compressed bool
	value      []byte // resident
	size       int64  // data size (from the piece at VCN 0)
	pieces     []gPiece
}

type gPiece struct {
	start, last int64 // VCNs
	runs        []*parser.Run
}

// gAttrs returns record n's attributes through go-ntfs, keyed by
// type and name.
func gAttrs(ctx *parser.NTFSContext, n uint64) (map[string]*gAttr, error) {
	m, err := ctx.GetMFT(int64(n))
	if err != nil {
		return nil, err
	}
	res := map[string]*gAttr{}
	for _, a := range m.EnumerateAttributes(ctx) {
		typ := a.Type().Value
		key := fmt.Sprintf("%d:%s", typ, a.Name())
		ga := res[key]
		if ga == nil {
			ga = &gAttr{typ: typ, name: a.Name(), resident: a.IsResident()}
			res[key] = ga
		}
		if parser.IsCompressed(a.Flags()) {
			ga.compressed = true
		}
		if a.IsResident() {
			v := make([]byte, a.Content_size())
			k, _ := a.Data(ctx).ReadAt(v, 0)
			ga.value, ga.size = v[:k], int64(a.Content_size())
			continue
		}
		p := gPiece{start: int64(a.Runlist_vcn_start()), last: int64(a.Runlist_vcn_end()), runs: a.RunList()}
		if p.start == 0 {
			ga.size = int64(a.Actual_size())
		}
		ga.pieces = append(ga.pieces, p)
	}
	return res, nil
}

// extents turns a non-resident attribute's run lists into extents of
// role, in VCN order, merged where contiguous on disk and in the file,
// the way the walk reports them; sparse runs (RelativeUrnOffset 0: go-ntfs
// repeats the previous LCN for them) are holes.
//
// A first run with RelativeUrnOffset 0 is ambiguous in go-ntfs' Run: a
// hole, or a run at LCN 0 (its delta from 0 is 0). Cluster 0 holds the
// boot sector, which only $Boot (record 7) owns, so lcn0 says which.
func (ga *gAttr) extents(cs int64, role bmap.Role, lcn0 bool) ([]bmap.Extent, error) {
	ps := slices.Clone(ga.pieces)
	slices.SortFunc(ps, func(a, b gPiece) int { return int(a.start - b.start) })
	var out []bmap.Extent
	next := int64(0)
	for _, p := range ps {
		if p.start != next {
			return nil, fmt.Errorf("attribute piece at VCN %d, want %d", p.start, next)
		}
		vcn := p.start
		for i, r := range p.runs {
			if r.RelativeUrnOffset != 0 || i == 0 && lcn0 {
				fo := int64(-1)
				if role == bmap.RoleData {
					fo = vcn * cs
				}
				x := bmap.Extent{Off: r.Offset * cs, Len: r.Length * cs, FileOff: fo, Role: role}
				if k := len(out) - 1; k >= 0 && out[k].End() == x.Off && (fo < 0 || out[k].FileOff+out[k].Len == fo) {
					out[k].Len += x.Len
				} else {
					out = append(out, x)
				}
			}
			vcn += r.Length
		}
		if vcn != p.last+1 {
			return nil, fmt.Errorf("runs of the piece at VCN %d end at VCN %d, header says %d", p.start, vcn-1, p.last)
		}
		next = vcn
	}
	return out, nil
}

// streamOfG says which of our entries a go-ntfs attribute belongs to: ""
// the file itself, else the stream name (named $DATA, the index
// attributes of a named index other than $I30).
func streamOfG(ga *gAttr) string {
	switch ga.typ {
	case atData:
		return ga.name
	case atIndexRoot, atIndexAlloc, atBitmap:
		if ga.name != "$I30" {
			return ga.name
		}
	}
	return ""
}

// normalize sorts extents by offset and merges touching ones, for
// comparing sets of clusters.
func normalize(xs []bmap.Extent) []bmap.Extent {
	xs = slices.Clone(xs)
	slices.SortFunc(xs, func(a, b bmap.Extent) int { return int(a.Off - b.Off) })
	var out []bmap.Extent
	for _, x := range xs {
		x.FileOff = -1
		if k := len(out) - 1; k >= 0 && out[k].End() >= x.Off {
			out[k].Len = max(out[k].End(), x.End()) - out[k].Off
			continue
		}
		out = append(out, x)
	}
	return out
}

func roleExtents(e fs.Entry, role bmap.Role) []bmap.Extent {
	var out []bmap.Extent
	for _, x := range e.Extents {
		if x.Role == role {
			out = append(out, x)
		}
	}
	return out
}

// readInline reads a resident value through its inline extents, undoing
// the fixup at the end of each 512-byte stride of the record holding it
// (what is on disk there is the update sequence number; the real bytes
// are in the record's update sequence array). Done here from the raw
// bytes, not with our applyFixup.
//
// recs holds the record extents of the file (a stream entry has none of
// its own: they are the base entry's).
func readInline(r io.ReaderAt, e fs.Entry, recs []bmap.Extent, recSize int64) ([]byte, error) {
	var out []byte
	for _, x := range roleExtents(e, bmap.RoleInline) {
		b := make([]byte, x.Len)
		if _, err := r.ReadAt(b, x.Off); err != nil {
			return nil, err
		}
		var rec *bmap.Extent
		for _, y := range recs {
			if y.Off <= x.Off && x.End() <= y.End() {
				rec = &y
				break
			}
		}
		if rec == nil || rec.Len != recSize {
			return nil, fmt.Errorf("inline extent %+v not inside one whole record extent", x)
		}
		hdr := make([]byte, 8)
		if _, err := r.ReadAt(hdr, rec.Off); err != nil {
			return nil, err
		}
		usa := rec.Off + int64(binary.LittleEndian.Uint16(hdr[4:]))
		for i := range b {
			rel := x.Off + int64(i) - rec.Off
			if rel%512 >= 510 {
				saved := make([]byte, 1)
				if _, err := r.ReadAt(saved, usa+2+2*(rel/512)+rel%512-510); err != nil {
					return nil, err
				}
				b[i] = saved[0]
			}
		}
		if int64(len(out)) != x.FileOff {
			return nil, fmt.Errorf("inline extent %+v after %d bytes", x, len(out))
		}
		out = append(out, b...)
	}
	return out, nil
}

// readContents reads an entry's contents through its data and inline
// extents; holes read as zeros.
func readContents(r io.ReaderAt, e fs.Entry, recs []bmap.Extent, recSize int64) ([]byte, error) {
	buf := make([]byte, e.Size)
	inl, err := readInline(r, e, recs, recSize)
	if err != nil {
		return nil, err
	}
	copy(buf, inl)
	for _, x := range roleExtents(e, bmap.RoleData) {
		if x.FileOff >= e.Size {
			continue
		}
		n := min(x.Len, e.Size-x.FileOff)
		if _, err := r.ReadAt(buf[x.FileOff:x.FileOff+n], x.Off); err != nil {
			return nil, fmt.Errorf("extent %+v: %w", x, err)
		}
	}
	return buf, nil
}

// crossCheckStats counts what a cross-check compared and skipped.
type crossCheckStats struct {
	entries, runLists, resident, contents, contentSkips int
}

// crossCheck walks the volume in r and compares it with go-ntfs.
func crossCheck(t *testing.T, r io.ReaderAt, size int64) crossCheckStats {
	var st crossCheckStats
	f, err := New(r, size)
	if err != nil {
		t.Fatal(err)
	}
	var warns []error
	f.SetWarn(func(err error) { warns = append(warns, err) })
	var es []fs.Entry
	if err := f.Walk(func(e fs.Entry) error {
		e.Extents = slices.Clone(e.Extents)
		es = append(es, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	pr, err := parser.NewPagedReader(&parser.OffsetReader{Offset: 0, Reader: r}, 4096, 10000)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := parser.GetNTFSContext(pr, 0)
	if err != nil {
		t.Fatalf("go-ntfs: %v", err)
	}
	cs, recSize := f.boot.clusterSize, f.boot.recordSize
	if ctx.ClusterSize != cs || ctx.GetRecordSize() != recSize {
		t.Errorf("go-ntfs: clusters of %d bytes, records of %d; ours %d, %d", ctx.ClusterSize, ctx.GetRecordSize(), cs, recSize)
	}
	ours := byPath(es)
	cache := map[uint64]map[string]*gAttr{}
	for _, e := range es {
		if !isRecord(e) {
			continue
		}
		st.entries++
		as, ok := cache[e.Inode]
		if !ok {
			if as, err = gAttrs(ctx, e.Inode); err != nil {
				t.Errorf("%s: go-ntfs: record %d: %v", e.Path, e.Inode, err)
				continue
			}
			cache[e.Inode] = as
		}
		base, stream, isStream := strings.Cut(e.Path, ":")
		recs := roleExtents(ours[base], bmap.RoleRecord)
		if ours[base].Inode != e.Inode {
			t.Errorf("%s: record %d, its file %s is record %d", e.Path, e.Inode, base, ours[base].Inode)
		}
		var data *gAttr
		var meta []bmap.Extent
		pieces := 0
		for _, ga := range as {
			if streamOfG(ga) != stream {
				continue
			}
			if ga.typ == atData || ga.typ == atIndexAlloc {
				if data != nil {
					t.Errorf("%s: go-ntfs has both %s and %s for it", e.Path, typeName(uint32(data.typ)), typeName(uint32(ga.typ)))
				}
				data = ga
				continue
			}
			if !ga.resident {
				xs, err := ga.extents(cs, bmap.RoleMeta, e.Inode == 7)
				if err != nil {
					t.Errorf("%s: go-ntfs %s %q: %v", e.Path, typeName(uint32(ga.typ)), ga.name, err)
				}
				meta = append(meta, xs...)
			}
		}
		// Every named $DATA go-ntfs sees is a stream entry of ours.
		if !isStream {
			for _, ga := range as {
				if ga.typ == atData && ga.name != "" {
					if _, ok := ours[e.Path+":"+ga.name]; !ok {
						t.Errorf("%s: go-ntfs has stream %q, the walk does not report it", e.Path, ga.name)
					}
				}
			}
		}
		if got, want := normalize(roleExtents(e, bmap.RoleMeta)), normalize(meta); !slices.Equal(got, want) {
			t.Errorf("%s: metadata extents %v, go-ntfs' run lists %v", e.Path, got, want)
		}
		switch {
		case data == nil:
			if len(roleExtents(e, bmap.RoleData))+len(roleExtents(e, bmap.RoleInline)) > 0 {
				t.Errorf("%s: data extents, go-ntfs has no data attribute", e.Path)
			}
			continue
		case data.resident:
			got, err := readInline(r, e, recs, recSize)
			if err != nil {
				t.Errorf("%s: %v", e.Path, err)
			} else if !bytes.Equal(got, data.value) {
				t.Errorf("%s: resident value through our inline extents %q, go-ntfs %q", e.Path, short8(got), short8(data.value))
			}
			st.resident++
		default:
			pieces = len(data.pieces)
			want, err := data.extents(cs, bmap.RoleData, e.Inode == 7)
			if err != nil {
				t.Errorf("%s: go-ntfs %s: %v", e.Path, typeName(uint32(data.typ)), err)
			}
			if got := roleExtents(e, bmap.RoleData); !slices.Equal(got, want) {
				t.Errorf("%s: data extents %v, go-ntfs' run list %v", e.Path, got, want)
			}
			st.runLists++
		}
		if e.Size != data.size {
			t.Errorf("%s: size %d, go-ntfs %d", e.Path, e.Size, data.size)
		}
		if data.typ != atData || e.Kind == bmap.KindDir {
			continue
		}
		// Contents, through go-ntfs' own path lookup and stream reader.
		switch {
		case data.compressed:
			t.Logf("%s: contents not compared: compressed (our extents hold the compressed bytes)", e.Path)
			st.contentSkips++
			continue
		case pieces > 20:
			t.Logf("%s: contents not compared: %d attribute extents, go-ntfs' GetAllVCNs reads 20", e.Path, pieces)
			st.contentSkips++
			continue
		}
		gpath := base
		if isStream {
			gpath += ":" + stream
		}
		m, err := ctx.GetMFT(5)
		if err == nil {
			m, err = m.Open(ctx, base)
		}
		if err != nil {
			t.Errorf("%s: go-ntfs cannot open the path: %v", e.Path, err)
			continue
		}
		if uint64(m.Record_number()) != e.Inode {
			t.Errorf("%s: record %d, go-ntfs' path lookup gives %d", e.Path, e.Inode, m.Record_number())
		}
		rr, err := parser.GetDataForPath(ctx, gpath)
		if err != nil {
			t.Errorf("%s: go-ntfs GetDataForPath(%q): %v", e.Path, gpath, err)
			continue
		}
		want := make([]byte, e.Size)
		if _, err := io.ReadFull(io.NewSectionReader(rr, 0, e.Size), want); err != nil {
			t.Errorf("%s: go-ntfs read: %v", e.Path, err)
			continue
		}
		got, err := readContents(r, e, recs, recSize)
		if err != nil {
			t.Errorf("%s: reading through our extents: %v", e.Path, err)
			continue
		}
		if sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("%s: contents through our extents differ from go-ntfs' (%d bytes; first difference at %d)", e.Path, e.Size, firstDiff(got, want))
		}
		st.contents++
	}
	// The skips must not hide the comparison.
	if st.contents == 0 || st.contentSkips*5 > st.contents+st.contentSkips {
		t.Errorf("contents compared for %d files, skipped for %d: want most compared", st.contents, st.contentSkips)
	}
	if st.runLists == 0 || st.resident == 0 {
		t.Errorf("%d run lists and %d resident values compared: want both", st.runLists, st.resident)
	}
	t.Logf("%d entries; %d run lists, %d resident values, %d files' contents compared with go-ntfs; %d contents skipped", st.entries, st.runLists, st.resident, st.contents, st.contentSkips)
	return st
}

func short8(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestGoNTFSFixtures cross-checks every fixture with go-ntfs.
func TestGoNTFSFixtures(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			b := fixture(t, name)
			crossCheck(t, bytes.NewReader(b), int64(len(b)))
		})
	}
}

// TestGoNTFSTestImage builds testimages' ntfs.img (testimages/ntfs.sh:
// mkntfs and libntfs-3g) and cross-checks both partitions with go-ntfs.
func TestGoNTFSTestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ntfs.img")
	}
	for _, tool := range []string{"mkntfs", "ntfsinfo", "sfdisk", "istat", "fls", "blkid", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if _, err := os.Stat("/usr/include/ntfs-3g/volume.h"); err != nil {
		t.Skip("libntfs-3g headers (ntfs-3g-dev) not installed")
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", filepath.Join("..", "..", "testimages", "ntfs.sh"), dir)
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testimages/ntfs.sh: %v\n%s", err, out)
	}
	img, err := os.Open(filepath.Join(dir, "ntfs.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	layout, err := os.ReadFile(filepath.Join(dir, "ntfs.layout"))
	if err != nil {
		t.Fatal(err)
	}
	parts := 0
	for line := range strings.Lines(string(layout)) {
		f := strings.Fields(line)
		if len(f) != 4 || f[3] != "ntfs" {
			continue
		}
		start, err1 := strconv.ParseInt(f[1], 10, 64)
		n, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("ntfs.layout: %q", line)
		}
		parts++
		t.Run(strings.TrimPrefix(f[0], "/dev/"), func(t *testing.T) {
			crossCheck(t, io.NewSectionReader(img, start*512, n*512), n*512)
		})
	}
	if parts != 2 {
		t.Errorf("ntfs.layout names %d NTFS partitions, want 2", parts)
	}
}
