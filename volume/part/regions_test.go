package part

import (
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/virt-bmap/virt-bmap/internal/testutil"
)

// mmlsTables lists the sectors The Sleuth Kit's mmls shows as partition
// tables ("Primary Table (#0)", "Extended Table (#1)", "GPT Header",
// "Partition Table"), as "start+length" in sectors.
func mmlsTables(t *testing.T, img string) []string {
	t.Helper()
	testutil.NeedTools(t, "mmls")
	out, err := exec.Command("mmls", img).Output()
	if err != nil {
		t.Fatalf("mmls: %v", err)
	}
	re := regexp.MustCompile(`(?m)^\d+:\s+Meta\s+(\d+)\s+\d+\s+(\d+)\s+(.*Table \(#\d+\)|GPT Header|Partition Table)\s*$`)
	var got []string
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		start, _ := strconv.ParseInt(m[1], 10, 64)
		n, _ := strconv.ParseInt(m[2], 10, 64)
		got = append(got, strconv.FormatInt(start, 10)+"+"+strconv.FormatInt(n, 10))
	}
	sort.Strings(got)
	return got
}

func regionSectors(tab *Table, skip func(Region) bool) []string {
	var got []string
	for _, r := range tab.Regions {
		if skip(r) {
			continue
		}
		got = append(got, strconv.FormatInt(r.Off/512, 10)+"+"+strconv.FormatInt(r.Len/512, 10))
	}
	sort.Strings(got)
	return got
}

// TestRegionsMatchMmls checks the MBR, EBR, GPT header and entry-array
// locations against mmls. mmls does not list the protective MBR (it calls
// it "Safety Table") nor the backup GPT, so those are left out.
func TestRegionsMatchMmls(t *testing.T) {
	for _, c := range []struct {
		name string
		img  func(testing.TB) string
		skip func(Region) bool
	}{
		{"mbr", mbrImage, func(Region) bool { return false }},
		{"gpt", gptImage, func(r Region) bool {
			return r.Name == "protective MBR" || r.Name == "GPT backup header" || r.Name == "GPT backup entries"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := c.img(t)
			want := mmlsTables(t, img)
			tab, warns, err := readImage(t, img)
			if err != nil || len(warns) != 0 {
				t.Fatalf("err %v warnings %v", err, warns)
			}
			got := regionSectors(tab, c.skip)
			if len(want) < 2 || strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("regions %v (%+v), mmls %v", got, tab.Regions, want)
			}
		})
	}
}
