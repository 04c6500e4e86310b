package image

import (
	"fmt"
	"path/filepath"

	"github.com/virt-bmap/virt-bmap/image/chain"
	"github.com/virt-bmap/virt-bmap/nbd/client"
)

// An image named by an NBD URI (nbd://, nbds://, nbd+unix://, nbds+unix://,
// qemu's nbd:unix:PATH and nbd:HOST:PORT, see nbd/client.ParseURI) is read
// from that export through nbd/client: the export's bytes are detected
// (or read as Options.Format) like a file's, so an export may itself hold
// an xz or qcow2 image. Such an image has no directory: a name it holds
// (a qcow2 backing file, a VMDK extent) is opened only when the user named
// that file with --allow-backing (an absolute path), never relative to
// anything.

// IsURI reports whether name is an NBD URI rather than a file name.
func IsURI(name string) bool { return client.IsURI(name) }

// dialNBD connects to the export named by uri.
func dialNBD(uri string) (*client.Client, error) {
	c, err := client.Dial(uri, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return c, nil
}

// resolveRemote decides whether the image at the URI from may open name:
// only a file the user allowed, by its absolute path.
func (o *opener) resolveRemote(from, name string) (string, error) {
	clean := filepath.Clean(name)
	if filepath.IsAbs(name) {
		for _, a := range o.policy.Allow {
			if abs, err := filepath.Abs(a); err == nil && abs == clean {
				return clean, nil
			}
		}
	}
	return "", fmt.Errorf("%s: %q: %w (the image is read over NBD and has no directory; name the file with --allow-backing ABSOLUTE-PATH to use it)", from, name, chain.ErrOutside)
}
