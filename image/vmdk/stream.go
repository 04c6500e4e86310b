package vmdk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
	"github.com/virt-bmap/virt-bmap/internal/diskerr"
)

// A compressed grain of a streamOptimized extent starts with a grain
// marker: the grain's first sector (LBA, relative to the extent) and the
// size of the zlib stream (RFC 1950, as qemu and VMware write it) that
// follows.
const markerHeaderLen = 12 // uint64 lba, uint32 size

// compressedGrain returns the inflated grain whose marker is at host, for
// the grain that holds extent offset off, or at least its first need
// bytes; grains are cached.
//
// A read that misses the cache inflates only as far as it needs: deflate
// cannot start in the middle of a grain, but it can stop, and a 4 KiB
// read at a random place in a 64 KiB grain needs half of it on average
// (qemu inflates it whole). That prefix is cached; a later read that
// needs more of the grain than is cached inflates the whole grain, so
// small reads walking through a grain cost one inflation and a bit, not
// one each. The zlib checksum covers the whole grain, so it is checked
// whenever a grain is inflated whole (every sequential read, and that
// second inflation), not on a partial one.
func (s *sparse) compressedGrain(host, off, need int64) ([]byte, error) {
	k := cacheKey{s.id, uint64(host)}
	b, ok := s.c.grain.Get(k)
	if ok && int64(len(b)) >= need {
		return b, nil
	}
	n := s.grainLen(off)
	if !ok {
		n = min(n, need)
	}
	b = make([]byte, n)
	if err := s.inflateGrain(b, host, off); err != nil {
		return nil, err
	}
	s.c.grain.Add(k, b, int64(len(b))+64)
	return b, nil
}

// grainLen is the length of the grain holding extent offset off: a whole
// grain, or less for the last grain of an extent whose capacity is not a
// multiple of the grain size.
func (s *sparse) grainLen(off int64) int64 {
	g := off / s.grain * s.grain
	return min(s.grain, s.capacity-g)
}

// inflateGrain reads the marker at host and inflates its grain into out,
// which is grainLen(off) bytes long, or shorter for the grain's first
// bytes only; a whole grain must inflate to at least grainLen(off) and at
// most a whole grain, with a good checksum.
func (s *sparse) inflateGrain(out []byte, host, off int64) error {
	g := off / s.grain
	what := "grain marker"
	prefix := int64(len(out)) < s.grainLen(off)
	// One read for the marker and, usually, all of its data: a compressed
	// grain is rarely larger than the grain itself. For the first bytes
	// of a grain only, the data they inflate from: deflate expands what
	// does not compress by a few bytes a block (stored blocks), so an
	// eighth more is plenty; if it falls short, the rest is read below.
	want := s.grain
	if prefix {
		want = min(want, int64(len(out))+prefixSlack(int64(len(out))))
	}
	bp := getBuf(markerHeaderLen + 2*s.grain)
	defer putBuf(bp)
	buf := (*bp)[:min(markerHeaderLen+want, max(0, s.size-host))]
	n, err := s.r.ReadAt(buf, host)
	if n < markerHeaderLen {
		return &diskerr.FormatError{FS: "vmdk", Off: host, What: fmt.Sprintf("%s of grain %d of %s", what, g, s.name), Msg: "truncated", Err: orEOF(err)}
	}
	lba, size := le.Uint64(buf[0:]), int64(le.Uint32(buf[8:]))
	if want := uint64(g) * (uint64(s.grain) / sectorSize); lba != want {
		return formatErr(host, fmt.Sprintf("%s of grain %d of %s", what, g, s.name), "names sector %d, the grain table sector %d", lba, want)
	}
	// qemu reads at most two grains for a marker and its data.
	if size == 0 || size > 2*s.grain {
		return formatErr(host, fmt.Sprintf("%s of grain %d of %s", what, g, s.name), "bad compressed size %d (grain of %d bytes)", size, s.grain)
	}
	if host+markerHeaderLen+size > s.size {
		return formatErr(host, fmt.Sprintf("%s of grain %d of %s", what, g, s.name), "compressed data of %d bytes runs past the end of the file (%d bytes)", size, s.size)
	}
	in := (*bp)[markerHeaderLen : markerHeaderLen+size]
	have := min(int64(n)-markerHeaderLen, size)
	if prefix && have < size && inflate(out, in[:have], s.grain, true) == nil {
		return nil
	}
	if have < size {
		if m, err := s.r.ReadAt(in[have:], host+markerHeaderLen+have); int64(m) < size-have {
			return fmt.Errorf("vmdk: %s: reading grain %d at %#x: %w", s.name, g, host, orEOF(err))
		}
	}
	if err := inflate(out, in, s.grain, prefix); err != nil {
		return &diskerr.FormatError{FS: "vmdk", Off: host, What: fmt.Sprintf("compressed grain %d of %s", g, s.name), Err: err}
	}
	return nil
}

// prefixSlack is how many bytes of compressed data beyond n are read for
// the first n bytes of a grain (a variable for the tests, which make it
// too small to see the rest read).
var prefixSlack = func(n int64) int64 { return n/8 + 1024 }

// bufs recycles the buffers compressed grains are read into.
var bufs sync.Pool

func getBuf(n int64) *[]byte {
	if v := bufs.Get(); v != nil {
		b := v.(*[]byte)
		if int64(cap(*b)) >= n {
			*b = (*b)[:n]
			return b
		}
	}
	b := make([]byte, n)
	return &b
}

func putBuf(b *[]byte) { bufs.Put(b) }

var errGrainSize = errors.New("grain inflates to the wrong size")

// zlibReaders recycles zlib readers, which are costly to make, and
// flateReaders the raw deflate readers of inflatePrefix.
var zlibReaders, flateReaders sync.Pool

// inflate inflates the zlib stream in into out, which it must fill; the
// stream may hold up to max bytes (a whole grain) and no more, and its
// checksum must match. With prefix, out takes the first bytes of the
// stream only, and the rest of it (with the checksum) is not read.
func inflate(out, in []byte, max int64, prefix bool) error {
	if prefix {
		return inflatePrefix(out, in)
	}
	src := bytes.NewReader(in)
	var zr io.ReadCloser
	if v := zlibReaders.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(src, nil); err != nil {
			return err
		}
	} else {
		var err error
		if zr, err = zlib.NewReader(src); err != nil {
			return err
		}
	}
	defer zlibReaders.Put(zr)
	n, err := io.ReadFull(zr, out)
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return fmt.Errorf("%w: %d bytes, want %d", errGrainSize, n, len(out))
		}
		return err
	}
	// Read to the end so that the checksum is checked, and make sure the
	// rest of the stream fits in the grain.
	var tail [512]byte
	extra := int64(0)
	for {
		m, err := zr.Read(tail[:])
		extra += int64(m)
		if int64(len(out))+extra > max {
			return fmt.Errorf("%w: more than %d bytes", errGrainSize, max)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// grainJob is one compressed grain a read needs: buf gets the grain's
// bytes from extent offset off on; the grain's marker is at host.
type grainJob struct {
	s    *sparse
	buf  []byte
	host int64
	off  int64
}

func (j grainJob) do() error {
	s := j.s
	start := j.off % s.grain
	if start == 0 && int64(len(j.buf)) == s.grainLen(j.off) {
		// A whole grain (sequential reads): inflate straight into the
		// caller's buffer, unless it is cached whole; do not cache it.
		if b, ok := s.c.grain.Get(cacheKey{s.id, uint64(j.host)}); ok && len(b) == len(j.buf) {
			copy(j.buf, b)
			return nil
		}
		return s.inflateGrain(j.buf, j.host, j.off)
	}
	b, err := s.compressedGrain(j.host, j.off, start+int64(len(j.buf)))
	if err != nil {
		return err
	}
	copy(j.buf, b[start:])
	return nil
}

// runGrains inflates the grains of one read, on as many cores as there
// are when there are several.
func runGrains(jobs []grainJob) error {
	workers := min(len(jobs), runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for _, j := range jobs {
			if err := j.do(); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  int
		first error
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= len(jobs) || first != nil {
					mu.Unlock()
					return
				}
				j := jobs[next]
				next++
				mu.Unlock()
				if err := j.do(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// inflatePrefix fills out with the first bytes the zlib stream in
// inflates to. It checks the zlib header (RFC 1950: deflate, a window of
// at most 32 KiB, no preset dictionary, the check bits) as zlib.NewReader
// does, then inflates the deflate data behind it with a raw deflate
// reader: the zlib reader would update the Adler-32 checksum on every
// byte, a tenth of the cost, to no use when the stream is not read to its
// end.
func inflatePrefix(out, in []byte) error {
	if len(in) < 2 || in[0]&0x0f != 8 || in[0]>>4 > 7 || in[1]&0x20 != 0 || (uint16(in[0])<<8|uint16(in[1]))%31 != 0 {
		return zlib.ErrHeader
	}
	src := bytes.NewReader(in[2:])
	var fr io.ReadCloser
	if v := flateReaders.Get(); v != nil {
		fr = v.(io.ReadCloser)
		if err := fr.(flate.Resetter).Reset(src, nil); err != nil {
			return err
		}
	} else {
		fr = flate.NewReader(src)
	}
	defer flateReaders.Put(fr)
	if n, err := io.ReadFull(fr, out); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return fmt.Errorf("%w: %d bytes, want at least %d", errGrainSize, n, len(out))
		}
		return err
	}
	return nil
}
