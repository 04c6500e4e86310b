package ova

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// maxMembers bounds the members of an OVA that are indexed.
const maxMembers = 1 << 16

// member is one regular file of the tar: where its bytes are, unpacked.
type member struct {
	name   string // as stored, cleaned of a leading "./"
	off    int64  // of its data in the tar
	size   int64
	sparse bool // a GNU or PAX sparse file: its data is not one run
}

// index lists the regular files of the tar in r, in order, with the
// offsets of their data, reading only the headers (archive/tar seeks over
// the data of an io.Seeker).
func index(r io.ReaderAt, size int64) ([]member, error) {
	sr := io.NewSectionReader(r, 0, size)
	tr := tar.NewReader(sr)
	var ms []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			at, _ := sr.Seek(0, io.SeekCurrent)
			if len(ms) == 0 {
				return nil, &diskerr.FormatError{FS: "ova", Off: at, What: "tar header", Msg: "not a tar archive", Err: err}
			}
			return nil, &diskerr.FormatError{FS: "ova", Off: at, What: fmt.Sprintf("tar header after %q", ms[len(ms)-1].name), Err: err}
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeGNUSparse && h.Typeflag != '\x00' {
			continue
		}
		if len(ms) >= maxMembers {
			return nil, fmt.Errorf("ova: more than %d files in the archive", maxMembers)
		}
		off, err := sr.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		m := member{name: cleanName(h.Name), off: off, size: h.Size}
		if h.Typeflag == tar.TypeGNUSparse {
			m.sparse = true
		}
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				m.sparse = true
			}
		}
		if !m.sparse && (h.Size < 0 || off+h.Size > size) {
			return nil, &diskerr.FormatError{FS: "ova", Off: off, What: fmt.Sprintf("tar member %q", h.Name),
				Msg: fmt.Sprintf("%d bytes run past the end of the archive (%d bytes)", h.Size, size)}
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, errors.New("ova: the archive holds no file")
	}
	return ms, nil
}

// cleanName drops the "./" tar writes in front of names.
func cleanName(n string) string {
	for strings.HasPrefix(n, "./") {
		n = n[2:]
	}
	return n
}

// localName says whether a name (a tar member's or an OVF href) stays
// inside the appliance: relative, no "..", no URL, no backslash tricks.
func localName(n string) bool {
	if n == "" || strings.ContainsAny(n, "\\\x00:") || path.IsAbs(n) {
		return false
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return false
		}
	}
	return true
}

// Probe says whether r holds an OVA: a tar (ustar, GNU or pax) whose
// first regular file is an OVF descriptor (".ovf"), as the OVF standard
// requires; a pax extended header in front of it is skipped. It reads at
// most a few KiB.
func Probe(r io.ReaderAt, size int64) bool {
	var blk [512]byte
	off := int64(0)
	longName := ""
	for range 4 { // pax global/extended headers, GNU long names, then the file
		if off+512 > size {
			return false
		}
		if n, _ := r.ReadAt(blk[:], off); n < 512 {
			return false
		}
		if !bytes.Equal(blk[257:262], []byte("ustar")) {
			return false
		}
		switch blk[156] {
		case 'x', 'g', 'L':
			n, ok := octal(blk[124:136])
			if !ok || n > 1<<20 {
				return false
			}
			if blk[156] != 'g' && n <= 1<<16 && off+512+n <= size {
				b := make([]byte, n)
				if m, _ := r.ReadAt(b, off+512); int64(m) == n {
					if blk[156] == 'L' {
						longName = string(bytes.TrimRight(b, "\x00"))
					} else if p, ok := paxPath(b); ok {
						longName = p
					}
				}
			}
			off += 512 + (n+511)/512*512
			continue
		}
		name := string(bytes.TrimRight(blk[:100], "\x00"))
		if p := string(bytes.TrimRight(blk[345:500], "\x00")); p != "" && blk[257+5] == 0 {
			name = p + "/" + name // ustar prefix
		}
		if longName != "" {
			name = longName
		}
		return strings.HasSuffix(strings.ToLower(name), ".ovf")
	}
	return false
}

// octal decodes a tar numeric field.
func octal(b []byte) (int64, bool) {
	s := strings.Trim(string(b), " \x00")
	if s == "" {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '7' || n > 1<<40 {
			return 0, false
		}
		n = n*8 + int64(c-'0')
	}
	return n, true
}

// paxPath finds the path record of a pax extended header's records
// ("LEN path=NAME\n"...).
func paxPath(b []byte) (string, bool) {
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp <= 0 {
			return "", false
		}
		n, err := strconv.Atoi(string(b[:sp]))
		if err != nil || n <= sp+1 || n > len(b) {
			return "", false
		}
		rec := b[sp+1 : n]
		if k, v, ok := bytes.Cut(bytes.TrimSuffix(rec, []byte("\n")), []byte("=")); ok && string(k) == "path" {
			return string(v), true
		}
		b = b[n:]
	}
	return "", false
}
