// Package diskerr holds the error type every on-disk parser of virt-bmap
// returns for bytes it cannot accept: image formats (image/...), volume
// structures (partition tables, LVM, LUKS), filesystems (fs/...) and the
// package databases the inspector reads. It is a leaf: it imports nothing
// of virt-bmap, so any parser can use it without pulling in the others.
package diskerr

import "fmt"

// FormatError says which structure, at which offset (relative to the reader
// the parser was given), could not be accepted, and why. Err, when set, is
// the underlying cause (an I/O error, a decompressor's error, a sentinel
// such as io.ErrUnexpectedEOF): errors.Is and errors.As see it through
// Unwrap.
type FormatError struct {
	FS   string // "ext", "mbr", "gpt", "qcow2", "luks"...
	Off  int64  // byte offset of the structure
	What string // the structure: "superblock", "inode 12", "extent header"
	Msg  string
	Err  error
}

func (e *FormatError) Error() string {
	msg := e.Msg
	if e.Err != nil {
		if msg == "" {
			msg = e.Err.Error()
		} else {
			msg += ": " + e.Err.Error()
		}
	}
	return fmt.Sprintf("%s: %s at %#x: %s", e.FS, e.What, e.Off, msg)
}

// Unwrap returns the cause, if any.
func (e *FormatError) Unwrap() error { return e.Err }
