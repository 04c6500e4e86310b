package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// TestCorrupt damages a real PV head: every case gives an error (or, for
// damage ReadPV works around, a warning), never a panic or a hang.
func TestCorrupt(t *testing.T) {
	mdaLoc := func(b []byte) int64 { // the newest copy's offset in the area
		return int64(binary.LittleEndian.Uint64(b[4096+40:]))
	}
	fixMDA := func(b []byte) { binary.LittleEndian.PutUint32(b[4096:], crc(b[4096+4:4096+512])) }
	for _, c := range []struct {
		name   string
		damage func(b []byte) []byte
		want   string // in the error or the warning
	}{
		{"label magic", func(b []byte) []byte { b[512] ^= 1; return b }, "no LVM2 label"},
		{"label type", func(b []byte) []byte { b[512+0x18] = 'X'; return b }, "type"},
		{"label crc", func(b []byte) []byte { b[512+0x30] ^= 1; return b }, "checksum"},
		{"label sector", func(b []byte) []byte { b[512+8] = 3; return b }, "says it is in sector 3"},
		{"truncated before label", func(b []byte) []byte { return b[:600] }, "no LVM2 label"},
		{"zeros", func(b []byte) []byte { return make([]byte, len(b)) }, "no LVM2 label"},
		{"mda magic", func(b []byte) []byte { b[4096+5] ^= 1; return b }, "magic"},
		{"mda crc", func(b []byte) []byte { b[4096+100] ^= 1; return b }, "checksum"},
		{"mda truncated", func(b []byte) []byte { return b[:4096+100] }, "outside the device"},
		{"metadata text flipped", func(b []byte) []byte { b[4096+mdaLoc(b)+3] ^= 1; return b }, "metadata checksum"},
		{"metadata size huge", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[4096+48:], 1<<40)
			fixMDA(b)
			return b
		}, "metadata size"},
		{"metadata offset past area", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[4096+40:], 1<<30)
			fixMDA(b)
			return b
		}, "outside the area"},
		{"metadata ignored", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[4096+60:], rawLocnIgnore)
			fixMDA(b)
			return b
		}, "ignored"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.damage(head(t, pvHeads[0].file))
			var msgs []string
			pv, err := ReadPV(bytes.NewReader(b), int64(len(b)), func(err error) { msgs = append(msgs, err.Error()) })
			if err != nil {
				msgs = append(msgs, err.Error())
			} else if pv.Text != nil {
				t.Fatalf("damaged PV read cleanly")
			}
			if !strings.Contains(strings.Join(msgs, "|"), c.want) {
				t.Errorf("messages %q, want %q", msgs, c.want)
			}
			if c.want == "no LVM2 label" && !errors.Is(err, ErrNoLabel) {
				t.Errorf("err = %v, want ErrNoLabel", err)
			}
		})
	}
}

// TestCorruptMetadata: metadata that parses but lies gives notes and
// unmapped LVs, not panics or huge allocations.
func TestCorruptMetadata(t *testing.T) {
	const tmpl = `vg { id = "v" seqno = 1 extent_size = EXT
physical_volumes { pv0 { id = "p" pe_start = 2048 pe_count = 10 } }
logical_volumes { lv { status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = COUNT type = "TYPE" stripe_count = 1 stripes = ["PV", FIRST] mirrors = ["lv", 0] } } } }`
	for _, c := range []struct{ name, ext, count, typ, pv, first, want string }{
		{"past PV end", "2048", "5", "striped", "pv0", "8", "past the end"},
		{"unknown PV", "2048", "5", "striped", "pv9", "0", "unknown PV"},
		{"huge count", "2048", "9223372036854775807", "striped", "pv0", "0", "out of range"},
		{"thin", "2048", "5", "thin", "pv0", "0", "thin volume: not mapped"},
		{"mirror of itself", "2048", "5", "mirror", "pv0", "0", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := strings.NewReplacer("EXT", c.ext, "COUNT", c.count, "TYPE", c.typ, "PV", c.pv, "FIRST", c.first).Replace(tmpl)
			pv := &PV{Label: &Label{UUID: "p"}, Text: []byte(text), R: bytes.NewReader(make([]byte, 1<<20)), Size: 1 << 20}
			vgs := Assemble([]*PV{pv}, func(err error) { t.Log(err) })
			if len(vgs) != 1 {
				t.Fatalf("%d VGs", len(vgs))
			}
			lv := vgs[0].LV("lv")
			if !strings.Contains(lv.Note, c.want) {
				t.Errorf("note %q, want %q", lv.Note, c.want)
			}
			_, err := vgs[0].Extents(lv)
			if !errors.Is(err, ErrUnmapped) && lv.Size != 0 { // a segment out of range is dropped: nothing left to map
				t.Errorf("Extents err = %v, want ErrUnmapped", err)
			}
			if _, err := vgs[0].NewReader(lv).ReadAt(make([]byte, 512), 0); err == nil && lv.Size > 0 {
				t.Error("read of an unmapped LV succeeded")
			}
		})
	}
}
