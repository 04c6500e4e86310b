// Package image opens a disk image read-only and gives it to the rest of
// virt-bmap as an io.ReaderAt and a size.
//
// The format is found by its magic (detect.go), never by the file name.
// Raw images (and block devices) are served as they are; xz files are read
// with random access through image/xz (nothing is unpacked to disk); qcow2
// images, with their backing chains, through image/qcow2. Formats virt-bmap
// does not read (VMDK, VHDX, VDI, dynamic VHD, gzip, zstd and bzip2
// streams) are refused with a message that names the format and says what
// to do, so a VMDK is never mistaken for a raw disk with no partitions. New
// formats plug into the detection table and the switch in newImage.
package image

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/image/qcow2"
	"github.com/virt-bmap/virt-bmap/image/xz"
)

// ErrUnsupported is wrapped by the error Open returns for an image in a
// format that is recognised but not read yet.
var ErrUnsupported = errors.New("image format not supported")

// Image is an opened disk image: its bytes as the guest sees them.
type Image struct {
	r      io.ReaderAt
	size   int64
	format Format
	closer io.Closer
}

// Options tune how compressed images are read. The zero value gives the
// defaults.
type Options struct {
	// CacheSize bounds the decoded data of an xz image kept in memory,
	// shared by every reader of the Image (0: xz.DefaultCacheSize).
	CacheSize int64
	// Warn receives one-time notices about the image, such as an xz file
	// made of one huge block, where random access is slow. nil drops them.
	Warn func(msg string)
	// Format, when not "", is the format the user gave (--format): the
	// image is read as that format instead of being detected.
	Format string
	// AllowBacking lists files the image's chain may name although they
	// lie outside its directory (image/chain's rule): --allow-backing.
	AllowBacking []string
}

// opener opens the files an image's chain names (image/chain.Opener):
// every name goes through the policy, every image through the tracker.
type opener struct {
	opt     Options
	policy  chain.Policy
	tracker chain.Tracker
}

func newOpener(opt Options) *opener {
	return &opener{opt: opt, policy: chain.Policy{Allow: opt.AllowBacking}}
}

// OpenFile opens a plain file named by the image at from.
func (o *opener) OpenFile(from, name string) (chain.File, string, error) {
	resolve := o.policy.Resolve
	if IsURI(from) {
		resolve = o.resolveRemote // nbd.go
	}
	path, err := resolve(from, name)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", from, err)
	}
	f, err := chain.OpenFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", from, err)
	}
	return f, path, nil
}

// OpenImage opens an image named by the image at from, detected by content
// or read as format.
func (o *opener) OpenImage(from, name, format string) (chain.Image, string, error) {
	resolve := o.policy.Resolve
	if IsURI(from) {
		resolve = o.resolveRemote // nbd.go
	}
	path, err := resolve(from, name)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", from, err)
	}
	img, err := o.open(path, format)
	if err != nil {
		return nil, "", err
	}
	return img, path, nil
}

// Open opens the image at path read-only and detects its format.
func Open(path string) (*Image, error) { return OpenOptions(path, Options{}) }

// OpenOptions is Open with options.
func OpenOptions(path string, opt Options) (*Image, error) {
	o := newOpener(opt)
	if IsURI(path) {
		return o.openNBD(path, opt.Format) // nbd.go
	}
	// The file the user named is allowed wherever it is; names inside it
	// are held to the policy.
	img, err := o.open(path, opt.Format)
	if err != nil {
		return nil, err
	}
	return img, nil
}

// open opens the image file at path (the user's, or one its chain names
// and the policy let through) as format, or detected when format is "".
func (o *opener) open(path, format string) (*Image, error) {
	if err := o.tracker.Enter(path); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	f, err := chain.OpenFile(path) // O_RDONLY: an image is never written to
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, err
		}
		return nil, fmt.Errorf("image: %w", err)
	}
	size := f.Size()
	fm := Detect(f, size)
	if format != "" {
		ff, ok := formatByName(format)
		if !ok {
			f.Close()
			return nil, fmt.Errorf("image: %s: unknown format %q", path, format)
		}
		fm = ff
	}
	if fm.Name == QCOW2.Name {
		// qcow2.Open follows the backing chain itself, resolving each
		// name against the directory of the image that names it.
		f.Close()
		q, err := qcow2.Open(path)
		if err != nil {
			return nil, fmt.Errorf("image: %s: %w", path, err)
		}
		warnCorrupt(q, o.opt)
		return &Image{r: q, size: q.Size(), format: QCOW2, closer: q}, nil
	}
	img, err := newImage(f, size, fm, path, o)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image: %s: %w", path, err)
	}
	img.closer = closers{img.closer, f}
	return img, nil
}

// New detects the format of the image held in r and returns it ready to
// read. It fails for formats that are recognised but not supported, and
// for a qcow2 image with a backing file, which needs Open to find it.
func New(r io.ReaderAt, size int64) (*Image, error) {
	return newImage(r, size, Detect(r, size), "", newOpener(Options{}))
}

// newImage reads r, of format fm, as an image. path is where it was opened
// from ("" for New): names in the image are resolved against it through o.
func newImage(r io.ReaderAt, size int64, fm Format, path string, o *opener) (*Image, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative size %d", size)
	}
	opt := o.opt
	switch fm.Name {
	case Raw.Name:
		return &Image{r: r, size: size, format: fm}, nil
	case VHDFixed.Name:
		// A fixed VHD is the raw disk followed by a 512-byte footer.
		return &Image{r: io.NewSectionReader(r, 0, size-512), size: size - 512, format: fm}, nil
	case XZ.Name:
		x, err := xz.NewReader(r, size, xz.Options{CacheSize: opt.CacheSize, Warn: opt.Warn})
		if err != nil {
			return nil, err
		}
		return &Image{r: x, size: x.Size(), format: fm, closer: x}, nil
	case QCOW2.Name:
		q, err := qcow2.New(r, size, nil)
		if err != nil {
			return nil, err
		}
		warnCorrupt(q, opt)
		return &Image{r: q, size: q.Size(), format: fm, closer: q}, nil
	}
	return nil, fmt.Errorf("%s image: %w (%s)", fm.Name, ErrUnsupported, fm.Hint)
}

// warnCorrupt passes on qemu's corrupt bit: qemu found inconsistent
// metadata and stopped writing to the image. It is still read, as qemu
// reads it read-only, and every table is checked as it is used.
func warnCorrupt(q *qcow2.Image, opt Options) {
	if q.Info().Corrupt && opt.Warn != nil {
		opt.Warn("qcow2 image marked corrupt by qemu: some metadata may be wrong (qemu-img check tells more)")
	}
}

// closers closes each of its members, nil ones skipped, and returns the
// first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ReadAt reads the guest-visible bytes of the disk.
func (i *Image) ReadAt(p []byte, off int64) (int, error) { return i.r.ReadAt(p, off) }

// Size is the length of the disk as the guest sees it.
func (i *Image) Size() int64 { return i.size }

// Format is the detected format.
func (i *Image) Format() Format { return i.format }

// Close releases the file Open opened; it is a no-op for New.
func (i *Image) Close() error {
	if i.closer == nil {
		return nil
	}
	return i.closer.Close()
}
