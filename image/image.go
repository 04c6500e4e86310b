// Package image opens a disk image read-only and gives it to the rest of
// virt-bmap as an io.ReaderAt, a size and its allocation (Extents, from
// image/alloc).
//
// The format is found by its content (detect.go), never by the file name,
// or given (--format). A name is a file or an NBD URI (nbd.go: read through
// nbd/client). Raw images and block devices are read as they are
// (image/raw, holes from lseek); xz files with random access through
// image/xz (nothing is unpacked to disk); qcow2, VMDK, VHD, VHDX and VDI
// through their packages, every file they name (backing and parent images
// of any format read here, VMDK extents, qcow2 external data files) through
// the opener below, which holds each name to image/chain's policy; OVA
// appliances through image/ova, their disks read straight out of the tar
// (OpenAll gives every disk, Open the first with a warning). gzip, zstd
// and bzip2 streams are refused with a message that names the format and
// says what to do, so they are never mistaken for raw disks. A new format
// plugs into the detection table, formatByName and the switch in newImage.
package image

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/image/ova"
	"github.com/virt-bmap/virt-bmap/image/qcow2"
	"github.com/virt-bmap/virt-bmap/image/raw"
	"github.com/virt-bmap/virt-bmap/image/vdi"
	"github.com/virt-bmap/virt-bmap/image/vhd"
	"github.com/virt-bmap/virt-bmap/image/vhdx"
	"github.com/virt-bmap/virt-bmap/image/vmdk"
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

// chainOpener is o for an image opened from path, and nil for one given
// as a reader (New): without a path, the names in it cannot be resolved,
// and the format package refuses them.
func (o *opener) chainOpener(path string) chain.Opener {
	if path == "" {
		return nil
	}
	return o
}

// Open opens the image at path read-only and detects its format.
func Open(path string) (*Image, error) { return OpenOptions(path, Options{}) }

// OpenOptions is Open with options. The file the user named is allowed
// wherever it is; the names inside it are held to the chain policy.
func OpenOptions(path string, opt Options) (*Image, error) {
	return newOpener(opt).open(path, opt.Format)
}

// open opens the image file at path (the user's, or one its chain names
// and the policy let through) as format, or detected when format is "".
// An OVA gives its first disk, with a warning that says how many it has.
func (o *opener) open(path, format string) (*Image, error) {
	imgs, err := o.openAll(path, format)
	if err != nil {
		return nil, err
	}
	if len(imgs) > 1 {
		if o.opt.Warn != nil {
			o.opt.Warn(fmt.Sprintf("%s: the appliance holds %d disks; only the first is opened", path, len(imgs)))
		}
		for _, img := range imgs[1:] {
			img.Close()
		}
	}
	return imgs[0], nil
}

// OpenAll opens the image at path like OpenOptions, and returns every
// disk it holds: the disks of an OVA, in its OVF's order, or the one disk
// of any other format.
func OpenAll(path string, opt Options) ([]*Image, error) {
	return newOpener(opt).openAll(path, opt.Format)
}

// openAll is open for every disk of the file or NBD export at path.
func (o *opener) openAll(path, format string) ([]*Image, error) {
	if IsURI(path) {
		c, err := dialNBD(path) // nbd.go
		if err != nil {
			return nil, err
		}
		return o.read(c, c.Size(), path, format)
	}
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
	return o.read(f, f.Size(), path, format)
}

// source is what an image is read from: an opened file or an NBD export.
type source interface {
	io.ReaderAt
	io.Closer
}

// read reads the image in f (named path) as format, or detected by content
// when format is "". f is closed with the images, or now if it fails.
func (o *opener) read(f source, size int64, path, format string) ([]*Image, error) {
	fm := Detect(f, size)
	detected := fm
	if format != "" {
		ff, ok := formatByName(format)
		if !ok {
			f.Close()
			return nil, fmt.Errorf("image: %s: unknown format %q", path, format)
		}
		fm = ff
	}
	if fm.Name == OVA.Name {
		imgs, err := o.openOVA(f, size, path)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("image: %s: %w", path, err)
		}
		return imgs, nil
	}
	img, err := newImage(f, size, fm, path, o)
	if err != nil {
		f.Close()
		if format != "" && detected != fm {
			return nil, fmt.Errorf("image: %s: read as %s (--format), but its content looks like %s: %w", path, fm.Name, detected.Name, err)
		}
		return nil, fmt.Errorf("image: %s: %w", path, err)
	}
	img.closer = closers{img.closer, f}
	return []*Image{img}, nil
}

// openOVA opens the disks of the OVA in f, each read straight out of the
// tar. Their formats are detected by content; a disk inside an OVA may
// not name other files (no extents, no parent). f is closed when the
// last of the images is.
func (o *opener) openOVA(f source, size int64, path string) ([]*Image, error) {
	a, err := ova.Open(f, size)
	if err != nil {
		return nil, err
	}
	share := &sharedCloser{c: f}
	var imgs []*Image
	fail := func(err error) ([]*Image, error) {
		for _, img := range imgs {
			img.Close()
		}
		return nil, err
	}
	for i, d := range a.Disks {
		fm := Detect(d.R, d.Size)
		name := fmt.Sprintf("disk %d (%s)", i+1, d.Name)
		if fm.Name == OVA.Name {
			return fail(fmt.Errorf("%s: an OVA inside an OVA", name))
		}
		img, err := newImage(d.R, d.Size, fm, "", o)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", name, err))
		}
		if d.Capacity > 0 && d.Capacity != img.size && o.opt.Warn != nil {
			o.opt.Warn(fmt.Sprintf("%s: %s: the OVF gives a capacity of %d bytes, the disk has %d", path, name, d.Capacity, img.size))
		}
		img.closer = closers{img.closer, share.ref()}
		imgs = append(imgs, img)
	}
	if len(imgs) == 0 {
		return nil, errors.New("OVA holds no disk")
	}
	return imgs, nil
}

// sharedCloser closes c when every reference it gave is closed.
type sharedCloser struct {
	mu   sync.Mutex
	c    io.Closer
	refs int
}

func (s *sharedCloser) ref() io.Closer {
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
	return &sharedRef{s: s}
}

type sharedRef struct {
	s    *sharedCloser
	once sync.Once
}

func (r *sharedRef) Close() error {
	var err error
	r.once.Do(func() {
		r.s.mu.Lock()
		defer r.s.mu.Unlock()
		if r.s.refs--; r.s.refs == 0 {
			err = r.s.c.Close()
		}
	})
	return err
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
		return &Image{r: raw.New(r, size), size: size, format: fm}, nil
	case VHD.Name, VHDFixed.Name:
		// A fixed VHD keeps the file's holes: the raw reader finds them.
		d, err := vhd.New(raw.New(r, size), size, vhd.Config{Path: path, Open: o.chainOpener(path), Warn: opt.Warn})
		if err != nil {
			return nil, err
		}
		return &Image{r: d, size: d.Size(), format: fm, closer: d}, nil
	case VHDX.Name:
		d, err := vhdx.New(r, size, vhdx.Config{Path: path, Open: o.chainOpener(path), Warn: opt.Warn})
		if err != nil {
			return nil, err
		}
		return &Image{r: d, size: d.Size(), format: fm, closer: d}, nil
	case XZ.Name:
		x, err := xz.NewReader(r, size, xz.Options{CacheSize: opt.CacheSize, Warn: opt.Warn})
		if err != nil {
			return nil, err
		}
		return &Image{r: x, size: x.Size(), format: fm, closer: x}, nil
	case VMDK.Name:
		// A disk read from a file names its extents and parent relative
		// to it, through the opener; one without a path (New, an OVA's
		// disk) may not name any.
		var op chain.Opener
		if path != "" {
			op = o
		}
		v, err := vmdk.New(r, size, vmdk.Config{Open: op, Path: path, CacheBytes: opt.CacheSize, Warn: opt.Warn})
		if err != nil {
			return nil, err
		}
		return &Image{r: v, size: v.Size(), format: fm, closer: v}, nil
	case QCOW2.Name:
		// Backing and data files are opened through o, held to the
		// chain policy; New (no path) gives no opener: they are refused.
		var co chain.Opener
		if path != "" {
			co = o
		}
		q, err := qcow2.New(r, size, co, path)
		if err != nil {
			return nil, err
		}
		warnCorrupt(q, opt)
		return &Image{r: q, size: q.Size(), format: fm, closer: q}, nil
	case VDI.Name:
		// A differencing VDI's parent is found by UUID among the
		// --allow-backing files and the image's directory, through o.
		var co chain.Opener
		if path != "" {
			co = o
		}
		v, err := vdi.NewConfig(raw.New(r, size), size, vdi.Config{Opener: co, Path: path, Parents: opt.AllowBacking})
		if err != nil {
			return nil, err
		}
		return &Image{r: v, size: v.Size(), format: fm, closer: v}, nil
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
