package volume

import (
	"fmt"
	"os"
	"strings"
)

// Key is a passphrase for the LUKS containers a selector names, as
// libguestfs' tools take it (--key SELECTOR:key:PASSPHRASE, --key
// SELECTOR:file:FILENAME): SELECTOR is a device name as Open lists it
// ("/dev/sda2", "/dev/vg/lv"), a LUKS UUID, or "all".
type Key struct {
	Selector   string
	Passphrase []byte
}

// Matches reports whether the key is for the container d.
func (k Key) Matches(d *Device) bool {
	switch {
	case k.Selector == "all":
		return true
	case k.Selector == d.Name:
		return true
	case d.LUKSUUID != "" && strings.EqualFold(k.Selector, d.LUKSUUID):
		return true
	}
	return false
}

// ParseKey reads a --key argument. The passphrase of a "file:" key is the
// file's contents (a key file is used as it is, newline included, as
// cryptsetup --key-file does). Errors never hold the passphrase.
func ParseKey(arg string) (Key, error) {
	// The selector may itself hold colons (a UUID does not, a device name
	// does not): split at the first ":key:" or ":file:".
	for _, kind := range []string{":key:", ":file:"} {
		i := strings.Index(arg, kind)
		if i < 0 {
			continue
		}
		sel, val := arg[:i], arg[i+len(kind):]
		if sel == "" {
			return Key{}, fmt.Errorf("--key: no device before %q (use DEVICE%sVALUE, or all%sVALUE)", strings.Trim(kind, ":"), kind, kind)
		}
		if kind == ":key:" {
			return Key{Selector: sel, Passphrase: []byte(val)}, nil
		}
		b, err := os.ReadFile(val)
		if err != nil {
			return Key{}, fmt.Errorf("--key %s:file:%s: %w", sel, val, err)
		}
		return Key{Selector: sel, Passphrase: b}, nil
	}
	// libguestfs' older form, DEVICE:PASSPHRASE, is not taken: it cannot
	// be told from a typo, and a wrong guess would print the secret.
	return Key{}, fmt.Errorf("--key: expected DEVICE:key:PASSPHRASE or DEVICE:file:FILENAME (the value is not shown)")
}

// Keys are the passphrases Open may try on LUKS containers.
type Keys struct {
	// List is tried in order; every key whose selector matches is tried.
	List []Key
	// Ask, when set, is called for each container no listed key unlocks,
	// in the order the containers are found (--keys-from-stdin reads one
	// line per call). It returns the passphrase, or an error to leave the
	// container locked.
	Ask func(device string) ([]byte, error)
}

func (k Keys) empty() bool { return len(k.List) == 0 && k.Ask == nil }
