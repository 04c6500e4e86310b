package lvm

import (
	"bytes"
	"testing"
)

// seeds are the label sector, the metadata area header and the metadata
// text of every PV head in testdata.
func seeds(f *testing.F) (labels, headers, texts [][]byte) {
	for _, h := range pvHeads {
		b := head(f, h.file)
		labels = append(labels, b[512:1024])
		headers = append(headers, b[4096:4096+512])
		pv, err := ReadPV(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			f.Fatal(err)
		}
		texts = append(texts, pv.Text)
	}
	return
}

func FuzzLabel(f *testing.F) {
	labels, _, _ := seeds(f)
	for _, l := range labels {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 512 {
			return
		}
		l, err := decodeLabel(b[:512], 1, 1<<30)
		if err == nil {
			_ = FormatUUID(l.UUID) + l.UUID
			_ = len(l.DataAreas) + len(l.MetaAreas)
		}
		img := append(make([]byte, 512), b...)
		_, _ = ReadPV(bytes.NewReader(img), int64(len(img)), nil)
	})
}

func FuzzMDAHeader(f *testing.F) {
	_, headers, _ := seeds(f)
	for _, h := range headers {
		f.Add(h, int64(0))
	}
	f.Fuzz(func(t *testing.T, b []byte, locOff int64) {
		if len(b) < 512 {
			return
		}
		// Give the header a valid checksum so the fuzzer reaches past it.
		b = append([]byte(nil), b...)
		copy(b[4:], mdaMagic)
		put32(b, crc(b[4:512]))
		img := make([]byte, 4096+len(b))
		copy(img[4096:], b)
		img2 := append([]byte(nil), img...)
		h, err := ReadMDAHeader(bytes.NewReader(img2), int64(len(img2)), Area{Off: 4096, Size: int64(len(b))})
		if err != nil {
			return
		}
		_, _ = h.Text(bytes.NewReader(img2), int64(len(img2)))
	})
}

func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func FuzzMetadata(f *testing.F) {
	_, _, texts := seeds(f)
	for _, t := range texts {
		f.Add(t)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		root, err := ParseMetadata(text)
		if err != nil {
			return
		}
		_ = root.Str("contents")
		// Assemble a VG from it with a PV whose UUID is the first one
		// listed, and map and read every LV.
		pv := &PV{Label: &Label{UUID: "x"}, Text: text, R: bytes.NewReader(make([]byte, 1<<16)), Size: 1 << 16}
		if len(root.Sections) > 0 {
			if ps := root.Sections[0].Sub("physical_volumes"); ps != nil && len(ps.Sections) > 0 {
				pv.Label.UUID = ps.Sections[0].Str("id")
			}
		}
		for _, vg := range Assemble([]*PV{pv}, nil) {
			for _, lv := range vg.LVs {
				_ = vg.Map(lv, 0, min(lv.Size, 1<<20), func(Piece) error { return nil })
				_, _ = vg.Extents(lv)
				buf := make([]byte, 4096)
				r := vg.NewReader(lv)
				_, _ = r.ReadAt(buf, 0)
				_, _ = r.ReadAt(buf, max(0, lv.Size-100))
			}
		}
	})
}
