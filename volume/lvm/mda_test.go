package lvm

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestMetadataText(t *testing.T) {
	for _, h := range pvHeads {
		t.Run(h.file, func(t *testing.T) {
			b := head(t, h.file)
			pv, err := ReadPV(bytes.NewReader(b), int64(len(b)), func(err error) { t.Error(err) })
			if err != nil {
				t.Fatal(err)
			}
			if pv.MDA == nil || pv.MDA.Start != 4096 || pv.MDA.Size != 1<<20-4096 {
				t.Fatalf("mda = %+v", pv.MDA)
			}
			txt := string(pv.Text)
			if !strings.Contains(txt, `contents = "Text Format Volume Group"`) || !strings.Contains(txt, h.uuid) {
				t.Errorf("metadata text is not the VG's: %.200q", txt)
			}
		})
	}
}

// TestCircularBuffer moves the newest copy so that it wraps round the end
// of the buffer, recomputing the header's checksum: the text must read
// the same.
func TestCircularBuffer(t *testing.T) {
	b := head(t, pvHeads[0].file)
	pv, err := ReadPV(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := pv.Text
	h := pv.MDA
	loc := h.Locs[0]
	raw := make([]byte, loc.Size)
	copy(raw, b[h.Start+loc.Off:])
	newOff := h.Size - 100 // 100 bytes at the end, the rest after the header
	w := append([]byte(nil), b...)
	copy(w[h.Start+newOff:h.Start+h.Size], raw[:100])
	copy(w[h.Start+mdaHeaderSize:], raw[100:])
	binary.LittleEndian.PutUint64(w[h.Start+40:], uint64(newOff))
	binary.LittleEndian.PutUint32(w[h.Start:], crc(w[h.Start+4:h.Start+mdaHeaderSize]))
	pv2, err := ReadPV(bytes.NewReader(w), int64(len(w)), func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pv2.Text, want) {
		t.Errorf("wrapped text differs")
	}
}
