package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/virt-bmap/virt-bmap/inspect"
)

// writeTable writes a summary for a person: one table of the operating
// systems, then per OS its filesystems and mount points.
func writeTable(w io.Writer, res *inspect.Result) error {
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone))
	t.Header("ROOT", "NAME", "DISTRO", "VERSION", "PRODUCT", "ARCH", "HOSTNAME", "OSINFO", "PACKAGES", "APPS")
	for _, o := range res.OperatingSystems {
		pk := o.PackageFormat
		if o.PackageManagement != "" {
			pk += "/" + o.PackageManagement
		}
		if err := t.Append(o.Root, o.Name, o.Distro, fmt.Sprintf("%d.%d", o.MajorVersion, o.MinorVersion),
			o.ProductName, o.Arch, o.Hostname, o.OSInfo, pk, strconv.Itoa(len(o.Applications))); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, o := range res.OperatingSystems {
		fmt.Fprintf(w, "\n%s:\n", o.Root)
		ft := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off),
			tablewriter.WithRowAutoWrap(tw.WrapNone))
		ft.Header("DEVICE", "TYPE", "LABEL", "UUID", "MOUNTPOINT")
		for _, f := range o.Filesystems {
			var mps []string
			for _, m := range o.Mountpoints {
				if m.Device == f.Device {
					mps = append(mps, m.Path)
				}
			}
			if err := ft.Append(f.Device, f.Type, f.Label, f.UUID, strings.Join(mps, " ")); err != nil {
				return err
			}
		}
		if err := ft.Render(); err != nil {
			return err
		}
	}
	return nil
}
