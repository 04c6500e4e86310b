package imagetest

import "github.com/virt-bmap/virt-bmap/image/chain"

// A Format opens one image format for Opener. Its zero value is used: New
// opens the image in f, read from path, with o for its parents and warn
// for its notices, and returns it owning f (closing it closes f).
type Format[D chain.Image] interface {
	New(f chain.File, path string, o chain.Opener, warn func(string)) (D, error)
}

// Opener is image's chain.Opener in small, for a format package's own
// tests (which cannot import image): names go through chain.Policy,
// images through chain.Tracker, and every image is opened with F's New.
type Opener[F Format[D], D chain.Image] struct {
	Policy  chain.Policy
	Tracker chain.Tracker
	Warn    func(string)
}

// OpenFile opens name, as named by the image at from, as plain bytes.
func (o *Opener[F, D]) OpenFile(from, name string) (chain.File, string, error) {
	return o.Policy.OpenFile(from, name)
}

// OpenImage opens name, as named by the image at from, with F (format is
// ignored).
func (o *Opener[F, D]) OpenImage(from, name, format string) (chain.Image, string, error) {
	path, err := o.Policy.Resolve(from, name)
	if err != nil {
		return nil, "", err
	}
	d, err := o.Open(path)
	if err != nil {
		return nil, "", err
	}
	return d, path, nil
}

// Open enters path in the chain and opens it with F.
func (o *Opener[F, D]) Open(path string) (D, error) {
	var zero D
	if err := o.Tracker.Enter(path); err != nil {
		return zero, err
	}
	f, err := chain.OpenFile(path)
	if err != nil {
		return zero, err
	}
	var format F
	d, err := format.New(f, path, o, o.Warn)
	if err != nil {
		f.Close()
		return zero, err
	}
	return d, nil
}
