package vdi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// ErrNoParent is wrapped by the error for a differencing image whose
// parent is not found.
var ErrNoParent = errors.New("vdi: parent image not found")

// ErrParentModified is wrapped by the error for a differencing image whose
// parent changed after the child was made.
var ErrParentModified = errors.New("vdi: parent image was modified after the differencing image was made")

// maxCandidates bounds the directory entries looked at for a parent.
const maxCandidates = 10000

// openParent finds the parent of a differencing image by its UUID (see the
// package comment for where it is looked for) and opens it through the
// Opener.
func (img *Image) openParent(c Config) error {
	h := img.h
	if c.Opener == nil {
		return fmt.Errorf("vdi: differencing image: its parent (UUID %s) must be found beside it, and no opener was given", h.link)
	}
	names := slices.Clone(c.Parents)
	dir := filepath.Dir(c.Path)
	var self os.FileInfo
	if c.Path != "" {
		self, _ = os.Stat(c.Path)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("vdi: differencing image: looking for its parent (UUID %s) in %s: %w", h.link, dir, err)
		}
		for i, e := range entries { // sorted by name
			if i == maxCandidates {
				break
			}
			if e.IsDir() || !(e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0) {
				continue
			}
			if st, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !st.Mode().IsRegular() {
				continue // a link to a directory, a FIFO (opening it would block)...
			}
			names = append(names, e.Name())
		}
	}
	var refused []error
	for i, name := range names {
		f, path, err := c.Opener.OpenFile(c.Path, name)
		if err != nil {
			// The policy said no (a symbolic link leading out of the
			// directory), or the file went away: not the parent. Say
			// so only for the files the user named.
			if i < len(c.Parents) {
				refused = append(refused, err)
			}
			continue
		}
		if self != nil {
			if st, err := os.Stat(path); err == nil && os.SameFile(st, self) {
				f.Close()
				continue
			}
		}
		uuid, modify, ok := probeHeader(f)
		f.Close()
		if !ok || uuid != h.link {
			continue
		}
		if !h.parentMod.IsZero() && !modify.IsZero() && modify != h.parentMod {
			return fmt.Errorf("%w: %s has modification UUID %s, the differencing image expects %s", ErrParentModified, path, modify, h.parentMod)
		}
		p, ppath, err := c.Opener.OpenImage(c.Path, name, "vdi")
		if err != nil {
			return fmt.Errorf("vdi: parent %s (UUID %s): %w", path, h.link, err)
		}
		img.parent, img.parentSize, img.parentPath = p, max(0, p.Size()), ppath
		return nil
	}
	err := fmt.Errorf("%w: no VDI with UUID %s among the files named with --allow-backing and the files of %s; name it with --allow-backing PATH", ErrNoParent, h.link, dir)
	if len(refused) > 0 {
		err = fmt.Errorf("%w (refused: %w)", err, errors.Join(refused...))
	}
	return err
}
