package fsfile

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Limits on path resolution, as Linux has them.
const (
	MaxLinkHops  = 40   // symbolic links followed in one lookup (MAXSYMLINKS)
	MaxPathSteps = 8192 // components walked in one lookup, links' included
)

// ErrNotDir is returned when a path goes through something that is not a
// directory.
var ErrNotDir = errors.New("not a directory")

// Tree is what Resolve needs of a filesystem with inodes and symbolic
// links (fs/ext, fs/xfs, fs/btrfs), N being its node type.
type Tree[N any] interface {
	Root() (N, error)
	IsDir(N) bool
	IsSymlink(N) bool
	// Lookup returns the entry name of directory dir.
	Lookup(dir N, name string) (N, error)
	LinkTarget(N) (string, error)
}

// Resolve walks name, an io/fs path, from t's root the way the kernel
// would: "." and ".." (never above the root), symbolic links on the way
// (an absolute target restarts from the root), the last component's link
// followed only when follow is set. It stops after MaxLinkHops links or
// MaxPathSteps components. Errors are *fs.PathError with op and name.
// atRoot reports that the walk ended at the root itself (".", "a/..").
func Resolve[N any](t Tree[N], op, name string, follow bool) (n N, atRoot bool, err error) {
	if !fs.ValidPath(name) {
		return n, false, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	fail := func(err error) (N, bool, error) {
		var zero N
		return zero, false, &fs.PathError{Op: op, Path: name, Err: err}
	}
	root, err := t.Root()
	if err != nil {
		return fail(err)
	}
	stack := []N{root}
	var parts []string
	if name != "." {
		parts = strings.Split(name, "/")
	}
	hops, steps := 0, 0
	for len(parts) > 0 {
		p := parts[0]
		parts = parts[1:]
		if steps++; steps > MaxPathSteps {
			return fail(fmt.Errorf("more than %d path components", MaxPathSteps))
		}
		switch p {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		if !t.IsDir(cur) {
			return fail(ErrNotDir)
		}
		child, err := t.Lookup(cur, p)
		if err != nil {
			return fail(err)
		}
		if t.IsSymlink(child) && (len(parts) > 0 || follow) {
			if hops++; hops > MaxLinkHops {
				return fail(fmt.Errorf("more than %d symbolic links", MaxLinkHops))
			}
			target, err := t.LinkTarget(child)
			if err != nil {
				return fail(err)
			}
			if strings.HasPrefix(target, "/") {
				stack = stack[:1]
			}
			parts = append(strings.Split(target, "/"), parts...)
			continue
		}
		stack = append(stack, child)
	}
	return stack[len(stack)-1], len(stack) == 1, nil
}
