package testutil

import (
	"encoding/json"
	"errors"
	"os/exec"
	"testing"
)

// SfdiskTable is what `sfdisk --json` prints about a partition table, the
// fields the tests compare. Decode saved output into it with
// encoding/json.
type SfdiskTable struct {
	PartitionTable struct {
		Label      string            `json:"label"` // "dos" or "gpt"
		ID         string            `json:"id"`    // "0x12345678" or a GUID
		SectorSize int64             `json:"sectorsize"`
		Partitions []SfdiskPartition `json:"partitions"`
	} `json:"partitiontable"`
}

// SfdiskPartition is one partition of an SfdiskTable; Start and Size
// are in sectors, Node is the image path followed by the number.
type SfdiskPartition struct {
	Node     string `json:"node"`
	Start    int64  `json:"start"`
	Size     int64  `json:"size"`
	Type     string `json:"type"`
	UUID     string `json:"uuid"`
	Name     string `json:"name"`
	Bootable bool   `json:"bootable"`
}

// Sfdisk runs `sfdisk --json path` and decodes its standard output. A
// failure of sfdisk or of the decoding fails the test (t.Fatalf); callers
// skip with NeedTools(t, "sfdisk") first.
func Sfdisk(t testing.TB, path string) SfdiskTable {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", path).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("sfdisk --json %s: %v\n%s", path, err, stderr)
	}
	var st SfdiskTable
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("sfdisk --json %s: %v\n%s", path, err, out)
	}
	return st
}
