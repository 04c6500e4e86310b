package ntfs

import "fmt"

// run is one mapping pair of a non-resident attribute: Len clusters from
// VCN at LCN; LCN is -1 for a sparse run (a hole).
type run struct {
	VCN, LCN, Len int64
}

// maxRunClusters bounds one run's length (2^48 clusters is beyond any
// volume) so that VCN arithmetic cannot overflow.
const maxRunClusters = 1 << 48

// decodeRuns decodes a mapping-pairs array (run list) starting at VCN
// startVCN, appending to runs. Each pair is a header byte (low nibble:
// bytes of the length, high nibble: bytes of the signed LCN delta; a
// delta of 0 bytes is a sparse run), then the two numbers, little endian.
// The array ends at a 0 header byte or at the end of b.
//
// Our own decoder: go-ntfs' RunList gives a sparse run the previous run's
// LCN (it has to be told apart by RelativeUrnOffset == 0) and does not
// check lengths or that a run stays inside the volume; here every run is
// checked against the volume's clusters and an LCN of -1 marks a hole.
func decodeRuns(b []byte, startVCN, clusters int64, runs []run) ([]run, error) {
	vcn, lcn := startVCN, int64(0)
	for i := 0; i < len(b); {
		h := b[i]
		if h == 0 {
			return runs, nil
		}
		nl, no := int(h&0x0F), int(h>>4)
		if nl == 0 || nl > 8 || no > 8 {
			return runs, fmt.Errorf("run list at byte %d: header %#02x", i, h)
		}
		if i+1+nl+no > len(b) {
			return runs, fmt.Errorf("run list at byte %d: header %#02x runs past the attribute", i, h)
		}
		length := leInt(b[i+1:i+1+nl], false)
		if length <= 0 || length > maxRunClusters {
			return runs, fmt.Errorf("run list at byte %d: run of %d clusters", i, length)
		}
		r := run{VCN: vcn, Len: length, LCN: -1}
		if no > 0 {
			lcn += leInt(b[i+1+nl:i+1+nl+no], true)
			if lcn < 0 || lcn >= clusters || clusters-lcn < length {
				return runs, fmt.Errorf("run list at byte %d: clusters %d-%d beyond the volume's %d", i, lcn, lcn+length-1, clusters)
			}
			r.LCN = lcn
		}
		if vcn > maxRunClusters {
			return runs, fmt.Errorf("run list at byte %d: VCN %d too large", i, vcn)
		}
		runs = append(runs, r)
		vcn += length
		i += 1 + nl + no
	}
	return runs, nil
}

// leInt decodes a little-endian integer of 1-8 bytes, sign-extended if
// signed.
func leInt(b []byte, signed bool) int64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if signed && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
		v |= ^uint64(0) << (8 * uint(len(b)))
	}
	return int64(v)
}
