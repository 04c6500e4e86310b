package scan

import (
	"io"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/fat"
)

func init() { walkers["vfat"] = openFAT }

// openFAT opens a FAT12/16/32 volume (fs.Detect's "vfat") for walking.
func openFAT(r io.ReaderAt, size int64, warn fs.WarnFunc) (fs.Walker, error) {
	f, err := fat.New(r, size)
	if err != nil {
		return nil, err
	}
	f.SetWarn(warn)
	return f, nil
}
