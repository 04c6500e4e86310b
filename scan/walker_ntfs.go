package scan

import (
	"io"

	"github.com/virt-bmap/virt-bmap/fs"
	"github.com/virt-bmap/virt-bmap/fs/ntfs"
)

func init() { walkers["ntfs"] = openNTFS }

// openNTFS opens an NTFS volume for walking (fs/ntfs).
func openNTFS(r io.ReaderAt, size int64, warn fs.WarnFunc) (fs.Walker, error) {
	f, err := ntfs.New(r, size)
	if err != nil {
		return nil, err
	}
	f.SetWarn(warn)
	return f, nil
}
