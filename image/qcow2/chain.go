package qcow2

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/virt-bmap/virt-bmap/image/chain"
)

// MaxChain is the longest backing chain Open follows, the image itself
// included (image/chain's limit).
const MaxChain = chain.MaxDepth

// ErrBackingLoop is wrapped by the error Open returns for a backing chain
// that comes back to an image already in it. It is chain.ErrLoop, which
// the image package's opener also reports, whatever the formats in the
// loop.
var ErrBackingLoop = chain.ErrLoop

// Open opens the qcow2 image at path read-only with its backing chain,
// through a default chain.Opener that reads qcow2 and raw backing files
// only. Every name in the chain is held to image/chain's policy: resolved
// against the directory of the image that names it, refused (with
// chain.ErrOutside) when absolute or leading out of that directory,
// unless it is one of allow. A loop, a chain longer than MaxChain or a
// missing file is an error that names it. Close closes every file Open
// opened. The image package (image.Open) reads backing files of every
// format it knows; this is for tools and tests of qcow2 alone.
func Open(path string, allow ...string) (*Image, error) {
	o := &defaultOpener{policy: chain.Policy{Allow: allow}}
	img, err := o.open(path, "qcow2")
	if err != nil {
		return nil, err
	}
	return img.(*Image), nil
}

// defaultOpener is Open's chain.Opener: qcow2 and raw, by the backing
// format or by magic.
type defaultOpener struct {
	policy  chain.Policy
	tracker chain.Tracker
}

func (o *defaultOpener) OpenFile(from, name string) (chain.File, string, error) {
	return o.policy.OpenFile(from, name)
}

func (o *defaultOpener) OpenImage(from, name, format string) (chain.Image, string, error) {
	path, err := o.policy.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	img, err := o.open(path, format)
	if err != nil {
		return nil, "", err
	}
	return img, path, nil
}

// open opens path as format ("qcow2", "raw", or "" to detect).
func (o *defaultOpener) open(path, format string) (chain.Image, error) {
	if err := o.tracker.Enter(path); err != nil {
		return nil, fmt.Errorf("qcow2: %w", err)
	}
	f, err := chain.OpenFile(path) // O_RDONLY: an image is never written to
	if err != nil {
		return nil, err
	}
	var magic [4]byte
	n, _ := f.ReadAt(magic[:], 0)
	isQcow2 := n == len(magic) && bytes.Equal(magic[:], Magic[:])
	switch format {
	case "":
		format = "raw"
		if isQcow2 {
			format = "qcow2"
		}
	case "raw":
	case "qcow2":
		if !isQcow2 {
			f.Close()
			return nil, fmt.Errorf("%s: not a qcow2 image (bad magic %q)", path, magic[:n])
		}
	default:
		f.Close()
		return nil, fmt.Errorf("%s: backing format %q not supported (raw and qcow2 are; image.Open reads more)", path, format)
	}
	if format == "raw" {
		return f, nil
	}
	img, err := NewConfig(f, f.Size(), Config{Opener: o, Path: path})
	if err != nil {
		f.Close()
		return nil, wrap("qcow2: "+path, err)
	}
	img.closers = append(img.closers, f)
	return img, nil
}

// wrapped is an error with context in front, without repeating the
// "qcow2: " of the error it wraps: errors from a backing chain nest.
type wrapped struct {
	msg string
	err error
}

func wrap(msg string, err error) error { return &wrapped{msg, err} }

func (w *wrapped) Error() string {
	return w.msg + ": " + strings.TrimPrefix(w.err.Error(), "qcow2: ")
}

func (w *wrapped) Unwrap() error { return w.err }
