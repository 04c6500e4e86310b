package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/virt-bmap/virt-bmap/volume"
)

// KeyOptions are libguestfs' options for encrypted disks: --key
// SELECTOR:key:PASSPHRASE and --key SELECTOR:file:FILENAME (repeatable;
// SELECTOR is a device such as /dev/sda2, a LUKS UUID, or "all"),
// --keys-from-stdin (one passphrase per line, one per encrypted device in
// the order they are found; prompted for, without echo, when standard input
// is a terminal) and --echo-keys (echo what is typed at the prompt).
type KeyOptions struct {
	keys      []volume.Key
	FromStdin bool
	Echo      bool
}

// Register adds the options to fl.
func (k *KeyOptions) Register(fl *pflag.FlagSet) {
	fl.Var((*keyValue)(k), "key", "SELECTOR:key:PASSPHRASE or SELECTOR:file:FILENAME")
	fl.BoolVar(&k.FromStdin, "keys-from-stdin", false, "read passphrases from standard input")
	fl.BoolVar(&k.Echo, "echo-keys", false, "echo passphrases typed at the prompt")
}

type keyValue KeyOptions

func (v *keyValue) String() string { return "" } // never print a key
func (v *keyValue) Type() string   { return "KEY" }
func (v *keyValue) Set(s string) error {
	k, err := volume.ParseKey(s)
	if err != nil {
		return err
	}
	v.keys = append(v.keys, k)
	return nil
}

// Keys returns the keys for volume.Open. With --keys-from-stdin, each
// container no --key unlocks takes the next line of stdin; at a terminal
// the user is prompted on prompt (standard error) and echo is off unless
// --echo-keys.
func (k *KeyOptions) Keys(stdin io.Reader, prompt io.Writer) volume.Keys {
	ks := volume.Keys{List: k.keys}
	if !k.FromStdin {
		return ks
	}
	var br *bufio.Reader
	ks.Ask = func(device string) ([]byte, error) {
		if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fmt.Fprintf(prompt, "Enter key or passphrase (\"%s\"): ", device)
			if !k.Echo {
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(prompt)
				if err != nil {
					return nil, fmt.Errorf("reading the passphrase for %s: %w", device, err)
				}
				return b, nil
			}
		}
		if br == nil {
			br = bufio.NewReader(stdin)
		}
		line, err := br.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return nil, fmt.Errorf("no passphrase for %s on standard input (--keys-from-stdin reads one line per encrypted device)", device)
		}
		return []byte(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")), nil
	}
	return ks
}
