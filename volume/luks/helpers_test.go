package luks

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

const testPass = "correct horse battery"

// Cheap KDF parameters, so that a test unlocks in milliseconds.
var (
	cheapPBKDF2   = []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}
	cheapArgon2id = []string{"--pbkdf", "argon2id", "--pbkdf-memory", "32", "--pbkdf-force-iterations", "4"}
	cheapArgon2i  = []string{"--pbkdf", "argon2i", "--pbkdf-memory", "64", "--pbkdf-force-iterations", "4"}
)

// randomBytes returns n pseudo-random bytes (a fixed seed): every sector
// differs, so a wrong IV or key shows.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 17))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// luksFormat makes a size-byte file and formats it with cryptsetup, the
// passphrase on stdin.
func luksFormat(t testing.TB, path string, size int64, args ...string) {
	t.Helper()
	testutil.NeedTools(t, "cryptsetup")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	a := append([]string{"luksFormat", "--batch-mode", "--key-file", "-"}, args...)
	testutil.Run(t, testPass, "cryptsetup", append(a, path)...)
}

// luks2Encrypt writes plain to a file and encrypts it in place with
// cryptsetup's offline LUKS2 encryption (its own userspace encryptor, no
// device-mapper), which shifts the data by reduce/2 and puts the header in
// front: the payload's first len(plain)-reduce bytes are plain's first.
func luks2Encrypt(t testing.TB, path string, plain []byte, reduce int64, args ...string) {
	t.Helper()
	testutil.NeedTools(t, "cryptsetup")
	if err := os.WriteFile(path, plain, 0o644); err != nil {
		t.Fatal(err)
	}
	a := append([]string{"reencrypt", "--encrypt", "--type", "luks2", "--batch-mode", "--key-file", "-",
		"--reduce-device-size", strconv.FormatInt(reduce>>10, 10) + "k"}, args...)
	testutil.Run(t, testPass, "cryptsetup", append(a, path)...)
}

func qemuSecret(pass string) []string {
	return []string{"--object", "secret,id=sec0,data=" + pass}
}

// qemuWrite writes plain into the payload of the LUKS1 image with qemu's
// luks driver (an independent encryptor).
func qemuWrite(t testing.TB, img string, plain []byte) {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	src := filepath.Join(t.TempDir(), "plain.raw")
	if err := os.WriteFile(src, plain, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"convert", "-n"}, qemuSecret(testPass)...)
	args = append(args, "-f", "raw", src, "--target-image-opts", "driver=luks,key-secret=sec0,file.filename="+img)
	testutil.Run(t, "", "qemu-img", args...)
}

// qemuRead returns the payload of the LUKS1 image as qemu's luks driver
// decrypts it.
func qemuRead(t testing.TB, img string) []byte {
	t.Helper()
	testutil.NeedTools(t, "qemu-img")
	out := filepath.Join(t.TempDir(), "out.raw")
	args := append([]string{"convert"}, qemuSecret(testPass)...)
	args = append(args, "--image-opts", "driver=luks,key-secret=sec0,file.filename="+img, "-O", "raw", out)
	testutil.Run(t, "", "qemu-img", args...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dumpInfo is what cryptsetup luksDump says about an image.
type dumpInfo struct {
	uuid, cipher  string
	label         string // LUKS2; "" for "(no label)"
	payloadOffset int64
	sectorSize    int
	keyBits       int
	areaOffsets   []int64 // keyslot areas, in keyslot order
	volumeKey     []byte
}

var (
	reUUID    = regexp.MustCompile(`(?m)^UUID:\s+(\S+)`)
	reLabel   = regexp.MustCompile(`(?m)^Label:\s+(.*)$`)
	reCipher1 = regexp.MustCompile(`(?m)^Cipher name:\s+(\S+)\s+Cipher mode:\s+(\S+)`)
	reCipher2 = regexp.MustCompile(`(?m)^\s+cipher:\s+(\S+)`)
	rePayload = regexp.MustCompile(`(?m)^Payload offset:\s+(\d+)`)
	reOffset2 = regexp.MustCompile(`(?m)^\s+offset:\s+(\d+) \[bytes\]`)
	reSector  = regexp.MustCompile(`(?m)^\s+sector:\s+(\d+) \[bytes\]`)
	reMKBits  = regexp.MustCompile(`(?m)^MK bits:\s+(\d+)`)
	reKeyBits = regexp.MustCompile(`(?m)^\s+Key:\s+(\d+) bits`)
	reArea1   = regexp.MustCompile(`Key material offset:\s+(\d+)`)
	reArea2   = regexp.MustCompile(`Area offset:\s*(\d+) \[bytes\]`)
	reMKDump  = regexp.MustCompile(`MK dump:\s+((?:[0-9a-f]{2}\s+)+)`)
)

// luksDump runs cryptsetup luksDump, with --dump-volume-key.
func luksDump(t testing.TB, img string) dumpInfo {
	t.Helper()
	out := testutil.Run(t, "", "cryptsetup", "luksDump", img)
	var d dumpInfo
	atoi := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("luksDump: %v\n%s", err, out)
		}
		return n
	}
	must := func(re *regexp.Regexp) []string {
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("luksDump: no %v in\n%s", re, out)
		}
		return m
	}
	d.uuid = must(reUUID)[1]
	if strings.Contains(out, "Version:       \t1") {
		m := must(reCipher1)
		d.cipher = m[1] + "-" + m[2]
		d.payloadOffset = atoi(must(rePayload)[1]) * 512
		d.sectorSize = 512
		d.keyBits = int(atoi(must(reMKBits)[1]))
		for _, m := range reArea1.FindAllStringSubmatch(out, -1) {
			d.areaOffsets = append(d.areaOffsets, atoi(m[1])*512)
		}
	} else {
		d.cipher = must(reCipher2)[1]
		if d.label = must(reLabel)[1]; d.label == "(no label)" {
			d.label = ""
		}
		d.payloadOffset = atoi(must(reOffset2)[1])
		d.sectorSize = int(atoi(must(reSector)[1]))
		d.keyBits = int(atoi(must(reKeyBits)[1]))
		for _, m := range reArea2.FindAllStringSubmatch(out, -1) {
			d.areaOffsets = append(d.areaOffsets, atoi(m[1]))
		}
	}
	kout := testutil.Run(t, testPass, "cryptsetup", "luksDump", "--dump-volume-key", "--batch-mode", "--key-file", "-", img)
	hex := strings.Join(strings.Fields(must2(t, reMKDump, kout)), "")
	for i := 0; i+2 <= len(hex); i += 2 {
		v, err := strconv.ParseUint(hex[i:i+2], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		d.volumeKey = append(d.volumeKey, byte(v))
	}
	return d
}

func must2(t testing.TB, re *regexp.Regexp, out string) string {
	t.Helper()
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %v in cryptsetup output", re)
	}
	return m[1]
}

// openImage opens path read-only.
func openImage(t testing.TB, path string) (*os.File, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return f, st.Size()
}

// firstDiff describes where a and b first differ.
func firstDiff(a, b []byte) string {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return "first difference at byte " + strconv.Itoa(i) + " (sector " + strconv.Itoa(i/512) + ")"
		}
	}
	if len(a) != len(b) {
		return "lengths " + strconv.Itoa(len(a)) + " and " + strconv.Itoa(len(b))
	}
	return "equal"
}

var _ = bytes.Equal
var _ = exec.LookPath
