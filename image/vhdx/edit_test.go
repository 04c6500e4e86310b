package vhdx

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"unicode/utf16"
)

// vhdxFile is a VHDX's bytes with the offsets of its structures, for
// crafting differencing disks, dirty logs and corruptions from images
// qemu made. It is test code: it trusts the file.
type vhdxFile struct {
	b []byte
}

var le = binary.LittleEndian

func loadVHDX(t testing.TB, path string) *vhdxFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &vhdxFile{b: b}
}

func (v *vhdxFile) clone() *vhdxFile { return &vhdxFile{b: append([]byte(nil), v.b...)} }

// cur is the offset of the current header (the higher sequence number).
func (v *vhdxFile) cur() int64 {
	if le.Uint64(v.b[header2Offset+8:]) > le.Uint64(v.b[header1Offset+8:]) {
		return header2Offset
	}
	return header1Offset
}

func (v *vhdxFile) fixHeader(at int64) {
	h := v.b[at : at+headerSize]
	le.PutUint32(h[4:], crc32c(h, 4))
}

func (v *vhdxFile) fixRegions() {
	for _, at := range []int64{region1Offset, region2Offset} {
		r := v.b[at : at+regionSize]
		le.PutUint32(r[4:], crc32c(r, 4))
	}
}

// region returns the file offset of the region with id.
func (v *vhdxFile) region(id guid) int64 {
	r := v.b[region1Offset:]
	for i := range int(le.Uint32(r[8:])) {
		e := r[16+32*i:]
		if guid(e[:16]) == id {
			return int64(le.Uint64(e[16:]))
		}
	}
	panic("no region " + id.String())
}

// metaItem returns the file offset of metadata item id, and the offset of
// its table entry.
func (v *vhdxFile) metaItem(id guid) (int64, int64) {
	m := v.region(regionMetadata)
	for i := range int(le.Uint16(v.b[m+10:])) {
		e := m + 32 + 32*int64(i)
		if guid(v.b[e:e+16]) == id {
			return m + int64(le.Uint32(v.b[e+16:])), e
		}
	}
	return -1, -1
}

// addMetaItem appends an item to the metadata table, its bytes at item
// offset off (relative to the region).
func (v *vhdxFile) addMetaItem(id guid, off uint32, data []byte, flags uint32) {
	m := v.region(regionMetadata)
	n := le.Uint16(v.b[m+10:])
	e := v.b[m+32+32*int64(n):]
	copy(e, id[:])
	le.PutUint32(e[16:], off)
	le.PutUint32(e[20:], uint32(len(data)))
	le.PutUint32(e[24:], flags)
	le.PutUint16(v.b[m+10:], n+1)
	copy(v.b[m+int64(off):], data)
}

func (v *vhdxFile) batEntry(i int) uint64 {
	return le.Uint64(v.b[v.region(regionBAT)+8*int64(i):])
}

func (v *vhdxFile) setBATEntry(i int, e uint64) {
	le.PutUint64(v.b[v.region(regionBAT)+8*int64(i):], e)
}

func (v *vhdxFile) write(t testing.TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, v.b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// locatorItem builds a VHDX parent locator with the given keys and values.
func locatorItem(kv [][2]string) []byte {
	enc := func(s string) []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = le.AppendUint16(b, u)
		}
		return b
	}
	hdr := make([]byte, 20+12*len(kv))
	copy(hdr, locatorTypeVHDX[:])
	le.PutUint16(hdr[18:], uint16(len(kv)))
	var data []byte
	for i, p := range kv {
		k, val := enc(p[0]), enc(p[1])
		e := hdr[20+12*i:]
		le.PutUint32(e, uint32(len(hdr)+len(data)))
		le.PutUint16(e[8:], uint16(len(k)))
		data = append(data, k...)
		le.PutUint32(e[4:], uint32(len(hdr)+len(data)))
		le.PutUint16(e[10:], uint16(len(val)))
		data = append(data, val...)
	}
	return append(hdr, data...)
}

// makeDifferencing turns v (a dynamic disk qemu made) into a differencing
// disk of the VHDX whose current header is parentHdr: HasParent set, a
// parent locator with the keys given plus parent_linkage. qemu cannot make
// differencing VHDX ("Backing file not supported for file format
// 'vhdx'"), so tests craft them, from qemu's images, as MS-VHDX lays
// them out.
func (v *vhdxFile) makeDifferencing(parent *vhdxFile, kv [][2]string) {
	fp, _ := v.metaItem(metaFileParameters)
	le.PutUint32(v.b[fp+4:], le.Uint32(v.b[fp+4:])|2)
	pdw := guid(parent.b[parent.cur()+32 : parent.cur()+48])
	// Lower case, as DiscUtils writes it (libvhdi 20210425 reads only
	// lower-case GUIDs here; we read both).
	kv = append([][2]string{{"parent_linkage", "{" + strings.ToLower(pdw.String()) + "}"}}, kv...)
	v.addMetaItem(metaParentLocator, 512<<10, locatorItem(kv), 4|2)
}
