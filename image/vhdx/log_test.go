package vhdx

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
	"github.com/virt-bmap/virt-bmap/internal/testutil/imagetest"
)

// logWrite is one descriptor of a crafted log entry: 4 KiB of data at
// off, or zero bytes of zeros at off.
type logWrite struct {
	off  int64
	data []byte
	zero int64
}

// buildLogEntry lays out a log entry as MS-VHDX 2.3.1 describes it: the
// 64-byte header and the descriptors in the first sectors, then one data
// sector per data descriptor (its first 8 and last 4 bytes kept in the
// descriptor, the sequence number split around the rest), and the
// CRC-32C of the whole entry in the header.
func buildLogEntry(seq uint64, tail uint32, g guid, flushed, last int64, ws []logWrite) []byte {
	descSectors := (len(ws) + 2 + 127) / 128
	var data [][]byte
	for _, w := range ws {
		if w.data != nil {
			data = append(data, w.data)
		}
	}
	b := make([]byte, (descSectors+len(data))*logSector)
	copy(b, "loge")
	le.PutUint32(b[8:], uint32(len(b)))
	le.PutUint32(b[12:], tail)
	le.PutUint64(b[16:], seq)
	le.PutUint32(b[24:], uint32(len(ws)))
	copy(b[32:], g[:])
	le.PutUint64(b[48:], uint64(flushed))
	le.PutUint64(b[56:], uint64(last))
	di := 0
	for i, w := range ws {
		d := b[64+32*i:]
		if w.data != nil {
			copy(d, "desc")
			copy(d[4:8], w.data[4092:])
			copy(d[8:16], w.data[:8])
			s := b[(descSectors+di)*logSector:]
			copy(s, "data")
			le.PutUint32(s[4:], uint32(seq>>32))
			copy(s[8:4092], w.data[8:4092])
			le.PutUint32(s[4092:], uint32(seq))
			di++
		} else {
			copy(d, "zero")
			le.PutUint64(d[8:], uint64(w.zero))
		}
		le.PutUint64(d[16:], uint64(w.off))
		le.PutUint64(d[24:], seq)
	}
	le.PutUint32(b[4:], crc32c(b, 4))
	return b
}

var testLogGUID = mustGUID("0DDBA11A-5EED-4C0D-9A3E-123456789ABC")

// makeDirty writes a log of two entries into v (a clean dynamic disk of
// 1 MiB blocks qemu made): the first overwrites 4 KiB of a present block
// and zeroes 8 KiB of it; the second allocates a new block past the end
// of the file (its BAT sector, 4 KiB of data, zeros for the rest) as a
// writer extending the file would. Then the current header gets the log's
// GUID: the disk looks as if it stopped before the log was flushed.
func makeDirty(t testing.TB, v *vhdxFile) (entry1 []byte, logAt int64) {
	t.Helper()
	c := v.cur()
	logAt = int64(le.Uint64(v.b[c+72:]))
	fp, _ := v.metaItem(metaFileParameters)
	bs := int64(le.Uint32(v.b[fp:]))
	cr := sectorsPerChunk * 512 / bs
	present, absent := -1, -1
	for i := 0; i < 6; i++ {
		switch entryState(v.batEntry(i)) {
		case stateFullyPresent:
			if present < 0 {
				present = i
			}
		default:
			if absent < 0 {
				absent = i
			}
		}
	}
	if present < 0 || absent < 0 {
		t.Fatalf("the test image wants a present and an absent block among the first six")
	}
	pOff := entryOffset(v.batEntry(present))
	fileSize := int64(len(v.b))
	newOff := (fileSize + mib - 1) &^ (mib - 1)
	batAt := v.region(regionBAT)
	idx := int64(absent) + int64(absent)/cr
	secAt := (batAt + 8*idx) &^ (logSector - 1)
	bat := append([]byte(nil), v.b[secAt:secAt+logSector]...)
	le.PutUint64(bat[batAt+8*idx-secAt:], uint64(newOff)|stateFullyPresent)

	e1 := buildLogEntry(5, 0, testLogGUID, fileSize, fileSize, []logWrite{
		{off: pOff + 8192, data: bytes.Repeat([]byte{0xc3, 0x3c, 0x5a, 0xa5}, 1024)},
		{off: pOff + 64<<10, zero: 8192},
	})
	e2 := buildLogEntry(6, 0, testLogGUID, fileSize, newOff+bs, []logWrite{
		{off: secAt, data: bat},
		{off: newOff, data: bytes.Repeat([]byte("new block via the log "), 187)[:4096]},
		{off: newOff + 4096, zero: bs - 4096},
	})
	copy(v.b[logAt:], e1)
	copy(v.b[logAt+int64(len(e1)):], e2)
	copy(v.b[c+48:], testLogGUID[:])
	v.fixHeader(c)
	return e1, logAt
}

// makeClean makes a dynamic VHDX of 1 MiB blocks with qemu: blocks 0, 2
// and 3 written by qemu-io, the others absent.
func makeClean(t testing.TB, dir string) string {
	t.Helper()
	testutil.NeedTools(t, "qemu-img", "qemu-io")
	p := filepath.Join(dir, "clean.vhdx")
	imagetest.QemuImg(t, "create", "-f", "vhdx", "-o", "block_size=1M", p, "6M")
	imagetest.QemuIO(t, "vhdx", p, "write -P 0x61 0 1M", "write -P 0x62 2M 1M", "write -P 0x63 3M 100k")
	return p
}

// TestDirtyLog replays a crafted dirty log in memory and compares the
// disk with what qemu reads after qemu-img check -r all replays the same
// log into a copy of the file. qemu itself refuses to open the dirty file
// read-only ("contains a log that needs to be replayed"), which the test
// checks too. The dirty file is never written to.
func TestDirtyLog(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	clean := makeClean(t, dir)
	v := loadVHDX(t, clean)
	makeDirty(t, v)
	dirty := filepath.Join(dir, "dirty.vhdx")
	v.write(t, dirty)

	out, err := exec.Command("qemu-img", "convert", "-O", "raw", dirty, filepath.Join(dir, "x.raw")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "replay") {
		t.Fatalf("qemu-img convert of a dirty VHDX: %v, %s; want a refusal that says to replay the log", err, out)
	}
	fixed := filepath.Join(dir, "fixed.vhdx")
	testutil.Run(t, "", "cp", dirty, fixed)
	exec.Command("qemu-img", "check", "-r", "all", fixed).Run() // replays; exits non-zero when it repaired
	want := imagetest.QemuRaw(t, fixed, "vhdx")

	before := imagetest.MustRead(t, dirty)
	var warned []string
	o := &testOpener{Warn: func(m string) { warned = append(warned, m) }}
	d, err := o.Open(dirty)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Info().LogReplayed || len(warned) != 1 || !strings.Contains(warned[0], "replayed 2 log entries") {
		t.Fatalf("info %+v, warnings %q", d.Info(), warned)
	}
	if bytes.Equal(want, imagetest.QemuRaw(t, clean, "vhdx")) {
		t.Fatal("the log changes nothing qemu sees: the test is void")
	}
	checkRead(t, d, want)
	exts := imagetest.AllExtents(t, d, d.Size())
	imagetest.CheckZeros(t, exts, want)
	// The block the log allocated (block 1) is data now.
	for _, e := range exts {
		if e.Off < 2<<20 && e.End() > 1<<20 && (e.Hole || e.Zero) {
			t.Fatalf("extent %+v: the block the log allocated is not data", e)
		}
	}
	if !bytes.Equal(before, imagetest.MustRead(t, dirty)) {
		t.Fatal("the dirty file changed")
	}
}

// TestDirtyLogBroken: logs that cannot be replayed are refused with
// ErrLog, and a log whose only entry is torn has nothing to replay (as
// qemu, which then opens the file read-only and reads it as it is).
func TestDirtyLogBroken(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	clean := makeClean(t, dir)
	base := loadVHDX(t, clean)

	t.Run("tail entry torn", func(t *testing.T) {
		v := base.clone()
		_, logAt := makeDirty(t, v)
		v.b[logAt+logSector+100] ^= 0xff // a data sector of entry 1
		p := filepath.Join(dir, "torn-tail.vhdx")
		v.write(t, p)
		if _, err := openPath(t, p); !errors.Is(err, ErrLog) || !strings.Contains(err.Error(), "broken") {
			t.Fatalf("open: %v, want ErrLog (broken sequence)", err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		v := base.clone()
		makeDirty(t, v)
		// Cut the file below FlushedFileOffset: the last MiB.
		v.b = v.b[:len(v.b)-4096]
		p := filepath.Join(dir, "truncated.vhdx")
		v.write(t, p)
		if _, err := openPath(t, p); !errors.Is(err, ErrLog) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("open: %v, want ErrLog (truncated)", err)
		}
	})
	t.Run("only entry torn", func(t *testing.T) {
		v := base.clone()
		e1, logAt := makeDirty(t, v)
		clear(v.b[logAt+int64(len(e1)) : logAt+int64(len(e1))+4*logSector]) // entry 2 gone
		v.b[logAt+logSector+100] ^= 0xff                                    // entry 1 torn
		p := filepath.Join(dir, "torn.vhdx")
		v.write(t, p)
		want := imagetest.QemuRaw(t, p, "vhdx")
		var warned []string
		o := &testOpener{Warn: func(m string) { warned = append(warned, m) }}
		d, err := o.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if d.Info().LogReplayed || len(warned) != 1 || !strings.Contains(warned[0], "no valid entry") {
			t.Fatalf("info %+v, warnings %q", d.Info(), warned)
		}
		checkRead(t, d, want)
	})
}

// TestDirtyLogWrap: the log is a circular buffer; an entry that starts in
// its last sector goes on in its first. Compared with qemu-img check -r
// all's replay of the same file.
func TestDirtyLogWrap(t *testing.T) {
	testutil.NeedTools(t, "qemu-img")
	dir := t.TempDir()
	v := loadVHDX(t, makeClean(t, dir))
	c := v.cur()
	logAt, logLen := int64(le.Uint64(v.b[c+72:])), int64(le.Uint32(v.b[c+68:]))
	nsec := logLen / logSector
	pOff := entryOffset(v.batEntry(0))
	e := buildLogEntry(9, uint32((nsec-1)*logSector), testLogGUID, int64(len(v.b)), int64(len(v.b)), []logWrite{
		{off: pOff + 4096, data: bytes.Repeat([]byte("wrapped "), 512)},
		{off: pOff + 3*4096, data: bytes.Repeat([]byte("around! "), 512)},
	})
	copy(v.b[logAt+(nsec-1)*logSector:], e[:logSector])
	copy(v.b[logAt:], e[logSector:])
	copy(v.b[c+48:], testLogGUID[:])
	v.fixHeader(c)
	dirty := filepath.Join(dir, "wrap.vhdx")
	v.write(t, dirty)
	fixed := filepath.Join(dir, "fixed.vhdx")
	testutil.Run(t, "", "cp", dirty, fixed)
	exec.Command("qemu-img", "check", "-r", "all", fixed).Run()
	want := imagetest.QemuRaw(t, fixed, "vhdx")
	if !bytes.Contains(want, []byte("wrapped around! ")) && !bytes.Contains(want, []byte("around! around! ")) {
		t.Fatal("qemu did not replay the entry: the test is void")
	}
	d, err := openPath(t, dirty)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Info().LogReplayed {
		t.Fatal("log not replayed")
	}
	checkRead(t, d, want)
}
