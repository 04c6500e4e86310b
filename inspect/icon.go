package inspect

import (
	"bytes"
	"encoding/binary"
	"io"
	iofs "io/fs"
)

// The guest's icon, found the way libguestfs' inspect_get_icon does it
// (lib/inspect-icon.c): /etc/favicon.png when the guest has one, else a
// logo at a path known for the distribution. A file is only taken when it
// is a PNG (signature and IHDR, what file(1) checks) of 16 to 1024 pixels
// a side and no larger than the limit libguestfs sets for that path (4
// bytes a pixel when it sets none). Anything else is "no icon", not an
// error, as there.
//
// Windows logos are extracted by libguestfs from explorer.exe's resources
// with wrestool and netpbm; that is not done here, so a Windows guest has
// an icon only from /etc/favicon.png.

// iconPaths gives, per libguestfs distro, the logo files tried in order
// and their size limit (0: 4 bytes a pixel). RHEL and its clones use a
// different file before 7 (see iconFiles).
var iconPaths = map[string][]iconFile{
	"fedora":    {{"usr/share/icons/hicolor/96x96/apps/fedora-logo-icon.png", 0}},
	"debian":    {{"usr/share/pixmaps/debian-logo.png", 2048}},
	"ubuntu":    {{"usr/share/icons/gnome/24x24/places/ubuntu-logo.png", 2048}, {"usr/share/help/C/ubuntu-help/figures/ubuntu-logo.png", 2048}},
	"mageia":    {{"usr/share/icons/mageia.png", 2048}},
	"opensuse":  {{"usr/share/icons/hicolor/24x24/apps/distributor.png", 2048}},
	"voidlinux": {{"usr/share/void-artwork/void-logo.png", 20480}},
	"altlinux":  {{"usr/share/icons/hicolor/48x48/apps/altlinux.png", 20480}},
}

type iconFile struct {
	path string // io/fs path
	max  int64  // size limit in bytes; 0 for 4 bytes a pixel
}

// iconFiles lists the files tried for an OS after /etc/favicon.png.
func iconFiles(name, distro string, major int) []iconFile {
	if name != "linux" {
		return nil
	}
	switch distro {
	case "rhel", "redhat-based", "centos", "scientificlinux", "oraclelinux":
		if major < 7 {
			return []iconFile{{"usr/share/pixmaps/redhat/shadowman-transparent.png", 102400}}
		}
		return []iconFile{{"usr/share/pixmaps/fedora-logo-sprite.png", 102400}}
	case "sles", "suse-based":
		return iconPaths["opensuse"]
	}
	return iconPaths[distro]
}

// findIcon returns the OS's icon read from fsys (its mounted view), or
// nil. On Windows, libguestfs looks for /etc/favicon.png
// case-insensitively; fs/ntfs and fs/fat match names that way already.
func findIcon(fsys iofs.FS, name, distro string, major int) []byte {
	if b := readPNG(fsys, "etc/favicon.png", 0); b != nil {
		return b
	}
	for _, f := range iconFiles(name, distro, major) {
		if b := readPNG(fsys, f.path, f.max); b != nil {
			return b
		}
	}
	return nil
}

// maxIcon bounds what is read: libguestfs' own bound is 4 bytes a pixel
// of at most 1024x1024.
const maxIcon = 4 * 1024 * 1024

// readPNG returns the file if it is a regular file (after links) holding
// a PNG of 16..1024 pixels a side, no larger than max bytes (0: 4 bytes a
// pixel); nil otherwise.
func readPNG(fsys iofs.FS, name string, max int64) []byte {
	f, err := fsys.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxIcon {
		return nil
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil
	}
	w, h, ok := pngSize(bytes.NewReader(b))
	if !ok || w < 16 || h < 16 || w > 1024 || h > 1024 {
		return nil
	}
	if max == 0 {
		max = 4 * int64(w) * int64(h)
	}
	if int64(len(b)) > max {
		return nil
	}
	return b
}

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// pngSize reads a PNG signature and its first chunk, which must be IHDR,
// and returns the image's width and height.
func pngSize(r io.Reader) (w, h uint32, ok bool) {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, 0, false
	}
	if !bytes.Equal(hdr[:8], pngSig) || string(hdr[12:16]) != "IHDR" || binary.BigEndian.Uint32(hdr[8:12]) != 13 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(hdr[16:20]), binary.BigEndian.Uint32(hdr[20:24]), true
}
