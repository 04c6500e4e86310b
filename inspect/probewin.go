package inspect

import (
	"errors"
	"fmt"

	"github.com/virt-bmap/virt-bmap/inspect/windows"
)

// probeWindows recognises a Windows system volume (inspect/windows) and
// matches its drive letters (SYSTEM\MountedDevices) to the guest's
// partitions: an MBR letter by disk signature and partition offset, a GPT
// letter by the partition's unique GUID.
func probeWindows(g *guest, v *Volume) (*OS, bool) {
	info, err := windows.Inspect(v.FS)
	if errors.Is(err, windows.ErrNotWindows) || info == nil {
		return nil, false
	}
	if err != nil {
		g.warn(fmt.Errorf("%s: %w", v.Name, err))
	}
	os := &OS{Root: v.Name, Name: "windows", Distro: "windows", Arch: info.Arch,
		ProductName: info.ProductName, ProductVariant: info.ProductVariant,
		MajorVersion: info.Major, MinorVersion: info.Minor, WindowsSystemRoot: info.SystemRoot, WindowsCurrentControlSet: info.ControlSet,
		Hostname: info.Hostname, BuildID: info.BuildID, OSInfo: info.OSInfo,
		Mountpoints:   []Mountpoint{{Device: v.Name, Path: "/"}},
		Filesystems:   []Filesystem{v.filesystem()},
		DriveMappings: []DriveMapping{}, Applications: []Application{}}
	for _, d := range info.DriveLetters {
		var p *Volume
		switch d.Kind {
		case windows.DriveGPT:
			p = g.find(func(x *Volume) bool { return equalFold(x.PartUUID, d.GPTGUID) })
		case windows.DriveMBR:
			p = g.find(func(x *Volume) bool {
				return x.LV == "" && x.PartNum > 0 && x.PartUUID == "" && x.MBRID == d.MBRSignature &&
					x.Start >= 0 && uint64(x.Start) == d.MBROffset
			})
		}
		if p == nil {
			continue
		}
		os.DriveMappings = append(os.DriveMappings, DriveMapping{Name: d.Letter, Device: p.Name})
	}
	if !g.opt.NoApplications {
		for _, a := range info.Applications {
			os.Applications = append(os.Applications, Application{Name: a.Name, DisplayName: a.DisplayName,
				Version: a.Version, Publisher: a.Publisher, InstallPath: a.InstallPath, URL: a.URL,
				Description: a.Description})
		}
	}
	if !g.opt.NoIcon {
		os.Icon = findIcon(v.FS, os.Name, os.Distro, os.MajorVersion)
	}
	return os, true
}
