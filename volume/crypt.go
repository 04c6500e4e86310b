package volume

import (
	"errors"
	"fmt"
	"strings"

	"github.com/virt-bmap/virt-bmap/volume/luks"
)

// crypt reads the LUKS header of the container d (its regions become the
// container's structures, mapped as metadata), and unlocks it with the
// first key that opens it: the --key entries whose selector matches d, then
// one asked for (--keys-from-stdin). The unlocked volume is added as
// /dev/mapper/luks-UUID, its bytes placed sector for sector in the
// container's payload, and probed in turn (LVM on LUKS). A wrong key is an
// error for this container only; no error carries a key.
func (o *opener) crypt(d *Device, depth int) {
	o.st.Crypt = append(o.st.Crypt, d)
	h, err := luks.ReadHeader(d.R, d.Size)
	if err != nil {
		o.warn(d.Name, err)
		d.Note = "LUKS container: header unreadable: " + err.Error()
		return
	}
	d.LUKSUUID = h.UUID
	for _, r := range h.Regions {
		d.Structures = append(d.Structures, Structure{Name: r.Name, Off: r.Off, Len: r.Len})
	}
	for _, w := range h.Warnings {
		o.warn(d.Name, errors.New("luks: "+w))
	}
	if err := h.Supported(); err != nil {
		o.warn(d.Name, err)
		d.Note = "LUKS container: " + err.Error()
		return
	}
	if o.opt.Keys.empty() {
		d.Note = "LUKS container: locked (no key given)"
		return
	}
	vol, err := o.unlock(d, h)
	if err != nil {
		o.warn(d.Name, err)
		d.Note = "LUKS container: locked: " + err.Error()
		return
	}
	name := "/dev/mapper/luks-" + h.UUID
	c := &Device{Name: name, Kind: KindCrypt, Disk: d.Disk, R: vol, Size: vol.Size(), Parent: d,
		Start: vol.Offset(), LUKSUUID: h.UUID,
		DMUUID: fmt.Sprintf("CRYPT-LUKS%d-%s-luks-%s", h.Version, strings.ReplaceAll(h.UUID, "-", ""), h.UUID)}
	c.mapping = sub(d, vol.Offset())
	if depth >= maxNesting {
		o.warn(name, fmt.Errorf("volumes nested more than %d deep: not probed", maxNesting))
		o.st.Devices = append(o.st.Devices, c)
		return
	}
	o.add(c, depth+1)
}

// unlock tries the matching --key entries, then asks once.
func (o *opener) unlock(d *Device, h *luks.Header) (*luks.Volume, error) {
	tried := 0
	var last error
	for _, k := range o.opt.Keys.List {
		if !k.Matches(d) {
			continue
		}
		tried++
		v, err := h.Unlock(d.R, d.Size, k.Passphrase)
		if err == nil {
			return v, nil
		}
		last = err
		if !errors.Is(err, luks.ErrWrongKey) {
			return nil, err
		}
	}
	if o.opt.Keys.Ask != nil {
		pass, err := o.opt.Keys.Ask(d.Name)
		if err != nil {
			if last != nil {
				return nil, fmt.Errorf("%d --key tried (%w); %v", tried, last, err)
			}
			return nil, err
		}
		return h.Unlock(d.R, d.Size, pass)
	}
	if tried == 0 {
		return nil, fmt.Errorf("no --key for %s (UUID %s)", d.Name, h.UUID)
	}
	return nil, last
}
