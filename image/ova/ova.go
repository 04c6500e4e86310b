// Package ova reads OVA appliances (DMTF OVF, DSP0243): a tar archive
// (ustar, GNU or pax) whose first file is the OVF descriptor, followed by
// the files it references. Open parses the descriptor's References and
// DiskSection and returns the disks in the descriptor's order, each as an
// io.SectionReader on its tar member's bytes: nothing is unpacked. The
// disks' own format (usually streamOptimized VMDK, sometimes raw or
// qcow2) is left to the caller (image detects it by content).
//
// Checked: the archive's headers (archive/tar, which seeks over the
// data), that every member lies inside the archive, that each Disk's
// fileRef names a File and each File's href a member, and that an href
// stays inside the appliance (no absolute path, no "..", no URL: an OVA
// never makes us open a file of the host). Refused with a clear error:
// files the OVF compresses (ovf:compression="gzip") or splits
// (ovf:chunkSize), and tar members stored sparse. A Disk without a
// fileRef is a blank disk of its capacity: it reads as zeros. The
// manifest (.mf) and certificate are not checked.
package ova

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Appliance is an opened OVA.
type Appliance struct {
	OVF      string // name of the descriptor in the archive
	Envelope *Envelope
	Disks    []Disk
}

// Disk is one disk of the appliance, in the OVF's DiskSection order.
type Disk struct {
	ID       string // ovf:diskId
	Name     string // the member's name; "" for a blank disk
	Format   string // ovf:format, a URI such as ...vmdk.html#streamOptimized
	Capacity int64  // bytes, from the OVF; 0 when it cannot be read
	R        io.ReaderAt
	Size     int64 // bytes of R
}

// ErrUnsupported is wrapped by the error for a disk stored in a way that
// is not read (compressed or chunked files, sparse tar members).
var ErrUnsupported = errors.New("ova: not supported")

// Open reads the OVA in r (size bytes).
func Open(r io.ReaderAt, size int64) (*Appliance, error) {
	ms, err := index(r, size)
	if err != nil {
		return nil, err
	}
	var ovf *member
	for i := range ms {
		if strings.HasSuffix(strings.ToLower(ms[i].name), ".ovf") {
			ovf = &ms[i]
			break
		}
	}
	if ovf == nil {
		return nil, errors.New("ova: the archive holds no OVF descriptor (.ovf)")
	}
	if ovf.sparse || ovf.size > maxOVF {
		return nil, fmt.Errorf("ova: OVF descriptor %q of %d bytes is larger than %d or sparse", ovf.name, ovf.size, maxOVF)
	}
	b := make([]byte, ovf.size)
	if n, err := r.ReadAt(b, ovf.off); int64(n) < ovf.size {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("ova: reading %s: %w", ovf.name, err)
	}
	env, err := ParseOVF(b)
	if err != nil {
		return nil, fmt.Errorf("ova: %s: %w", ovf.name, err)
	}
	a := &Appliance{OVF: ovf.name, Envelope: env}
	if len(env.Disks) == 0 {
		return nil, fmt.Errorf("ova: %s lists no disk (DiskSection/Disk)", ovf.name)
	}
	files := map[string]FileRef{}
	for _, f := range env.References {
		files[f.ID] = f
	}
	byName := map[string]*member{}
	for i := range ms {
		if _, dup := byName[ms[i].name]; !dup {
			byName[ms[i].name] = &ms[i]
		}
	}
	for _, dr := range env.Disks {
		d, err := openDisk(dr, files, byName, r)
		if err != nil {
			return nil, fmt.Errorf("ova: %s: %w", ovf.name, err)
		}
		a.Disks = append(a.Disks, d)
	}
	return a, nil
}

func openDisk(dr DiskRef, files map[string]FileRef, byName map[string]*member, r io.ReaderAt) (Disk, error) {
	d := Disk{ID: dr.DiskID, Format: dr.Format}
	capacity, capErr := dr.CapacityBytes()
	d.Capacity = capacity
	if dr.FileRef == "" {
		if capErr != nil {
			return d, fmt.Errorf("blank disk %q: %w", dr.DiskID, capErr)
		}
		d.R, d.Size = io.NewSectionReader(zeros{}, 0, capacity), capacity
		return d, nil
	}
	f, ok := files[dr.FileRef]
	if !ok {
		return d, fmt.Errorf("disk %q names the file %q, which References does not list", dr.DiskID, dr.FileRef)
	}
	switch {
	case !localName(f.Href):
		return d, fmt.Errorf("disk %q: file %q is not a plain name inside the appliance", dr.DiskID, f.Href)
	case f.Compression != "" && f.Compression != "identity":
		return d, fmt.Errorf("%w: disk %q: file %q is compressed with %s; unpack the OVA and decompress it (gunzip)", ErrUnsupported, dr.DiskID, f.Href, f.Compression)
	case f.ChunkSize != "":
		return d, fmt.Errorf("%w: disk %q: file %q is split in chunks of %s bytes; unpack the OVA and join them (cat %s.*)", ErrUnsupported, dr.DiskID, f.Href, f.ChunkSize, f.Href)
	}
	m, ok := byName[cleanName(f.Href)]
	if !ok {
		return d, fmt.Errorf("disk %q: file %q is not in the archive", dr.DiskID, f.Href)
	}
	if m.sparse {
		return d, fmt.Errorf("%w: disk %q: tar member %q is stored sparse", ErrUnsupported, dr.DiskID, m.name)
	}
	d.Name, d.R, d.Size = m.name, io.NewSectionReader(r, m.off, m.size), m.size
	return d, nil
}

// zeros reads as zeros: a blank disk.
type zeros struct{}

func (zeros) ReadAt(p []byte, off int64) (int, error) {
	clear(p)
	return len(p), nil
}
