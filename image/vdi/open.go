package vdi

import (
	"fmt"

	"github.com/virt-bmap/virt-bmap/image/chain"
)

// Open opens the VDI image at path read-only with its parents, through a
// default chain.Opener that reads VDI parents only, held to image/chain's
// policy; parents are files the user names as possible parents (and
// allows wherever they are). Close closes every file Open opened. The
// image package (image.Open) does the same with --allow-backing.
func Open(path string, parents ...string) (*Image, error) {
	o := &defaultOpener{policy: chain.Policy{Allow: parents}, parents: parents}
	img, err := o.open(path)
	if err != nil {
		return nil, err
	}
	return img, nil
}

type defaultOpener struct {
	policy  chain.Policy
	tracker chain.Tracker
	parents []string
}

func (o *defaultOpener) OpenFile(from, name string) (chain.File, string, error) {
	return o.policy.OpenFile(from, name)
}

func (o *defaultOpener) OpenImage(from, name, format string) (chain.Image, string, error) {
	if format != "vdi" {
		return nil, "", fmt.Errorf("vdi: %s: format %q not supported here (image.Open reads more)", name, format)
	}
	path, err := o.policy.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	img, err := o.open(path)
	if err != nil {
		return nil, "", err
	}
	return img, path, nil
}

func (o *defaultOpener) open(path string) (*Image, error) {
	if err := o.tracker.Enter(path); err != nil {
		return nil, fmt.Errorf("vdi: %w", err)
	}
	f, err := chain.OpenFile(path) // O_RDONLY: an image is never written to
	if err != nil {
		return nil, err
	}
	img, err := NewConfig(f, f.Size(), Config{Opener: o, Path: path, Parents: o.parents})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vdi: %s: %w", path, err)
	}
	img.file = f
	return img, nil
}
