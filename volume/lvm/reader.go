package lvm

import (
	"fmt"
	"io"
)

// Reader is an io.ReaderAt over an LV's bytes, reading each piece from its
// PV. Any number of goroutines may read at once.
type Reader struct {
	vg *VG
	lv *LV
}

// NewReader returns a reader over lv, a volume of vg.
func (vg *VG) NewReader(lv *LV) *Reader { return &Reader{vg: vg, lv: lv} }

// Size is the LV's size in bytes.
func (r *Reader) Size() int64 { return r.lv.Size }

// ReadAt reads from the LV. Bytes past its end give io.EOF; bytes that
// cannot be placed (a missing PV, a thin segment) an error wrapping
// ErrUnmapped.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("lvm: %s: negative offset %d", r.lv.Name, off)
	}
	if off >= r.lv.Size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.lv.Size-off)
	done := 0
	err := r.vg.Map(r.lv, off, n, func(pc Piece) error {
		b := p[pc.LVOff-off : pc.LVOff-off+pc.Len]
		if pc.PVOff > pc.PV.PV.Size-pc.Len {
			return fmt.Errorf("lvm: %s: byte %#x on PV %s is past its end", r.lv.Name, pc.LVOff, pc.PV.Name)
		}
		m, err := pc.PV.PV.R.ReadAt(b, pc.PVOff)
		done += m
		if err != nil && !(err == io.EOF && m == len(b)) {
			return fmt.Errorf("lvm: %s: reading PV %s at %#x: %w", r.lv.Name, pc.PV.Name, pc.PVOff, err)
		}
		return nil
	})
	if err != nil {
		return done, err
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}
