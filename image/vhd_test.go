package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"unicode/utf16"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/image/chain"
)

// vhdChecksum is the VHD footer and header checksum: the one's complement
// of the byte sum, the checksum field taken as zeros.
func vhdChecksum(b []byte, at int) uint32 {
	var s uint32
	for i, c := range b {
		if i < at || i >= at+4 {
			s += uint32(c)
		}
	}
	return ^s
}

// makeVHDChild makes a differencing VHD at dir/name over parent (a VHD of
// the same size), its W2ru locator naming locator: qemu cannot make
// differencing VHDs, so a dynamic one qemu made is turned into one, as in
// image/vhd's tests. It writes pattern over the first 512 bytes.
func makeVHDChild(t *testing.T, dir, name, parent, locator string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	run(t, "qemu-img", "create", "-q", "-f", "vpc", "-o", "force_size=on", p, strconv.FormatInt(size, 10))
	run(t, "qemu-io", "-f", "vpc", "-c", "write -P 0x5a 0 512", p)
	b, _ := os.ReadFile(p)
	pb, _ := os.ReadFile(parent)
	be := binary.BigEndian
	hdrAt := int64(be.Uint64(b[len(b)-512+16:]))
	var data []byte
	for _, u := range utf16.Encode([]rune(locator)) {
		data = binary.LittleEndian.AppendUint16(data, u)
	}
	foot := append([]byte(nil), b[len(b)-512:]...)
	at := len(b) - 512
	b = append(append(b[:at], make([]byte, 512)...), foot...)
	copy(b[at:], data)
	h := b[hdrAt : hdrAt+1024]
	// Only the first sector of block 0 is the child's (qemu sets every
	// bit of a block it allocates): the rest comes from the parent.
	bm := int64(be.Uint32(b[be.Uint64(h[16:]):])) * 512
	b[bm] = 0x80
	clear(b[bm+1 : bm+512])
	copy(h[40:56], pb[len(pb)-512+68:])
	copy(h[576:], "W2ru")
	be.PutUint32(h[576+4:], 512)
	be.PutUint32(h[576+8:], uint32(len(data)))
	be.PutUint64(h[576+16:], uint64(at))
	be.PutUint32(h[36:], vhdChecksum(h, 36))
	for _, fo := range []int{0, len(b) - 512} {
		f := b[fo : fo+512]
		be.PutUint32(f[60:], 4) // differencing
		be.PutUint32(f[64:], vhdChecksum(f, 64))
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOpenVHDChain opens a differencing VHD through Open: its parent,
// beside it, is found through the chain policy and read where the child
// has nothing; a locator naming a host file is refused with
// chain.ErrOutside unless --allow-backing names it; --format vpc reads a
// VHD as qemu's name says; the allocation comes from the format.
func TestOpenVHDChain(t *testing.T) {
	dir := t.TempDir()
	raw := makeRaw(t, dir)
	want, _ := os.ReadFile(raw)
	base := filepath.Join(dir, "base.vhd")
	run(t, "qemu-img", "convert", "-O", "vpc", "-o", "force_size=on", raw, base)
	child := makeVHDChild(t, dir, "child.vhd", base, `.\base.vhd`, int64(len(want)))
	img, err := Open(child)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Format() != VHD {
		t.Fatalf("format %v", img.Format())
	}
	got := make([]byte, img.Size())
	if _, err := img.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	copy(want, bytes.Repeat([]byte{0x5a}, 512))
	if !bytes.Equal(got, want) {
		t.Fatal("child over parent differs from the raw disk with the child's write")
	}
	if _, ok := any(img.r).(alloc.Mapper); !ok {
		t.Fatal("the VHD reader is not an alloc.Mapper")
	}

	evil := makeVHDChild(t, dir, "evil.vhd", base, `..\..\..\..\..\..\..\..\etc\hostname`, int64(len(want)))
	if _, err := Open(evil); !errors.Is(err, chain.ErrOutside) {
		t.Fatalf("locator naming /etc/hostname: %v, want ErrOutside", err)
	}
	img2, err := OpenOptions(child, Options{Format: "vpc"})
	if err != nil {
		t.Fatal(err)
	}
	img2.Close()
}
