package fsfile

import "io/fs"

// UnixMode converts an inode's st_mode (the POSIX type bits and
// permissions ext, XFS, UFS and btrfs all store) to an fs.FileMode. A
// type other than the seven POSIX ones (UFS's whiteout, a damaged inode)
// is ModeIrregular.
func UnixMode(mode uint32) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch mode & 0o170000 {
	case 0o100000: // regular file
	case 0o040000:
		m |= fs.ModeDir
	case 0o120000:
		m |= fs.ModeSymlink
	case 0o020000:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		m |= fs.ModeDevice
	case 0o010000:
		m |= fs.ModeNamedPipe
	case 0o140000:
		m |= fs.ModeSocket
	default:
		m |= fs.ModeIrregular
	}
	return m
}
