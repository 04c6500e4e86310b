// Package image opens a disk image read-only and gives it to the rest of
// virt-bmap as an io.ReaderAt and a size.
//
// The format is found by its magic (detect.go), never by the file name.
// Raw images (and block devices) are served as they are; formats virt-bmap
// does not read yet (xz, qcow2, VMDK, VHDX, VDI, compressed streams) are
// refused with a message that names the format and says what to do, so a
// qcow2 is never mistaken for a raw disk with no partitions. New formats
// plug into the detection table and the switch in Open.
package image

import (
	"errors"
	"fmt"
	"io"
	"os"
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

// Open opens the image at path read-only and detects its format.
func Open(path string) (*Image, error) {
	f, err := os.Open(path) // O_RDONLY: an image is never written to
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("image: %s: is a directory, not a disk image", path)
	}
	size, err := f.Seek(0, io.SeekEnd) // works for regular files and block devices alike
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image: %s: %w", path, err)
	}
	img, err := New(f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image: %s: %w", path, err)
	}
	img.closer = f
	return img, nil
}

// New detects the format of the image held in r and returns it ready to
// read. It fails for formats that are recognised but not supported.
func New(r io.ReaderAt, size int64) (*Image, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative size %d", size)
	}
	fm := Detect(r, size)
	switch fm.Name {
	case Raw.Name:
		return &Image{r: r, size: size, format: fm}, nil
	case VHDFixed.Name:
		// A fixed VHD is the raw disk followed by a 512-byte footer.
		return &Image{r: io.NewSectionReader(r, 0, size-512), size: size - 512, format: fm}, nil
	}
	return nil, fmt.Errorf("%s image: %w (%s)", fm.Name, ErrUnsupported, fm.Hint)
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
