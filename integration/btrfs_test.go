package integration

import (
	"bytes"
	"compress/gzip"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/btrfs"
	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/volume/part"
)

// TestBtrfsFedoraGPT puts fs/btrfs's kernel-made Fedora image (subvolumes
// root and home, etc/os-release ID=fedora VERSION_ID=40, an fstab mounting
// subvol=root on /) in the second partition of a GPT disk laid out by
// sfdisk, finds it through fs/part and fs.Detect as the scanner does, and
// reads the root subvolume's files through the btrfs subvolume API.
func TestBtrfsFedoraGPT(t *testing.T) {
	testutil.NeedTools(t, "sfdisk")
	zf, err := os.Open(filepath.Join("..", "fs", "btrfs", "testdata", "fedora.img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer zf.Close()
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	fsImg, err := io.ReadAll(io.LimitReader(zr, 256<<20))
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	disk := filepath.Join(t.TempDir(), "disk.img")
	size := int64(2*mib + 32*mib + int64(len(fsImg)) + mib)
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, size); err != nil {
		t.Fatal(err)
	}
	// An EFI system partition, then the btrfs one (Linux filesystem).
	script := "label: gpt\nstart=2048, size=65536, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n" +
		"start=67584, size=" + strconv.FormatInt(int64(len(fsImg))/512, 10) + ", type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n"
	testutil.Run(t, script, "sfdisk", "-q", disk)
	fh, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteAt(fsImg, 67584*512); err != nil {
		t.Fatal(err)
	}

	tab, err := part.Read(fh, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Partitions) != 2 {
		t.Fatalf("partitions: %+v", tab.Partitions)
	}
	p := tab.Partitions[1]
	sec := io.NewSectionReader(fh, p.Start, p.Size)
	if ty := fs.Detect(sec, p.Size); ty.Name != "btrfs" {
		t.Fatalf("partition 2 detected as %+v", ty)
	}
	f, err := btrfs.New(sec, p.Size)
	if err != nil {
		t.Fatal(err)
	}
	subs, err := f.Subvolumes()
	if err != nil {
		t.Fatal(err)
	}
	var rootID uint64
	var paths []string
	for _, s := range subs {
		paths = append(paths, s.Path)
		if s.Path == "root" {
			rootID = s.ID
		}
	}
	if rootID == 0 || !strings.Contains(strings.Join(paths, ","), "home") {
		t.Fatalf("subvolumes %q: no root and home", paths)
	}
	root, err := f.Subvolume(rootID)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := iofs.ReadFile(root, "etc/os-release")
	if err != nil {
		t.Fatal(err)
	}
	// The bytes mkfixtures.sh wrote, read back through the partition.
	want := "NAME=\"Fedora Linux\"\nVERSION=\"40 (Workstation Edition)\"\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Workstation Edition)\"\n"
	if string(rel) != want {
		t.Errorf("root/etc/os-release = %q, want %q", rel, want)
	}
	fstab, err := iofs.ReadFile(root, "etc/fstab")
	if err != nil || !bytes.Contains(fstab, []byte(" / btrfs subvol=root")) {
		t.Errorf("root/etc/fstab = %q, %v", fstab, err)
	}
	// The default subvolume is the top level (Fedora sets none): the
	// same file through *FS is under root/.
	top, err := iofs.ReadFile(f, "root/etc/os-release")
	if err != nil || string(top) != want {
		t.Errorf("top level root/etc/os-release = %q, %v", top, err)
	}
}
