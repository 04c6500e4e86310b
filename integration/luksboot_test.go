package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// luksBootPass is the passphrase of luksboot.img's LUKS container: the
// guest's initramfs holds it, and bmaplogger is given it with --key.
const luksBootPass = "virt-bmap-luks-boot"

// luksBootImages is luksboot.img, built once per test run by
// LUKS=luksBootPass testimages/boot.sh: boot.img's disk with its ext4
// root inside a LUKS1 container written by qemu-img, and a guest that
// opens it itself with cryptsetup.
var luksBootImages = scriptImages{env: []string{"LUKS=" + luksBootPass}}

// TestLUKSBootTrace boots a guest that unlocks its root itself: SYSLINUX
// loads Linux from the FAT, the initramfs runs cryptsetup open on sda2
// and mounts the ext4 inside. Given the key, bmaplogger names the files
// the guest reads through dm-crypt on the decrypted volume
// (/dev/mapper/luks-UUID), at their ciphertext sectors; the same checks
// as TestBootTrace's hold, against The Sleuth Kit on the plaintext ext4
// placed at the ciphertext's offsets (luksboot.plain.img). The
// passphrase appears in no output.
func TestLUKSBootTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest under TCG (about 20 s): not in -short")
	}
	setup(t)
	testutil.NeedTools(t, "qemu-system-x86_64", "qemu-img", "cryptsetup", "blkid", "fls", "ifind", "istat",
		"apt-get", "dpkg-deb", "syslinux", "mkfs.fat", "mcopy", "cpio", "gzip")
	dir, layouts := luksBootImages.build(t, "boot.sh", "luksboot", "luksboot")
	img, plain := filepath.Join(dir, "luksboot.img"), filepath.Join(dir, "luksboot.plain.img")
	parts := layouts["luksboot"]
	if len(parts) != 2 || parts[0].FSType != "vfat" || parts[1].FSType != "crypto_LUKS" {
		t.Fatalf("luksboot.layout: want sda1 vfat and sda2 crypto_LUKS, got %+v", parts)
	}
	fat, luks := parts[0], parts[1]
	b, err := os.ReadFile(filepath.Join(dir, "luksboot.payload"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || payload <= 0 || payload%512 != 0 {
		t.Fatalf("luksboot.payload: %q", b)
	}
	// The container's UUID as blkid reads it names the decrypted volume.
	out, err := runTool("blkid", "-p", "-O", strconv.FormatInt(luks.Start*512, 10), "-s", "UUID", "-o", "value", img)
	if err != nil {
		t.Fatalf("blkid: %v\n%s", err, out)
	}
	ext := bootPart{
		Device: "/dev/mapper/luks-" + strings.TrimSpace(string(out)),
		Start:  luks.Start + payload/512,
		Size:   luks.Size - payload/512,
		FSType: "ext4",
	}
	names := map[string]map[string]flsEntry{}
	for _, p := range []bootPart{fat, ext} {
		es, err := fls(plain, p.Start)
		if err != nil {
			t.Fatal(err)
		}
		names[p.Device] = map[string]flsEntry{}
		for _, e := range es {
			names[p.Device]["/"+e.Path] = e
		}
	}
	bin := buildBmaplogger(t)
	tmp := t.TempDir()
	trace := filepath.Join(tmp, "trace.ndjson")
	qemu := "qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot -nic none -drive file=$uri,format=raw,if=virtio,readonly=on"
	stdout, console := captiveBoot(t, "luks", bin, img, trace, qemu, 5*time.Minute, bootMarker, bootFailed,
		"--key", "/dev/sda2:key:"+luksBootPass)
	if !strings.Contains(console, "init: opening /dev/vda2 with cryptsetup") || !strings.Contains(console, "init: mounting /dev/mapper/root") {
		t.Errorf("the guest did not open and mount its LUKS root:\n%s", tail(console, 30))
	}
	_, evs := readTrace(t, trace)
	t.Logf("luks: %d requests", len(evs))
	var d diffs
	checkBootTrace(t, &d, plain, evs, fat, ext, names)
	d.report(t, "LUKS boot trace (NDJSON)")
	var dc diffs
	checkBootConsole(&dc, stdout, ext.Device)
	dc.report(t, "LUKS boot trace (console)")
	tb, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(console, luksBootPass) || strings.Contains(string(tb), luksBootPass) {
		t.Error("the passphrase appears in bmaplogger's console or trace")
	}
}
