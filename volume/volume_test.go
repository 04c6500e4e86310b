package volume

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// TestVolumeIDs checks the partition identities volume.Open reports (GPT
// unique GUID and name, MBR disk id and number, offset) against what
// sfdisk --json reads from the same images.
func TestVolumeIDs(t *testing.T) {
	testutil.NeedTools(t, "sfdisk")
	for _, c := range []struct{ label, parts string }{
		{"gpt", "size=2MiB, name=\"EFI system\"\nsize=2MiB, name=root\nsize=1MiB\n"},
		{"dos", "label-id: 0x0b1e0004\nsize=2MiB\nsize=2MiB\n"},
	} {
		t.Run(c.label, func(t *testing.T) {
			p := testutil.SparseFile(t, 8<<20)
			testutil.Run(t, "label: "+c.label+"\n"+c.parts, "sfdisk", "-q", p)
			img, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			st0, err := Open([]Disk{{Index: 1, Image: p, R: bytes.NewReader(img), Size: int64(len(img))}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var vols []*Device
			for _, d := range st0.Devices {
				if d.Kind == KindPartition {
					vols = append(vols, d)
				}
			}
			st := testutil.Sfdisk(t, p).PartitionTable
			if len(vols) != len(st.Partitions) {
				t.Fatalf("%d volumes, sfdisk lists %d partitions", len(vols), len(st.Partitions))
			}
			for i, sp := range st.Partitions {
				v := vols[i]
				if v.Start != sp.Start*512 || v.Size != sp.Size*512 {
					t.Errorf("%s: at %d size %d, sfdisk says sector %d size %d", v.Name, v.Start, v.Size, sp.Start, sp.Size)
				}
				if c.label == "gpt" {
					if v.PartUUID != strings.ToUpper(sp.UUID) || v.PartLabel != sp.Name {
						t.Errorf("%s: PartUUID %q PartLabel %q, sfdisk says %q %q", v.Name, v.PartUUID, v.PartLabel, sp.UUID, sp.Name)
					}
					continue
				}
				if id := fmt.Sprintf("0x%08x", v.MBRID); id != st.ID || v.PartNum != i+1 || v.PartLabel != "" {
					t.Errorf("%s: MBRID %s PartNum %d PartLabel %q, sfdisk says id %s number %d", v.Name, id, v.PartNum, v.PartLabel, st.ID, i+1)
				}
			}
		})
	}
}
