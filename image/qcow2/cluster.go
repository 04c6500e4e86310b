package qcow2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// sectorSize is the unit of a compressed cluster's length.
const sectorSize = 512

// compressedDesc decodes a compressed cluster descriptor (bits 0-61 of
// the L2 entry): the host offset of the compressed data and the most
// bytes it may take. With x = 62 - (cluster_bits - 8), bits 0..x-1 are
// the offset and bits x..61 the number of 512-byte sectors after the one
// holding the offset. The length is at most 2 clusters by construction.
func compressedDesc(e uint64, clusterBits uint32) (off, size int64) {
	x := 62 - (clusterBits - 8)
	off = int64(e & (1<<x - 1))
	sectors := int64((e>>x)&(1<<(clusterBits-8)-1)) + 1
	size = sectors*sectorSize - off&(sectorSize-1)
	return off, size
}

// flateReaders reuses raw-deflate decompressors.
var flateReaders sync.Pool

// zstdDecoders reuses synchronous zstd decoders.
var zstdDecoders sync.Pool

// maxZstdWindow bounds the window a zstd frame may ask for: qemu
// compresses one cluster (at most 2 MiB) per frame.
const maxZstdWindow = 8 << 20

// decompress fills out (one cluster, or the first bytes of one) from the
// compressed bytes in. The data may be followed by unrelated bytes (the
// rest of the last sector): decompression stops when out is full, as
// qemu's does when the cluster is.
func decompress(out, in []byte, compression uint8) error {
	switch compression {
	case compZlib:
		var fr io.ReadCloser
		if v := flateReaders.Get(); v != nil {
			fr = v.(io.ReadCloser)
			if err := fr.(flate.Resetter).Reset(bytes.NewReader(in), nil); err != nil {
				return err
			}
		} else {
			fr = flate.NewReader(bytes.NewReader(in))
		}
		_, err := io.ReadFull(fr, out)
		flateReaders.Put(fr)
		if err != nil {
			return fmt.Errorf("deflate: %w", shortData(err))
		}
		return nil
	case compZstd:
		var d *zstd.Decoder
		if v := zstdDecoders.Get(); v != nil {
			d = v.(*zstd.Decoder)
			if err := d.Reset(bytes.NewReader(in)); err != nil {
				return fmt.Errorf("zstd: %w", err)
			}
		} else {
			var err error
			d, err = zstd.NewReader(bytes.NewReader(in), zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderMaxMemory(maxZstdWindow))
			if err != nil {
				return fmt.Errorf("zstd: %w", err)
			}
		}
		_, err := io.ReadFull(d, out)
		// Drop the reference to in before pooling the decoder.
		_ = d.Reset(nil) // never fails for nil
		zstdDecoders.Put(d)
		if err != nil {
			return fmt.Errorf("zstd: %w", shortData(err))
		}
		return nil
	}
	return fmt.Errorf("unknown compression type %d", compression)
}

// shortData says what an early end of the compressed stream means here.
func shortData(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("compressed data ends before the cluster is full")
	}
	return err
}

// compressedCluster returns the decompressed cluster that L2 entry e
// describes, or at least its first need bytes; guest is a guest offset
// inside it, for error messages. Clusters are cached by host offset.
//
// A read that misses the cache decompresses only as far as it needs:
// deflate and zstd cannot start in the middle, but they can stop, and a
// 4 KiB read at a random place in a 64 KiB cluster needs half of it on
// average (qemu decompresses it whole). That prefix is cached; a later
// read that needs more of the cluster than is cached decompresses the
// whole cluster, so small reads walking through a cluster cost one
// decompression and a bit, not one each.
func (img *Image) compressedCluster(e uint64, guest, need int64) ([]byte, error) {
	off, _ := compressedDesc(e, img.clusterBits)
	b, ok := img.clusterCache.Get(off)
	if ok && int64(len(b)) >= need {
		return b, nil
	}
	if ok {
		need = img.clusterSize
	}
	out := make([]byte, need)
	if err := img.decompressCluster(out, e, guest); err != nil {
		return nil, err
	}
	img.clusterCache.Add(off, out, int64(len(out)))
	return out, nil
}

// inBufs reuses the buffers compressed data is read into.
var inBufs sync.Pool

// decompressCluster decompresses the cluster that L2 entry e describes
// into out: the whole cluster, or its first len(out) bytes. guest is a guest offset inside it, for error
// messages.
func (img *Image) decompressCluster(out []byte, e uint64, guest int64) error {
	off, size := compressedDesc(e, img.clusterBits)
	what := func() string { // only for errors: formatting costs on every read
		return fmt.Sprintf("compressed cluster for guest offset %#x", guest&^(img.clusterSize-1))
	}
	if off >= img.fileSize {
		return formatErr(off, what(), "starts past the end of the file (%d bytes)", img.fileSize)
	}
	// The last compressed cluster of a file may end in a partial sector:
	// its descriptor's sector count then runs past the end of the file.
	size = min(size, img.fileSize-off)
	var in []byte
	if p, ok := inBufs.Get().(*[]byte); ok && int64(cap(*p)) >= size {
		in = (*p)[:size]
	} else {
		in = make([]byte, size, max(size, 2*img.clusterSize))
	}
	defer inBufs.Put(&in)
	if n, err := img.r.ReadAt(in, off); n < len(in) {
		return fmt.Errorf("qcow2: reading the %s at %#x: %w", what(), off, err)
	}
	if err := decompress(out, in, img.hdr.compression); err != nil {
		return formatErr(off, what(), "%v", err)
	}
	return nil
}
