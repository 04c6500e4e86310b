package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/inspect"
)

// fullResult has every fact writeXML knows set, for a Linux and a
// Windows root, so the schema check sees every element we can write.
func fullResult() *inspect.Result {
	return &inspect.Result{OperatingSystems: []inspect.OS{
		{
			Root: "/dev/sda2", Name: "linux", Arch: "x86_64", Distro: "archlinux",
			ProductName: "Arch Linux", ProductVariant: "Server", MajorVersion: 0, MinorVersion: 0,
			PackageFormat: "pacman", PackageManagement: "pacman", Hostname: "h",
			BuildID: "rolling", OSInfo: "archlinux",
			Mountpoints: []inspect.Mountpoint{{Device: "/dev/sda2", Path: "/"}, {Device: "/dev/sda1", Path: "/boot"}},
			Filesystems: []inspect.Filesystem{{Device: "/dev/sda2", Type: "ext4", Label: "root", UUID: "0b1e6c00-0000-4000-8000-000000000005"}},
			Applications: []inspect.Application{{
				Name: "a", DisplayName: "A", Epoch: 1, Version: "1.0", Release: "2", Arch: "x86_64",
				InstallPath: "/opt/a", Publisher: "p", URL: "https://example.org/", SourcePackage: "a-src",
				Summary: "s", Description: "d <&> \"q\"",
			}},
			Icon: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR not a whole PNG, only bytes to round-trip"),
		},
		{
			Root: "/dev/sdb2", Name: "windows", Arch: "x86_64", Distro: "windows",
			ProductName: "Windows 10 Pro", ProductVariant: "Client", MajorVersion: 10, MinorVersion: 0,
			WindowsSystemRoot: "/Windows", WindowsCurrentControlSet: "ControlSet001",
			Hostname: "WIN", BuildID: "19045", OSInfo: "win10",
			Mountpoints:   []inspect.Mountpoint{{Device: "/dev/sdb2", Path: "/"}},
			Filesystems:   []inspect.Filesystem{{Device: "/dev/sdb2", Type: "ntfs"}},
			DriveMappings: []inspect.DriveMapping{{Name: "C", Device: "/dev/sdb2"}},
		},
	}}
}

// TestXMLNoBuildID: build_id is not in virt-inspector.rng (libguestfs
// leaves it out of its XML), so ours must not write it either; it stays in
// the JSON.
func TestXMLNoBuildID(t *testing.T) {
	var b bytes.Buffer
	if err := writeXML(&b, fullResult(), true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "build_id") {
		t.Errorf("XML has build_id, which virt-inspector.rng does not allow:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "<windows_current_control_set>ControlSet001</windows_current_control_set>") {
		t.Errorf("XML lacks the control set:\n%s", b.String())
	}
}

// TestXMLIcon: the icon is the base64 of the PNG bytes, in <icon> after
// <applications> (the schema's place), and absent when there is none.
func TestXMLIcon(t *testing.T) {
	res := fullResult()
	var b bytes.Buffer
	if err := writeXML(&b, res, true); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OS []struct {
			Icon *string `xml:"icon"`
		} `xml:"operatingsystem"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.OS) != 2 || doc.OS[0].Icon == nil || doc.OS[1].Icon != nil {
		t.Fatalf("want an icon on the first OS only:\n%s", b.String())
	}
	got, err := base64.StdEncoding.DecodeString(*doc.OS[0].Icon)
	if err != nil || !bytes.Equal(got, res.OperatingSystems[0].Icon) {
		t.Errorf("icon decodes to %q (%v), want %q", got, err, res.OperatingSystems[0].Icon)
	}
	if i, j := strings.Index(b.String(), "</applications>"), strings.Index(b.String(), "<icon>"); i < 0 || j < i {
		t.Errorf("<icon> not after </applications>:\n%s", b.String())
	}
}

// rngPath finds libguestfs' virt-inspector.rng: $VIRT_INSPECTOR_RNG, or
// where Debian's guestfs-tools installs it (gzip'ed); "" if not found.
func rngPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("VIRT_INSPECTOR_RNG"),
		"/usr/share/doc/guestfs-tools/virt-inspector.rng",
		"/usr/share/doc/guestfs-tools/virt-inspector.rng.gz",
		"/usr/share/doc/libguestfs-tools/virt-inspector.rng",
		"/usr/share/doc/libguestfs-tools/virt-inspector.rng.gz",
		"/usr/share/guestfs-tools/virt-inspector.rng"} {
		if p == "" {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		if !strings.HasSuffix(p, ".gz") {
			return p
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out := filepath.Join(t.TempDir(), "virt-inspector.rng")
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	return ""
}

// TestXMLSchema validates writeXML's output, with every fact set, against
// libguestfs' own schema with xmllint (Debian libxml2-utils and
// guestfs-tools); the golden guests are checked the same way.
func TestXMLSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not found (Debian libxml2-utils)")
	}
	rng := rngPath(t)
	if rng == "" {
		t.Skip("virt-inspector.rng not found (Debian guestfs-tools; or set VIRT_INSPECTOR_RNG)")
	}
	docs := map[string][]byte{}
	var b bytes.Buffer
	if err := writeXML(&b, fullResult(), true); err != nil {
		t.Fatal(err)
	}
	docs["full"] = b.Bytes()
	b = bytes.Buffer{}
	if err := writeXML(&b, fullResult(), false); err != nil {
		t.Fatal(err)
	}
	docs["no-applications"] = b.Bytes()
	for _, g := range guestNames {
		data, err := os.ReadFile(filepath.Join("testdata", g+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		docs["golden-"+g] = data
	}
	dir := t.TempDir()
	for name, data := range docs {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".xml")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(xmllint, "--noout", "--relaxng", rng, p).CombinedOutput()
			if err != nil {
				t.Errorf("xmllint --relaxng %s: %v\n%s\n%s", rng, err, out, data)
			}
		})
	}
}
