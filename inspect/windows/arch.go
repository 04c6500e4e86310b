package windows

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path"
)

// maxPEHeaderOffset caps e_lfanew: real images put the PE header within
// the first few hundred bytes.
const maxPEHeaderOffset = 1 << 16

// peMachines maps the COFF Machine field to libguestfs' arch names.
var peMachines = map[uint16]string{
	0x014c: "i386",
	0x8664: "x86_64",
	0xaa64: "aarch64",
}

// Arch returns the architecture of the Windows installation at root
// (as SystemRoot returns it) from the PE header of System32/cmd.exe, as
// libguestfs does. No such file: "", nil.
func Arch(fsys iofs.FS, root string) (string, error) {
	for _, exe := range []string{"cmd.exe"} {
		name, ok := lookupFold(fsys, path.Join(root, "System32", exe))
		if !ok {
			continue
		}
		var arch string
		err := withFile(fsys, name, func(r io.ReaderAt, size int64) error {
			var err error
			arch, err = peArch(r, size)
			return err
		})
		return arch, err
	}
	return "", nil
}

var errNotPE = errors.New("not a PE image")

// peArch reads the Machine field of a PE image: the "MZ" DOS header's
// e_lfanew (at 0x3c) points at "PE\0\0", followed by the COFF header
// whose first field is Machine.
func peArch(r io.ReaderAt, size int64) (string, error) {
	var dos [0x40]byte
	if size < int64(len(dos)) {
		return "", fmt.Errorf("PE: %d bytes, too short for a DOS header: %w", size, errNotPE)
	}
	if _, err := r.ReadAt(dos[:], 0); err != nil {
		return "", fmt.Errorf("PE: DOS header at 0x0: %w", err)
	}
	if dos[0] != 'M' || dos[1] != 'Z' {
		return "", fmt.Errorf("PE: DOS header at 0x0: no MZ magic: %w", errNotPE)
	}
	lfanew := int64(binary.LittleEndian.Uint32(dos[0x3c:]))
	if lfanew > maxPEHeaderOffset || lfanew+6 > size {
		return "", fmt.Errorf("PE: e_lfanew 0x%x outside the %d-byte file: %w", lfanew, size, errNotPE)
	}
	var pe [6]byte
	if _, err := r.ReadAt(pe[:], lfanew); err != nil {
		return "", fmt.Errorf("PE: header at 0x%x: %w", lfanew, err)
	}
	if string(pe[:4]) != "PE\x00\x00" {
		return "", fmt.Errorf("PE: header at 0x%x: no PE signature: %w", lfanew, errNotPE)
	}
	m := binary.LittleEndian.Uint16(pe[4:])
	arch, ok := peMachines[m]
	if !ok {
		return "", fmt.Errorf("PE: header at 0x%x: unknown Machine 0x%04x", lfanew, m)
	}
	return arch, nil
}
