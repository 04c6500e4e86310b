package xfs

import (
	"encoding/binary"
	"fmt"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// A symbolic link's target is in the inode's data fork when it fits
// (local format), else in blocks mapped like a file's data. On version 5
// each such block starts with an xfs_dsymlink_hdr (magic XSLM, the
// target's offset and length held by the block, CRC, UUID, owner, block
// address, LSN).
const (
	maxLinkTarget = 1024       // XFS_SYMLINK_MAXLEN
	xslmMagic     = 0x58534c4d // "XSLM"
	xslmHdr       = 56
	xslmCRCOff    = 12
)

// remoteTarget reads the target of link in from its mapped blocks.
func (f *FS) remoteTarget(in *Inode, data []bmap.Extent) ([]byte, error) {
	out := make([]byte, 0, in.Size)
	buf := make([]byte, f.bs)
	for _, e := range data {
		for o := int64(0); o < e.Len && int64(len(out)) < in.Size; o += f.bs {
			off := e.Off + o
			if err := f.read(buf, off); err != nil {
				return nil, inodeErr(in.Num, off, "symbolic link block: reading: %v", err)
			}
			if !f.sb.v5() {
				out = append(out, buf[:min(f.bs, in.Size-int64(len(out)))]...)
				continue
			}
			be := binary.BigEndian
			what := fmt.Sprintf("inode %d symbolic link block", in.Num)
			bad := func(msg string, args ...any) error {
				return &diskerr.FormatError{FS: "xfs", Off: off, What: what, Msg: fmt.Sprintf(msg, args...)}
			}
			if m := be.Uint32(buf); m != xslmMagic {
				return nil, bad("bad magic %#08x, want XSLM", m)
			}
			if !cksumOK(buf, xslmCRCOff) {
				return nil, bad("CRC mismatch")
			}
			if o := be.Uint64(buf[32:]); o != in.Num {
				return nil, bad("block owned by inode %d", o)
			}
			start, n := int64(be.Uint32(buf[4:])), int64(be.Uint32(buf[8:]))
			if start != int64(len(out)) || n > f.bs-xslmHdr || n > in.Size-start {
				return nil, bad("holds %d bytes at target offset %d, expected offset %d of %d", n, start, len(out), in.Size)
			}
			out = append(out, buf[xslmHdr:xslmHdr+n]...)
		}
	}
	if int64(len(out)) != in.Size {
		return nil, inodeErr(in.Num, in.Off, "symbolic link blocks hold %d of the target's %d bytes", len(out), in.Size)
	}
	return out, nil
}
