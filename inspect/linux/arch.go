package linux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
)

// archBinaries are the files whose ELF header gives the guest's
// architecture, tried in order (libguestfs' list, usrmerge paths after).
var archBinaries = []string{
	"bin/bash", "bin/ls", "bin/echo", "bin/rm", "bin/sh",
	"usr/bin/bash", "usr/bin/ls", "usr/bin/echo", "usr/bin/rm", "usr/bin/sh",
	"bin/busybox", "usr/bin/busybox",
}

// arch returns the architecture of the first of archBinaries that is an
// ELF file, "" when none is.
func arch(fsys iofs.FS, warn func(error)) string {
	for _, p := range archBinaries {
		f, err := openFollow(fsys, p)
		if err != nil {
			continue
		}
		var hdr [20]byte
		_, err = io.ReadFull(f, hdr[:])
		f.Close()
		if err != nil {
			continue
		}
		a, err := ELFArch(hdr[:])
		if err != nil {
			if !errors.Is(err, errNotELF) {
				warn(fmt.Errorf("linux: %s: %w", p, err))
			}
			continue
		}
		return a
	}
	return ""
}

func openFollow(fsys iofs.FS, name string) (iofs.File, error) {
	name, err := resolve(fsys, name)
	if err != nil {
		return nil, err
	}
	return fsys.Open(name)
}

var errNotELF = errors.New("not an ELF file")

// ELFArch names the architecture of an ELF header (its first 20 bytes) as
// libguestfs' file_architecture does: "x86_64", "i386", "aarch64", "arm",
// "ppc64", "ppc64le", "ppc", "s390x", "riscv64", "mips64", "sparc64"...
func ELFArch(h []byte) (string, error) {
	if len(h) < 20 || string(h[:4]) != "\x7fELF" {
		return "", errNotELF
	}
	class, data := h[4], h[5]
	var bo binary.ByteOrder
	switch data {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return "", fmt.Errorf("ELF header: bad data encoding %d", data)
	}
	if class != 1 && class != 2 {
		return "", fmt.Errorf("ELF header: bad class %d", class)
	}
	is64 := class == 2
	switch m := bo.Uint16(h[18:]); m {
	case 3:
		return "i386", nil
	case 62:
		return "x86_64", nil
	case 183:
		return "aarch64", nil
	case 40:
		return "arm", nil
	case 20:
		return "ppc", nil
	case 21:
		if data == 1 {
			return "ppc64le", nil
		}
		return "ppc64", nil
	case 22:
		if is64 {
			return "s390x", nil
		}
		return "s390", nil
	case 243:
		if is64 {
			return "riscv64", nil
		}
		return "riscv32", nil
	case 8:
		if is64 {
			return "mips64", nil
		}
		return "mips", nil
	case 2, 43:
		if is64 {
			return "sparc64", nil
		}
		return "sparc", nil
	case 258:
		return "loongarch64", nil
	default:
		return "", fmt.Errorf("ELF header: unknown machine %d", m)
	}
}
