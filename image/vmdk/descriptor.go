package vmdk

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// maxDescriptor bounds a descriptor, in a file of its own or embedded in a
// sparse extent (qemu reads at most 1 MiB of it).
const maxDescriptor = 1 << 20

// maxExtents bounds the extent lines of one descriptor.
const maxExtents = 1 << 16

// noParent is the parentCID of a disk without a parent.
const noParent = 0xffffffff

// Descriptor is a parsed VMDK text descriptor: the file of a
// monolithicFlat, twoGbMaxExtent*, vmfs (ESXi) or snapshot disk, or the
// descriptor embedded in a monolithicSparse or streamOptimized extent.
type Descriptor struct {
	Version            int
	CID, ParentCID     uint32
	HasCID             bool
	CreateType         string
	ParentFileNameHint string
	Extents            []ExtentLine
	// DDB holds the disk database ("ddb.adapterType" and so on), values
	// without their quotes.
	DDB map[string]string
}

// ExtentLine is one line of the extent description:
//
//	RW 4192256 SPARSE "disk-s001.vmdk"
//	RW 8388608 FLAT "disk-flat.vmdk" 0
//	RDONLY 2048 ZERO
type ExtentLine struct {
	Access  string // RW, RDONLY or NOACCESS
	Sectors int64
	Type    string // FLAT, SPARSE, ZERO, VMFS, VMFSSPARSE, SESPARSE...
	File    string // "" for ZERO
	Offset  int64  // sectors into File (FLAT)
	Line    int    // 1-based line number in the descriptor
}

// ParseDescriptor parses a text descriptor. Lines it does not know
// (comments, blank lines, other keys) are skipped, as qemu and VMware do;
// a line that starts like an extent (RW, RDONLY, NOACCESS) but does not
// parse is an error, as is a bad CID.
func ParseDescriptor(b []byte) (*Descriptor, error) {
	if len(b) > maxDescriptor {
		return nil, formatErr(0, "descriptor", "%d bytes, more than %d", len(b), maxDescriptor)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 { // an embedded descriptor is NUL-padded
		b = b[:i]
	}
	d := &Descriptor{DDB: map[string]string{}}
	var sawCID, sawParent bool
	off := 0
	for n := 1; off < len(b); n++ {
		lineOff := off
		raw := b[off:]
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[:i]
			off += i + 1
		} else {
			off = len(b)
		}
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '#' {
			continue
		}
		what := fmt.Sprintf("descriptor line %d", n)
		if f := strings.Fields(line); len(f) > 0 && isAccess(f[0]) {
			if len(d.Extents) >= maxExtents {
				return nil, formatErr(int64(lineOff), what, "more than %d extents", maxExtents)
			}
			e, err := parseExtentLine(line)
			if err != nil {
				return nil, formatErr(int64(lineOff), what, "%q: %v", line, err)
			}
			e.Line = n
			d.Extents = append(d.Extents, e)
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), unquote(strings.TrimSpace(v))
		switch {
		case k == "version":
			ver, err := strconv.Atoi(v)
			if err != nil {
				return nil, formatErr(int64(lineOff), what, "bad version %q", v)
			}
			d.Version = ver
		case k == "CID", k == "parentCID":
			c, err := strconv.ParseUint(v, 16, 32)
			if err != nil {
				return nil, formatErr(int64(lineOff), what, "bad %s %q (want 8 hex digits)", k, v)
			}
			if k == "CID" {
				d.CID, sawCID = uint32(c), true
			} else {
				d.ParentCID, sawParent = uint32(c), true
			}
		case k == "createType":
			d.CreateType = v
		case k == "parentFileNameHint":
			d.ParentFileNameHint = v
		case strings.HasPrefix(k, "ddb."):
			d.DDB[k] = v
		}
	}
	d.HasCID = sawCID
	if !sawParent {
		d.ParentCID = noParent
	}
	return d, nil
}

func isAccess(s string) bool { return s == "RW" || s == "RDONLY" || s == "NOACCESS" }

// unquote strips one pair of double quotes.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// parseExtentLine parses ACCESS SECTORS TYPE ["FILE" [OFFSET]].
func parseExtentLine(line string) (ExtentLine, error) {
	var e ExtentLine
	f := strings.Fields(line)
	if len(f) < 3 {
		return e, fmt.Errorf("want ACCESS SECTORS TYPE [\"FILE\" [OFFSET]]")
	}
	e.Access, e.Type = f[0], f[2]
	s, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || s <= 0 || s > maxCapacity {
		return e, fmt.Errorf("bad sector count %q", f[1])
	}
	e.Sectors = s
	// The file name is quoted and may hold spaces: take it from the line.
	rest := line
	for range 3 {
		rest = strings.TrimLeft(rest, " \t")
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			rest = ""
			break
		}
		rest = rest[i:]
	}
	rest = strings.TrimSpace(rest)
	if rest != "" {
		if rest[0] != '"' {
			return e, fmt.Errorf("file name is not quoted")
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return e, fmt.Errorf("unterminated file name")
		}
		e.File = rest[1 : 1+end]
		if e.File == "" {
			return e, fmt.Errorf("empty file name")
		}
		tail := strings.TrimSpace(rest[2+end:])
		if tail != "" {
			o, err := strconv.ParseInt(tail, 10, 64)
			if err != nil || o < 0 || o > maxCapacity {
				return e, fmt.Errorf("bad offset %q", tail)
			}
			e.Offset = o
		}
	}
	switch e.Type {
	case "ZERO":
		if e.File != "" {
			return e, fmt.Errorf("a ZERO extent names no file")
		}
	case "FLAT", "VMFS", "SPARSE", "VMFSSPARSE", "SESPARSE", "VMFSRDM", "VMFSRAW":
		if e.File == "" {
			return e, fmt.Errorf("a %s extent needs a file name", e.Type)
		}
	default:
		return e, fmt.Errorf("unknown extent type %q", e.Type)
	}
	if e.Offset+e.Sectors > maxCapacity {
		// both are at most maxCapacity: the sum does not overflow
		return e, fmt.Errorf("offset plus size is too large (overflow past %d sectors)", int64(maxCapacity))
	}
	return e, nil
}
