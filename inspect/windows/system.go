package windows

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// system is what the SYSTEM hive says.
type system struct {
	ControlSet   string // "ControlSet001"
	Hostname     string
	DriveLetters []DriveLetter
}

// DriveKind tells how a MountedDevices value names its volume.
type DriveKind string

const (
	DriveMBR DriveKind = "mbr" // disk signature + partition byte offset
	DriveGPT DriveKind = "gpt" // GPT partition GUID
)

// DriveLetter is one \DosDevices\X: value of SYSTEM\MountedDevices,
// decoded but not matched to a partition: the caller matches MBRSignature
// (the MBR's disk signature at byte 440) and MBROffset (the partition's
// start in bytes), or GPTGUID (the partition's unique GUID).
type DriveLetter struct {
	Letter       string // "C"
	Kind         DriveKind
	MBRSignature uint32
	MBROffset    uint64
	GPTGUID      string // "6F1CE3A2-5B6E-4E0C-9A1D-2C3B4D5E6F70"
}

// readSystem reads the control set, hostname and drive letters from a
// SYSTEM hive. The hostname is ControlSetNNN\Services\Tcpip\Parameters'
// Hostname, else ControlSetNNN\Control\ComputerName\ComputerName's
// ComputerName. Errors in one part do not stop the others.
func readSystem(h *hive) (system, error) {
	sys := system{DriveLetters: []DriveLetter{}}
	var errs []string

	sel, err := h.open("Select")
	if err == nil && sel != nil {
		var m map[string]value
		if m, err = sel.valueMap(); err == nil {
			if cur, ok := dword(m, "Current"); ok && cur < 1000 {
				sys.ControlSet = fmt.Sprintf("ControlSet%03d", cur)
			}
		}
	}
	if err != nil {
		errs = append(errs, "Select: "+err.Error())
	}
	if sys.ControlSet != "" {
		for _, kv := range [][2]string{
			{`Services\Tcpip\Parameters`, "Hostname"},
			{`Control\ComputerName\ComputerName`, "ComputerName"},
		} {
			k, err := h.open(sys.ControlSet + `\` + kv[0])
			if err == nil && k != nil {
				var m map[string]value
				if m, err = k.valueMap(); err == nil {
					if s, ok := str(m, kv[1]); ok && s != "" {
						sys.Hostname = s
						break
					}
				}
			}
			if err != nil {
				errs = append(errs, sys.ControlSet+`\`+kv[0]+": "+err.Error())
			}
		}
	}

	md, err := h.open("MountedDevices")
	if err == nil && md != nil {
		var vs []value
		if vs, err = md.values(); err == nil {
			for _, v := range vs {
				if v.data == nil || v.data.Error != nil {
					continue
				}
				if dl, ok := decodeMountedDevice(v.name, v.data.Data); ok {
					sys.DriveLetters = append(sys.DriveLetters, dl)
				}
			}
			sort.SliceStable(sys.DriveLetters, func(i, j int) bool {
				return sys.DriveLetters[i].Letter < sys.DriveLetters[j].Letter
			})
		}
	}
	if err != nil {
		errs = append(errs, "MountedDevices: "+err.Error())
	}
	if len(errs) > 0 {
		return sys, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return sys, nil
}

// decodeMountedDevice decodes a MountedDevices value named
// "\DosDevices\X:": 12 bytes are an MBR disk signature (LE) and the
// partition's byte offset (LE); "DMIO:ID:" and 16 bytes are a GPT
// partition GUID (mixed-endian, as on disk). Other names and forms (a
// volume GUID's name, a device path in UTF-16) are not drive letters.
func decodeMountedDevice(name string, data []byte) (DriveLetter, bool) {
	const prefix = `\DosDevices\`
	if len(name) != len(prefix)+2 || !strings.EqualFold(name[:len(prefix)], prefix) || name[len(prefix)+1] != ':' {
		return DriveLetter{}, false
	}
	l := name[len(prefix)]
	if l >= 'a' && l <= 'z' {
		l -= 'a' - 'A'
	}
	if l < 'A' || l > 'Z' {
		return DriveLetter{}, false
	}
	dl := DriveLetter{Letter: string(l)}
	const dmio = "DMIO:ID:"
	isDMIO := len(data) >= len(dmio) && string(data[:len(dmio)]) == dmio
	switch {
	case isDMIO && len(data) == len(dmio)+16:
		dl.Kind = DriveGPT
		dl.GPTGUID = formatGUID(data[len(dmio):])
	case !isDMIO && len(data) == 12:
		dl.Kind = DriveMBR
		dl.MBRSignature = binary.LittleEndian.Uint32(data)
		dl.MBROffset = binary.LittleEndian.Uint64(data[4:])
	default:
		return DriveLetter{}, false
	}
	return dl, true
}

// formatGUID formats a 16-byte on-disk (mixed-endian) GUID.
func formatGUID(g []byte) string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X",
		binary.LittleEndian.Uint32(g), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}
