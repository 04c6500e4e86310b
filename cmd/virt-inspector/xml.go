package main

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"strconv"

	"github.com/virt-bmap/virt-bmap/inspect"
)

// The XML document has libguestfs' element names and order, so that it
// validates against virt-inspector.rng. Absent facts are left out, as
// libguestfs does; major and minor versions are always there. build_id is
// not in the schema (libguestfs' virt-inspector leaves it out of its XML
// too), so it is only in the JSON and the table.
type xmlOSes struct {
	XMLName xml.Name `xml:"operatingsystems"`
	OS      []xmlOS  `xml:"operatingsystem"`
}

type xmlOS struct {
	Root              string     `xml:"root"`
	Name              string     `xml:"name"`
	Arch              string     `xml:"arch,omitempty"`
	Distro            string     `xml:"distro,omitempty"`
	ProductName       string     `xml:"product_name,omitempty"`
	ProductVariant    string     `xml:"product_variant,omitempty"`
	MajorVersion      int        `xml:"major_version"`
	MinorVersion      int        `xml:"minor_version"`
	SystemRoot        string     `xml:"windows_systemroot,omitempty"`
	ControlSet        string     `xml:"windows_current_control_set,omitempty"`
	PackageFormat     string     `xml:"package_format,omitempty"`
	PackageManagement string     `xml:"package_management,omitempty"`
	Hostname          string     `xml:"hostname,omitempty"`
	OSInfo            string     `xml:"osinfo,omitempty"`
	Mountpoints       []xmlMount `xml:"mountpoints>mountpoint"`
	Filesystems       []xmlFS    `xml:"filesystems>filesystem"`
	DriveMappings     *xmlDrives `xml:"drive_mappings,omitempty"`
	Applications      *xmlApps   `xml:"applications,omitempty"`
	Icon              string     `xml:"icon,omitempty"` // base64 PNG
}

type xmlMount struct {
	Dev  string `xml:"dev,attr"`
	Path string `xml:",chardata"`
}

type xmlFS struct {
	Dev   string `xml:"dev,attr"`
	Type  string `xml:"type,omitempty"`
	Label string `xml:"label,omitempty"`
	UUID  string `xml:"uuid,omitempty"`
}

type xmlDrive struct {
	Name string `xml:"name,attr"`
	Dev  string `xml:",chardata"`
}

type xmlDrives struct {
	Drive []xmlDrive `xml:"drive_mapping"`
}

type xmlApps struct {
	App []xmlApp `xml:"application"`
}

type xmlApp struct {
	Name          string `xml:"name"`
	DisplayName   string `xml:"display_name,omitempty"`
	Epoch         string `xml:"epoch,omitempty"`
	Version       string `xml:"version,omitempty"`
	Release       string `xml:"release,omitempty"`
	Arch          string `xml:"arch,omitempty"`
	InstallPath   string `xml:"install_path,omitempty"`
	Publisher     string `xml:"publisher,omitempty"`
	URL           string `xml:"url,omitempty"`
	SourcePackage string `xml:"source_package,omitempty"`
	Summary       string `xml:"summary,omitempty"`
	Description   string `xml:"description,omitempty"`
}

// writeXML writes res as virt-inspector does. withApps false leaves the
// applications element out (--no-applications).
func writeXML(w io.Writer, res *inspect.Result, withApps bool) error {
	doc := xmlOSes{OS: []xmlOS{}}
	for _, o := range res.OperatingSystems {
		x := xmlOS{Root: o.Root, Name: o.Name, Arch: o.Arch, Distro: o.Distro,
			ProductName: o.ProductName, ProductVariant: o.ProductVariant,
			MajorVersion: o.MajorVersion, MinorVersion: o.MinorVersion,
			SystemRoot: o.WindowsSystemRoot, ControlSet: o.WindowsCurrentControlSet,
			PackageFormat: o.PackageFormat, PackageManagement: o.PackageManagement,
			Hostname: o.Hostname, OSInfo: o.OSInfo}
		for _, m := range o.Mountpoints {
			x.Mountpoints = append(x.Mountpoints, xmlMount{Dev: m.Device, Path: m.Path})
		}
		for _, f := range o.Filesystems {
			x.Filesystems = append(x.Filesystems, xmlFS{Dev: f.Device, Type: f.Type, Label: f.Label, UUID: f.UUID})
		}
		if len(o.DriveMappings) > 0 { // the schema wants at least one
			x.DriveMappings = &xmlDrives{}
			for _, d := range o.DriveMappings {
				x.DriveMappings.Drive = append(x.DriveMappings.Drive, xmlDrive{Name: d.Name, Dev: d.Device})
			}
		}
		if withApps {
			x.Applications = &xmlApps{}
			for _, a := range o.Applications {
				xa := xmlApp{Name: a.Name, DisplayName: a.DisplayName, Version: a.Version,
					Release: a.Release, Arch: a.Arch, InstallPath: a.InstallPath, Publisher: a.Publisher,
					URL: a.URL, SourcePackage: a.SourcePackage, Summary: a.Summary, Description: a.Description}
				if a.Epoch != 0 {
					xa.Epoch = strconv.Itoa(a.Epoch)
				}
				if a.XMLVersion != "" { // libguestfs' own split (dpkg: at the first hyphen)
					xa.Version, xa.Release = a.XMLVersion, a.XMLRelease
				}
				x.Applications.App = append(x.Applications.App, xa)
			}
		}
		if len(o.Icon) > 0 {
			x.Icon = base64.StdEncoding.EncodeToString(o.Icon)
		}
		doc.OS = append(doc.OS, x)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
