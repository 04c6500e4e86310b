package ova

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// ovfText is an OVF 1.0 descriptor as VirtualBox writes it (trimmed of
// the hardware items that do not matter here), with one Disk per entry of
// disks: file id, href, capacity in bytes.
func ovfText(disks ...[3]string) string {
	var refs, ds strings.Builder
	for i, d := range disks {
		if d[1] != "" {
			fmt.Fprintf(&refs, "    <File ovf:id=%q ovf:href=%q/>\n", d[0], d[1])
		}
		fileRef := ""
		if d[0] != "" {
			fileRef = fmt.Sprintf(" ovf:fileRef=%q", d[0])
		}
		fmt.Fprintf(&ds, "    <Disk ovf:capacity=%q ovf:diskId=\"vmdisk%d\"%s ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\" vbox:uuid=\"6a3b2c1d-0000-4000-8000-00000000000%d\"/>\n",
			d[2], i+1, fileRef, i)
	}
	return `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>
` + refs.String() + `  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
` + ds.String() + `  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT"><Description>Logical network used by this appliance.</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="test-appliance">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="96"><Info>The kind of installed guest operating system</Info><Description>Debian_64</Description></OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName><vssd:InstanceID>0</vssd:InstanceID><vssd:VirtualSystemIdentifier>test-appliance</vssd:VirtualSystemIdentifier><vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType></System>
      <Item><rasd:Caption>disk1</rasd:Caption><rasd:HostResource>/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>9</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`
}

// makeAppliance writes an .ovf and streamOptimized VMDKs made by qemu-img
// from raw sources, and tars them (ovf first) in the given tar format.
func makeAppliance(t *testing.T, dir, format string, ovf string, files map[string][]byte, order []string) string {
	t.Helper()
	testutil.NeedTools(t, "tar")
	if err := os.WriteFile(filepath.Join(dir, "appliance.ovf"), []byte(ovf), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "appliance-"+format+".ova")
	cmd := exec.Command("tar", append([]string{"--format=" + format, "-cf", out, "appliance.ovf"}, order...)...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	return out
}

func vmdkOf(t *testing.T, dir, name string, size int64, seed byte) []byte {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	raw := make([]byte, size)
	for i := int64(0); i < size; i += 4096 * int64(seed) {
		copy(raw[i:], fmt.Sprintf("disk %s block %d", name, i))
	}
	src := filepath.Join(dir, name+".raw")
	os.WriteFile(src, raw, 0o644)
	out := filepath.Join(dir, name)
	testutil.Run(t, "", "qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	d1 := vmdkOf(t, dir, "test-disk1.vmdk", 3<<20, 3)
	d2 := vmdkOf(t, dir, "test-disk2.vmdk", 1<<20, 5)
	ovf := ovfText([3]string{"file1", "test-disk1.vmdk", fmt.Sprint(3 << 20)}, [3]string{"file2", "test-disk2.vmdk", fmt.Sprint(1 << 20)})
	for _, format := range []string{"ustar", "pax", "gnu"} {
		t.Run(format, func(t *testing.T) {
			// The disks are stored in the other order than the OVF's.
			p := makeAppliance(t, dir, format, ovf, nil, []string{"test-disk2.vmdk", "test-disk1.vmdk"})
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			if !Probe(f, st.Size()) {
				t.Fatal("Probe does not recognise the OVA")
			}
			a, err := Open(f, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			if a.OVF != "appliance.ovf" || len(a.Disks) != 2 {
				t.Fatalf("Open = %+v", a)
			}
			for i, want := range [][]byte{d1, d2} {
				d := a.Disks[i]
				if d.Name != fmt.Sprintf("test-disk%d.vmdk", i+1) || d.ID != fmt.Sprintf("vmdisk%d", i+1) || d.Size != int64(len(want)) ||
					!strings.HasSuffix(d.Format, "#streamOptimized") {
					t.Errorf("disk %d = %+v", i, d)
				}
				got, err := io.ReadAll(io.NewSectionReader(d.R, 0, d.Size))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("disk %d: the bytes read out of the tar differ from the file (%v)", i, err)
				}
			}
			if a.Disks[0].Capacity != 3<<20 || a.Disks[1].Capacity != 1<<20 {
				t.Errorf("capacities %d %d", a.Disks[0].Capacity, a.Disks[1].Capacity)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	testutil.NeedTools(t, "tar")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.vmdk"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.ovf"), []byte("<Envelope/>"), 0o644)
	long := strings.Repeat("l", 120) + ".ovf"
	os.WriteFile(filepath.Join(dir, long), []byte("<Envelope/>"), 0o644)
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--format=ustar", "a.vmdk", "b.ovf"}, false}, // the OVF must come first
		{[]string{"--format=gnu", long, "a.vmdk"}, true},       // a GNU long name
		{[]string{"--format=pax", long}, true},                 // a pax path record
		{[]string{"--format=ustar", "b.ovf"}, true},
	} {
		out := filepath.Join(dir, "t.tar")
		cmd := exec.Command("tar", append([]string{"-cf", out}, c.args...)...)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tar: %v\n%s", err, b)
		}
		b, _ := os.ReadFile(out)
		if got := Probe(bytes.NewReader(b), int64(len(b))); got != c.want {
			t.Errorf("Probe(tar %v) = %v, want %v", c.args, got, c.want)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 4096), bytes.Repeat([]byte("ustar"), 1000)} {
		if Probe(bytes.NewReader(b), int64(len(b))) {
			t.Errorf("Probe(%d bytes) = true", len(b))
		}
	}
}

// TestBad: OVAs that must be refused, each with its reason.
func TestBad(t *testing.T) {
	dir := t.TempDir()
	disk := vmdkOf(t, dir, "d.vmdk", 1<<20, 2)
	files := map[string][]byte{"d.vmdk": disk}
	cases := []struct {
		name  string
		ovf   string
		order []string
		want  string
	}{
		{"missing file reference", ovfText([3]string{"nofile", "", "1048576"}), []string{"d.vmdk"}, "References does not list"},
		{"file not in the tar", ovfText([3]string{"f", "other.vmdk", "1048576"}), []string{"d.vmdk"}, "not in the archive"},
		{"href leaves the appliance", ovfText([3]string{"f", "../../etc/passwd", "1"}), []string{"d.vmdk"}, "not a plain name"},
		{"absolute href", ovfText([3]string{"f", "/etc/passwd", "1"}), []string{"d.vmdk"}, "not a plain name"},
		{"URL href", ovfText([3]string{"f", "http://example.com/d.vmdk", "1"}), []string{"d.vmdk"}, "not a plain name"},
		{"gzip", strings.Replace(ovfText([3]string{"f", "d.vmdk", "1048576"}), `ovf:href="d.vmdk"`, `ovf:href="d.vmdk" ovf:compression="gzip"`, 1), []string{"d.vmdk"}, "compressed with gzip"},
		{"chunked", strings.Replace(ovfText([3]string{"f", "d.vmdk", "1048576"}), `ovf:href="d.vmdk"`, `ovf:href="d.vmdk" ovf:chunkSize="1000000"`, 1), []string{"d.vmdk"}, "split in chunks"},
		{"no disk", ovfText(), []string{"d.vmdk"}, "lists no disk"},
		{"bad XML", "<Envelope><DiskSection>", []string{"d.vmdk"}, "bad XML"},
		{"blank disk without capacity", ovfText([3]string{"", "", "${size}"}), []string{"d.vmdk"}, "not a number"},
		{"bad capacity unit", strings.Replace(ovfText([3]string{"", "", "1"}), "ovf:capacity=", `ovf:capacityAllocationUnits="furlong" ovf:capacity=`, 1), nil, "unknown capacity unit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			p := makeAppliance(t, d, "ustar", c.ovf, files, c.order)
			b, _ := os.ReadFile(p)
			_, err := Open(bytes.NewReader(b), int64(len(b)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open = %v, want an error with %q", err, c.want)
			}
		})
	}
	// A tar member whose name leaves the directory is never opened: only
	// names the OVF gives are looked up, and those must be plain.
	t.Run("truncated", func(t *testing.T) {
		p := makeAppliance(t, t.TempDir(), "ustar", ovfText([3]string{"f", "d.vmdk", "1048576"}), files, []string{"d.vmdk"})
		b, _ := os.ReadFile(p)
		_, err := Open(bytes.NewReader(b[:len(b)/2]), int64(len(b)/2))
		if err == nil {
			t.Fatal("a truncated OVA was accepted")
		}
	})
	t.Run("not a tar", func(t *testing.T) {
		_, err := Open(bytes.NewReader(disk), int64(len(disk)))
		if err == nil {
			t.Fatal("a VMDK was accepted as an OVA")
		}
	})
	t.Run("blank disk", func(t *testing.T) {
		p := makeAppliance(t, t.TempDir(), "ustar", strings.Replace(ovfText([3]string{"", "", "2"}), "ovf:capacity=", `ovf:capacityAllocationUnits="byte * 2^20" ovf:capacity=`, 1), nil, nil)
		b, _ := os.ReadFile(p)
		a, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		d := a.Disks[0]
		buf := make([]byte, 100)
		if d.Size != 2<<20 || d.Name != "" {
			t.Fatalf("blank disk = %+v", d)
		}
		if n, err := d.R.ReadAt(buf, d.Size-50); n != 50 || !errors.Is(err, io.EOF) || !bytes.Equal(buf[:50], make([]byte, 50)) {
			t.Errorf("blank disk read = %d, %v", n, err)
		}
	})
}

func TestTraversalMember(t *testing.T) {
	testutil.NeedTools(t, "tar")
	// A tar whose member is called "../d.vmdk", referenced by that name:
	// refused because the href is not plain, whatever the tar holds.
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(dir, "d.vmdk"), []byte("data"), 0o644)
	os.WriteFile(filepath.Join(sub, "a.ovf"), []byte(ovfText([3]string{"f", "../d.vmdk", "4"})), 0o644)
	out := filepath.Join(dir, "t.ova")
	cmd := exec.Command("tar", "-cf", out, "a.ovf", "../d.vmdk")
	cmd.Dir = sub
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(out)
	if _, err := Open(bytes.NewReader(b), int64(len(b))); err == nil || !strings.Contains(err.Error(), "not a plain name") {
		t.Fatalf("Open = %v", err)
	}
}

func TestCapacityUnits(t *testing.T) {
	for _, c := range []struct {
		capacity, units string
		want            int64
	}{
		{"16", "byte * 2^30", 16 << 30},
		{"1024", "", 1024},
		{"3", "MegaBytes", 3 << 20},
		{"5", "byte*2^20", 5 << 20},
		{" 7 ", "byte", 7},
	} {
		got, err := DiskRef{Capacity: c.capacity, Units: c.units}.CapacityBytes()
		if err != nil || got != c.want {
			t.Errorf("capacity %q %q = %d, %v; want %d", c.capacity, c.units, got, err, c.want)
		}
	}
	for _, c := range [][2]string{{"-1", ""}, {"9223372036854775807", "byte * 2^30"}, {"1", "byte * 2^99"}} {
		if _, err := (DiskRef{Capacity: c[0], Units: c[1]}).CapacityBytes(); err == nil {
			t.Errorf("capacity %q %q accepted", c[0], c[1])
		}
	}
}

// FuzzOVF parses arbitrary OVF descriptors and reads every capacity.
func FuzzOVF(f *testing.F) {
	f.Add([]byte(ovfText([3]string{"file1", "a.vmdk", "1048576"}, [3]string{"", "", "2"})))
	f.Add([]byte(`<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/2"><References><File id="x" href="y"/></References><DiskSection><Disk capacity="1" capacityAllocationUnits="byte * 2^20" fileRef="x"/></DiskSection></Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseOVF(b)
		if err != nil {
			return
		}
		for _, d := range env.Disks {
			if c, err := d.CapacityBytes(); err == nil && c < 0 {
				t.Fatalf("negative capacity %d", c)
			}
		}
	})
}

// FuzzOpen opens arbitrary archives (seeded with a small OVA made here).
func FuzzOpen(f *testing.F) {
	if _, err := exec.LookPath("tar"); err == nil {
		dir := f.TempDir()
		os.WriteFile(filepath.Join(dir, "a.ovf"), []byte(ovfText([3]string{"f", "d.vmdk", "4"})), 0o644)
		os.WriteFile(filepath.Join(dir, "d.vmdk"), []byte("disk"), 0o644)
		cmd := exec.Command("tar", "--format=ustar", "-cf", "t.ova", "a.ovf", "d.vmdk")
		cmd.Dir = dir
		if err := cmd.Run(); err == nil {
			b, _ := os.ReadFile(filepath.Join(dir, "t.ova"))
			f.Add(bytes.TrimRight(b, "\x00"))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = Probe(bytes.NewReader(b), int64(len(b)))
		a, err := Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, d := range a.Disks {
			buf := make([]byte, 16)
			d.R.ReadAt(buf, 0)
		}
	})
}
