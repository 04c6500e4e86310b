package nbd

import (
	"github.com/virt-bmap/virt-bmap/image"
)

// File is a Source over a file or block device opened read-only, as it
// is (raw): an image.Image, which is an Extenter whose holes come from
// lseek SEEK_DATA/SEEK_HOLE, as nbdkit's file plugin finds them, so READ
// replies skip them and base:allocation reports them.
type File = image.Image

// OpenFile opens path read-only as a raw image, whatever its content.
func OpenFile(path string) (*File, error) {
	return image.OpenOptions(path, image.Options{Format: image.Raw.Name})
}
