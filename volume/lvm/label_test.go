package lvm

import (
	"bytes"
	"errors"
	"testing"
)

func TestReadLabel(t *testing.T) {
	for _, h := range pvHeads {
		t.Run(h.file, func(t *testing.T) {
			b := head(t, h.file)
			l, err := ReadLabel(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			// pvcreate puts the label in sector 1, one data area from
			// pe_start (1 MiB) and one metadata area at 4 KiB.
			if l.Sector != 1 || l.UUID != h.uuid || l.DevSize != h.deviceSize {
				t.Errorf("label = %+v", l)
			}
			if len(l.DataAreas) != 1 || l.DataAreas[0].Off != 1<<20 || len(l.MetaAreas) != 1 || l.MetaAreas[0].Off != 4096 {
				t.Errorf("areas: data %v meta %v", l.DataAreas, l.MetaAreas)
			}
		})
	}
	if _, err := ReadLabel(bytes.NewReader(make([]byte, 4096)), 4096); !errors.Is(err, ErrNoLabel) {
		t.Errorf("zeros: %v, want ErrNoLabel", err)
	}
}

func TestFormatUUID(t *testing.T) {
	if got := FormatUUID("LVMtst00000000000000000000linpv1"); got != "LVMtst-0000-0000-0000-0000-0000-linpv1" {
		t.Error(got)
	}
}
