package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A Format writes a Summary in one format.
type Format func(w io.Writer, s *Summary) error

// formats maps a file extension to its writer. html.go adds ".html" (and
// ".htm").
var formats = map[string]Format{
	".json": WriteJSON,
	".txt":  func(w io.Writer, s *Summary) error { return WriteText(w, s, DefaultTop) },
}

// FormatOf returns the writer for path's extension (case-insensitive),
// or an error naming the extensions known.
func FormatOf(path string) (Format, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if f, ok := formats[ext]; ok {
		return f, nil
	}
	var known []string
	for k := range formats {
		known = append(known, k)
	}
	slices.Sort(known)
	if ext == "" {
		return nil, fmt.Errorf("report %s: %w (no extension): want one of %s", path, ErrFormat, strings.Join(known, " "))
	}
	return nil, fmt.Errorf("report %s: %w %q: want one of %s", path, ErrFormat, ext, strings.Join(known, " "))
}

// Write writes s to the file path, in the format its extension names
// (.json, .txt, .html). The file is written beside its final name and
// renamed into place, so a failed report leaves no half file.
func Write(path string, s *Summary) (err error) {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := f(tmp, s); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// ErrFormat is returned for an unknown report format.
var ErrFormat = errors.New("unknown report format")
