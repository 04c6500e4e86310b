package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/image/alloc"
	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// qemuRawOf converts an image to raw with qemu-img and returns the bytes.
func qemuRawOf(t *testing.T, path string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "q.raw")
	testutil.Run(t, "", "qemu-img", "convert", "-O", "raw", path, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vmdkSource is a 2 MiB raw disk with an MBR signature, data and holes.
func vmdkSource(t *testing.T, dir string) string {
	t.Helper()
	b := make([]byte, 2<<20)
	for i := 0; i < len(b); i += 192 << 10 {
		copy(b[i:], fmt.Sprintf("vmdk source block at %#x", i))
	}
	b[510], b[511] = 0x55, 0xaa
	p := filepath.Join(dir, "src.raw")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOpenVMDK opens VMDKs of every kind through image, detected by
// content (the descriptor files have names that do not say vmdk).
func TestOpenVMDK(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	dir := t.TempDir()
	src := vmdkSource(t, dir)
	for _, sub := range []string{"monolithicSparse", "streamOptimized", "twoGbMaxExtentFlat", "twoGbMaxExtentSparse", "monolithicFlat"} {
		t.Run(sub, func(t *testing.T) {
			p := filepath.Join(dir, sub+".img")
			testutil.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, src, p)
			img, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			if img.Format() != VMDK {
				t.Errorf("format %v, want vmdk", img.Format())
			}
			if !bytes.Equal(readAllImage(t, img), qemuRawOf(t, p)) {
				t.Error("bytes differ from qemu-img's")
			}
			var m alloc.Mapper = img
			exts, err := m.Extents(0, img.Size())
			if err != nil || len(exts) == 0 {
				t.Errorf("Extents = %v, %v", exts, err)
			}
			if sub == "monolithicSparse" && len(exts) < 2 {
				t.Errorf("a sparse disk with holes maps as %v", exts)
			}
			forced, err := OpenOptions(p, Options{Format: "vmdk"})
			if err != nil {
				t.Fatalf("--format vmdk: %v", err)
			}
			forced.Close()
		})
	}
	t.Run("snapshot", func(t *testing.T) {
		d := t.TempDir()
		testutil.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "vmdk", src, filepath.Join(d, "base.vmdk"))
		cmd := exec.Command("qemu-img", "create", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", "snap.vmdk")
		cmd.Dir = d
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		snap := filepath.Join(d, "snap.vmdk")
		testutil.Run(t, "", "qemu-io", "-f", "vmdk", "-c", "write -P 0x5a 64k 64k", snap)
		img, err := Open(snap)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		if !bytes.Equal(readAllImage(t, img), qemuRawOf(t, snap)) {
			t.Error("snapshot bytes differ from qemu-img's")
		}
		// The map goes through the parent, opened by image.
		checkQemuMap(t, img, snap)
	})
	t.Run("New without a path", func(t *testing.T) {
		b, _ := os.ReadFile(filepath.Join(dir, "monolithicFlat.img"))
		if _, err := New(bytes.NewReader(b), int64(len(b))); err == nil || !strings.Contains(err.Error(), "no opener") {
			t.Errorf("New on a descriptor: %v", err)
		}
	})
}

// TestVMDKChainPolicy: an extent naming a host file is refused through
// image unless --allow-backing names it.
func TestVMDKChainPolicy(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(t.TempDir(), "host-file")
	os.WriteFile(host, bytes.Repeat([]byte("secret\n"), 512), 0o644)
	p := filepath.Join(dir, "evil.vmdk")
	os.WriteFile(p, []byte("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 7 FLAT \""+host+"\" 0\n"), 0o644)
	if img, err := Open(p); !errors.Is(err, chain.ErrOutside) {
		if img != nil {
			img.Close()
		}
		t.Fatalf("Open = %v, want chain.ErrOutside", err)
	}
	img, err := OpenOptions(p, Options{AllowBacking: []string{host}})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if got := readAllImage(t, img); !bytes.HasPrefix(got, []byte("secret\n")) {
		t.Errorf("allowed extent reads %q", got[:16])
	}
}

// TestOpenAllOVA makes an OVA of two streamOptimized disks and opens it:
// OpenAll gives both, in the OVF's order; Open gives the first and warns.
func TestOpenAllOVA(t *testing.T) {
	testutil.NeedTools(t, "qemu-img", "tar")
	dir := t.TempDir()
	src := vmdkSource(t, dir)
	small := filepath.Join(dir, "small.raw")
	os.WriteFile(small, append(bytes.Repeat([]byte("second disk "), 1000), make([]byte, 1<<20)...)[:1<<20], 0o644)
	testutil.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, filepath.Join(dir, "app-disk1.vmdk"))
	testutil.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", small, filepath.Join(dir, "app-disk2.vmdk"))
	ovf := `<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-1" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:href="app-disk2.vmdk" ovf:id="file2" ovf:size="1"/>
    <File ovf:href="app-disk1.vmdk" ovf:id="file1" ovf:size="1"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" ovf:populatedSize="1"/>
    <Disk ovf:capacity="1048576" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="app"><Info>A virtual machine</Info></VirtualSystem>
</Envelope>
`
	os.WriteFile(filepath.Join(dir, "app.ovf"), []byte(ovf), 0o644)
	ova := filepath.Join(dir, "app.bin") // the name says nothing: content decides
	cmd := exec.Command("tar", "--format=ustar", "-cf", ova, "app.ovf", "app-disk2.vmdk", "app-disk1.vmdk")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	imgs, err := OpenAll(ova, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("OpenAll gave %d images", len(imgs))
	}
	for i, want := range []string{src, small} {
		raw, _ := os.ReadFile(want)
		if imgs[i].Format() != VMDK || !bytes.Equal(readAllImage(t, imgs[i]), raw) {
			t.Errorf("disk %d: format %v, bytes differ from its source", i+1, imgs[i].Format())
		}
	}
	// Closing the first leaves the second readable (they share the file).
	imgs[0].Close()
	if !bytes.Equal(readAllImage(t, imgs[1])[:12], []byte("second disk ")) {
		t.Error("second disk unreadable after the first was closed")
	}
	imgs[1].Close()

	var warned []string
	img, err := OpenOptions(ova, Options{Warn: func(s string) { warned = append(warned, s) }})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Size() != 2<<20 || len(warned) != 1 || !strings.Contains(warned[0], "2 disks") {
		t.Errorf("Open: size %d, warnings %q", img.Size(), warned)
	}
	if f := Detect(mustOpen(t, ova)); f != OVA {
		t.Errorf("Detect = %v, want ova", f)
	}
}

func mustOpen(t *testing.T, p string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	return f, st.Size()
}

// checkQemuMap compares img.Extents with qemu-img map --output=json,
// sector by sector: qemu's data is our !Hole, its zero our Zero.
func checkQemuMap(t *testing.T, img *Image, path string) {
	t.Helper()
	var qm []struct {
		Start, Length int64
		Data, Zero    bool
	}
	out := testutil.Run(t, "", "qemu-img", "map", "--output=json", path)
	if err := json.Unmarshal([]byte(out), &qm); err != nil {
		t.Fatal(err)
	}
	type state struct{ data, zero bool }
	secs := img.Size() / 512
	q, o := make([]state, secs), make([]state, secs)
	for _, e := range qm {
		for s := e.Start / 512; s < (e.Start+e.Length)/512 && s < secs; s++ {
			q[s] = state{e.Data, e.Zero}
		}
	}
	for off := int64(0); off < img.Size(); {
		exts, err := img.Extents(off, img.Size()-off)
		if err != nil || len(exts) == 0 {
			t.Fatalf("Extents(%#x) = %v, %v", off, exts, err)
		}
		for _, e := range exts {
			for s := e.Off / 512; s < e.End()/512 && s < secs; s++ {
				o[s] = state{!e.Hole, e.Zero}
			}
			off = e.End()
		}
	}
	for s := range q {
		if q[s] != o[s] {
			t.Fatalf("sector %d: qemu-img map says %+v, we say %+v", s, q[s], o[s])
		}
	}
}
