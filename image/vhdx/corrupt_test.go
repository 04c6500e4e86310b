package vhdx

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// TestCorrupt damages a dynamic VHDX qemu made, one structure at a time
// (checksums recomputed unless the damage is to a checksum), and checks
// the result: a clear error naming the structure, or, where a copy is
// left, a warning and the same bytes as the undamaged disk.
func TestCorrupt(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	p := filepath.Join(t.TempDir(), "d.vhdx")
	imagetest.QemuImg(t, "create", "-f", "vhdx", "-o", "block_size=1M", p, "5M")
	imagetest.QemuIO(t, "vhdx", p, "write -P 0x5a 0 64k", "write -P 0x77 3M 5k")
	good := loadVHDX(t, p)
	want := imagetest.QemuRaw(t, p, "vhdx")
	batAt := good.region(regionBAT)
	metaAt := good.region(regionMetadata)
	fp, _ := good.metaItem(metaFileParameters)
	vs, _ := good.metaItem(metaVirtualSize)
	ls, _ := good.metaItem(metaLogicalSector)
	hdrs := func(v *vhdxFile, fn func(h []byte)) {
		for _, at := range []int64{header1Offset, header2Offset} {
			fn(v.b[at : at+headerSize])
			v.fixHeader(at)
		}
	}
	cases := []struct {
		name string
		edit func(v *vhdxFile)
		err  string // "": opens, reads as want, with one warning
	}{
		{"file identifier", func(v *vhdxFile) { copy(v.b, "vhdxfilf") }, "vhdxfile"},
		{"one header CRC", func(v *vhdxFile) { v.b[v.cur()+200] ^= 1 }, ""},
		{"both header CRCs", func(v *vhdxFile) { v.b[header1Offset+200] ^= 1; v.b[header2Offset+200] ^= 1 }, "CRC-32C"},
		{"header version", func(v *vhdxFile) { hdrs(v, func(h []byte) { le.PutUint16(h[66:], 2) }) }, "version"},
		{"region table CRC", func(v *vhdxFile) { v.b[region1Offset+100] ^= 1 }, ""},
		{"region tables both", func(v *vhdxFile) { v.b[region1Offset+100] ^= 1; v.b[region2Offset+100] ^= 1 }, "CRC-32C"},
		{"unknown required region", func(v *vhdxFile) {
			for _, at := range []int64{region1Offset, region2Offset} {
				r := v.b[at:]
				n := le.Uint32(r[8:])
				e := r[16+32*n:]
				copy(e, mustGUID("11111111-2222-3333-4444-555555555555").b())
				le.PutUint64(e[16:], 8<<20)
				le.PutUint32(e[24:], 1<<20)
				le.PutUint32(e[28:], 1)
				le.PutUint32(r[8:], n+1)
			}
			v.b = append(v.b, make([]byte, 10<<20)...)
			v.fixRegions()
		}, "unknown required region"},
		{"region past EOF", func(v *vhdxFile) {
			for _, at := range []int64{region1Offset, region2Offset} {
				r := v.b[at:]
				for i := range int(le.Uint32(r[8:])) {
					if guid(r[16+32*i:][:16]) == regionBAT {
						le.PutUint64(r[16+32*i+16:], 1<<40)
					}
				}
			}
			v.fixRegions()
		}, "past the end"},
		{"metadata signature", func(v *vhdxFile) { copy(v.b[metaAt:], "metadatX") }, "metadata"},
		{"unknown required metadata", func(v *vhdxFile) {
			v.addMetaItem(mustGUID("11111111-2222-3333-4444-555555555555"), 600<<10, []byte{1, 2, 3, 4}, 4)
		}, "unknown required metadata"},
		{"metadata item outside region", func(v *vhdxFile) {
			_, e := v.metaItem(metaVirtualSize)
			le.PutUint32(v.b[e+16:], 2<<20)
		}, "do not lie in"},
		{"block size 0", func(v *vhdxFile) { le.PutUint32(v.b[fp:], 0) }, "block size"},
		{"block size not power of two", func(v *vhdxFile) { le.PutUint32(v.b[fp:], 3<<20) }, "block size"},
		{"logical sector 1000", func(v *vhdxFile) { le.PutUint32(v.b[ls:], 1000) }, "sector size"},
		{"huge virtual size", func(v *vhdxFile) { le.PutUint64(v.b[vs:], 60<<40) }, "do not fit"},
		{"virtual size over 64 TiB", func(v *vhdxFile) { le.PutUint64(v.b[vs:], 65<<40) }, "64 TiB"},
		{"BAT entry past EOF", func(v *vhdxFile) { le.PutUint64(v.b[batAt:], 1<<40|stateFullyPresent) }, "outside"},
		{"BAT entry in header section", func(v *vhdxFile) { le.PutUint64(v.b[batAt:], stateFullyPresent) }, "outside"},
		{"BAT unknown state", func(v *vhdxFile) { le.PutUint64(v.b[batAt:], le.Uint64(v.b[batAt:])&^7|4) }, "unknown state"},
		{"partially present without parent", func(v *vhdxFile) { le.PutUint64(v.b[batAt:], le.Uint64(v.b[batAt:])|7) }, "partially present"},
		{"log past EOF", func(v *vhdxFile) {
			hdrs(v, func(h []byte) { copy(h[48:], testLogGUID[:]); le.PutUint64(h[72:], 1<<40) })
		}, "log"},
		{"log not in MiBs", func(v *vhdxFile) {
			hdrs(v, func(h []byte) { copy(h[48:], testLogGUID[:]); le.PutUint32(h[68:], 4096) })
		}, "whole MiBs"},
		{"log version", func(v *vhdxFile) {
			hdrs(v, func(h []byte) { copy(h[48:], testLogGUID[:]); le.PutUint16(h[64:], 1) })
		}, "log version"},
		{"all zeros", func(v *vhdxFile) { clear(v.b) }, "vhdxfile"},
		{"tiny", func(v *vhdxFile) { v.b = v.b[:1000] }, "too small"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := good.clone()
			c.edit(v)
			var warned []string
			d, err := New(bytes.NewReader(v.b), int64(len(v.b)), Config{Warn: func(m string) { warned = append(warned, m) }})
			if c.err != "" {
				var fe *diskerr.FormatError
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &fe) {
					t.Fatalf("New: %v; want a FormatError with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warned) != 1 {
				t.Errorf("warnings %q, want one", warned)
			}
			checkRead(t, d, want)
		})
	}
}

func (g guid) b() []byte { return g[:] }
