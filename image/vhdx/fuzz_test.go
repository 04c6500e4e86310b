package vhdx

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// sparse is a file described by a fuzz input: a size, then pages of up to
// 4 KiB at page numbers, zeros elsewhere. A VHDX is mostly zeros (its
// smallest is 4 MiB), so seeds hold only its non-zero pages.
type sparse struct {
	size  int64
	pages map[int64][]byte
}

func decodeSparse(b []byte) *sparse {
	s := &sparse{pages: map[int64][]byte{}}
	if len(b) < 4 {
		return s
	}
	s.size = int64(binary.LittleEndian.Uint32(b)) << 12 % (1 << 32)
	for b = b[4:]; len(b) >= 6; {
		pg, n := int64(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint16(b[4:]))%4097
		b = b[6:]
		n = min(n, len(b))
		s.pages[pg] = b[:n]
		b = b[n:]
	}
	return s
}

func encodeSparse(file []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32((len(file)+4095)>>12))
	for pg := 0; pg*4096 < len(file); pg++ {
		p := file[pg*4096 : min(len(file), pg*4096+4096)]
		p = bytes.TrimRight(p, "\x00")
		if len(p) == 0 {
			continue
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(pg))
		out = binary.LittleEndian.AppendUint16(out, uint16(len(p)))
		out = append(out, p...)
	}
	return out
}

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	clear(p[:n])
	for at := off &^ 4095; at < off+int64(n); at += 4096 {
		if pg, ok := s.pages[at>>12]; ok {
			lo, hi := max(at, off), min(at+int64(len(pg)), off+int64(n))
			if lo < hi {
				copy(p[lo-off:hi-off], pg[lo-at:hi-at])
			}
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzNew feeds headers, region tables, metadata, BATs and sector bitmaps
// to New, seeded with the non-zero pages of small VHDXs qemu made (and a
// crafted dirty one). Only a panic or a hang fails.
func FuzzNew(f *testing.F) {
	if _, err := exec.LookPath("qemu-img"); err == nil {
		dir := f.TempDir()
		for _, opts := range []string{"block_size=1M", "subformat=fixed,block_size=1M"} {
			p := filepath.Join(dir, "s.vhdx")
			os.Remove(p)
			if exec.Command("qemu-img", "create", "-f", "vhdx", "-o", opts, p, "3M").Run() != nil {
				continue
			}
			exec.Command("qemu-io", "-f", "vhdx", "-c", "write -P 0x5a 1M 8k", p).Run()
			if b, err := os.ReadFile(p); err == nil {
				f.Add(encodeSparse(b))
				v := &vhdxFile{b: b}
				if opts == "block_size=1M" {
					func() {
						defer func() { recover() }()
						makeDirty(f, v)
						f.Add(encodeSparse(v.b))
					}()
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := decodeSparse(b)
		d, err := New(s, s.size, Config{})
		if err != nil {
			return
		}
		d.Info()
		size := d.Size()
		buf := make([]byte, 64<<10)
		for _, off := range []int64{0, size / 2, size - 1, size - 5000} {
			if off >= 0 {
				d.ReadAt(buf, off)
				imagetest.WalkFileRuns(t, d, size, off, int64(len(buf)))
			}
		}
		for off, i := int64(0), 0; off < size && i < 64; i++ {
			exts, err := d.Extents(off, size-off)
			if err != nil || len(exts) == 0 {
				break
			}
			off = exts[len(exts)-1].End()
		}
	})
}

// FuzzLogReplay feeds log contents to the replay, with a header that
// names the log: entries, descriptors, data sectors, sequences and
// wrap-around. Seeded with crafted entries.
func FuzzLogReplay(f *testing.F) {
	e1 := buildLogEntry(5, 0, testLogGUID, 2<<20, 2<<20, []logWrite{
		{off: 1 << 20, data: bytes.Repeat([]byte{1, 2, 3, 4}, 1024)},
		{off: 1<<20 + 8192, zero: 8192},
	})
	e2 := buildLogEntry(6, 0, testLogGUID, 2<<20, 3<<20, []logWrite{{off: 2 << 20, data: bytes.Repeat([]byte("x"), 4096)}})
	f.Add(append(append([]byte(nil), e1...), e2...))
	f.Add(e1)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > mib {
			return
		}
		file := &sparse{size: 2 * mib, pages: map[int64][]byte{}}
		for i := 0; i < len(b); i += 4096 {
			file.pages[(mib+int64(i))>>12] = b[i:min(len(b), i+4096)]
		}
		h := &header{logGUID: testLogGUID, logLength: mib, logOffset: mib}
		ov, err := replayLog(file, file.size, h, nil)
		if err != nil {
			return
		}
		buf := make([]byte, 10000)
		for _, off := range []int64{0, mib - 3, mib + 4000, 2*mib - 1, ov.size - 100} {
			if off >= 0 {
				ov.ReadAt(buf, off)
			}
		}
	})
}
