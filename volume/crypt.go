package volume

// crypt lists a LUKS container. Unlocking is done once volume/luks lands;
// until then the container is listed locked with its header as metadata.
func (o *opener) crypt(d *Device, depth int) {
	d.LUKSUUID = d.Type.UUID
	o.st.Crypt = append(o.st.Crypt, d)
	if o.opt.Keys.empty() {
		d.Note = "LUKS container: locked (no key given)"
		return
	}
	_ = depth
	d.Note = "LUKS container: locked"
}
