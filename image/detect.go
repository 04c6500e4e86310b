package image

import (
	"bytes"
	"io"

	"github.com/virt-bmap/virt-bmap/image/ova"
	"github.com/virt-bmap/virt-bmap/image/vmdk"
)

// Format names an image format.
type Format struct {
	Name string // "raw", "xz", "qcow2"...
	// Hint tells the user what to do with an image virt-bmap cannot read
	// yet.
	Hint string
}

var (
	Raw      = Format{Name: "raw"}
	VHDFixed = Format{Name: "vhd-fixed"}
	VHD      = Format{Name: "vhd"} // dynamic and differencing VHD (qemu's "vpc")
	VHDX     = Format{Name: "vhdx"}
	XZ       = Format{Name: "xz"}
	QCOW2    = Format{Name: "qcow2"}
	VDI      = Format{Name: "vdi"}
	VMDK     = Format{Name: "vmdk"}
	OVA      = Format{Name: "ova"}
)

// probe recognises one format by bytes at fixed offsets. at < 0 counts
// from the end of the image.
type probe struct {
	format Format
	at     int64
	magic  []byte
}

// probes is the detection table, tried in order; the first match wins and
// an image no probe matches is raw. Order rules:
//   - container and compression formats first: their magic sits at offset
//     0, where a raw disk has its boot code, and none of them can be a
//     valid MBR (the xz, gzip and zstd magics are not x86 code a boot
//     sector starts with, and qcow2/VMDK/VHDX/VDI headers have no 0x55AA);
//   - the VHD footer last: it is at the end of the image, and a fixed VHD
//     is otherwise a raw disk, so everything that starts with a header
//     must have been ruled out first.
var probes = []probe{
	{XZ, 0, []byte{0xfd, '7', 'z', 'X', 'Z', 0}},
	{QCOW2, 0, []byte{'Q', 'F', 'I', 0xfb}},
	{VMDK, 0, []byte("KDMV")},
	{VMDK, 0, []byte("COWD")}, // VMware 3 sparse: image/vmdk names it and refuses it
	{VHDX, 0, []byte("vhdxfile")},
	{VHD, 0, []byte("conectix")}, // the footer's copy that dynamic and differencing VHDs start with
	{VDI, 0x40, []byte{0x7f, 0x10, 0xda, 0xbe}},
	{Format{"gzip", "decompress it first: gunzip -k IMAGE"}, 0, []byte{0x1f, 0x8b}},
	{Format{"zstd", "decompress it first: zstd -dk IMAGE"}, 0, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{Format{"bzip2", "decompress it first: bunzip2 -k IMAGE"}, 0, []byte("BZh")},
	{VHDFixed, -512, []byte("conectix")},
}

// contentProbes recognise formats that have no fixed magic: a VMDK text
// descriptor (comment lines, then "version=1", as qemu probes it) and an
// OVA (a tar whose first file is an .ovf). Detect tries them after every
// probe at the start of the image and before those at its end (at < 0).
var contentProbes = []struct {
	format Format
	check  func(r io.ReaderAt, size int64) bool
}{
	{VMDK, probeVMDKDescriptor},
	{OVA, ova.Probe},
}

func detectContent(r io.ReaderAt, size int64) (Format, bool) {
	for _, p := range contentProbes {
		if p.check(r, size) {
			return p.format, true
		}
	}
	return Format{}, false
}

// probeVMDKDescriptor reads the start of a small file as qemu does to
// tell a VMDK text descriptor.
func probeVMDKDescriptor(r io.ReaderAt, size int64) bool {
	buf := make([]byte, min(size, 4096))
	n, _ := r.ReadAt(buf, 0)
	return vmdk.LooksLikeDescriptor(buf[:n])
}

// vhdTypeOffset is where a VHD footer holds the disk type, which tells a
// fixed disk (raw bytes plus footer) from dynamic and differencing ones.
const vhdTypeOffset = 60

// Detect returns the format of the image in r. It reads only the bytes
// the probes need and never fails: what it cannot read is not a match.
func Detect(r io.ReaderAt, size int64) Format {
	content := false
	for _, p := range probes {
		if p.at < 0 && !content {
			content = true
			if f, ok := detectContent(r, size); ok {
				return f
			}
		}
		at := p.at
		if at < 0 {
			at += size
		}
		if at < 0 || at+int64(len(p.magic)) > size {
			continue
		}
		buf := make([]byte, len(p.magic))
		if _, err := r.ReadAt(buf, at); err != nil && err != io.EOF {
			continue
		}
		if !bytes.Equal(buf, p.magic) {
			continue
		}
		if p.format == VHDFixed {
			var t [4]byte
			if _, err := r.ReadAt(t[:], at+vhdTypeOffset); err != nil {
				continue
			}
			if t != [4]byte{0, 0, 0, 2} { // 2 = fixed; 3 dynamic, 4 differencing
				return VHD
			}
		}
		return p.format
	}
	if !content {
		if f, ok := detectContent(r, size); ok {
			return f
		}
	}
	return Raw
}

// readable lists the formats that can be read, for --format.
var readable = []Format{Raw, XZ, QCOW2, VDI, VHD, VHDX, VMDK, OVA}

// formatByName returns the format the user named (--format), for the
// formats that can be read.
func formatByName(name string) (Format, bool) {
	for _, f := range readable {
		if f.Name == name {
			return f, true
		}
	}
	switch name {
	case "vpc", "vhd", VHDFixed.Name: // qemu calls VHD "vpc"; image/vhd reads every type
		return VHD, true
	case "vhdx":
		return VHDX, true
	}
	return Format{}, false
}

// IsFormatName reports whether --format takes name (a format's name or an
// alias, such as qemu's "vpc" for VHD).
func IsFormatName(name string) bool { _, ok := formatByName(name); return ok }

// FormatNames lists the names --format takes (aliases aside).
func FormatNames() []string {
	var names []string
	for _, f := range readable {
		names = append(names, f.Name)
	}
	return names
}
