package reports

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/virt-bmap/virt-bmap/bmap"
)

// DefaultTop is how many files the text report lists per table.
const DefaultTop = 20

// WriteText writes s as text tables: the totals, the top files by bytes
// read, the first files read in order, the partitions, and the unmapped
// reads. top bounds the rows of the file tables (<= 0: DefaultTop).
func WriteText(w io.Writer, s *Summary, top int) error {
	if top <= 0 {
		top = DefaultTop
	}
	t := &s.Totals
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("Trace: %s, %s read (%s distinct) in %s", nouns(t.Requests, "request"), bytesStr(t.Bytes), bytesStr(t.DistinctBytes), durStr(s.Duration))
	p(", %s", nouns(t.Connections, "connection"))
	if t.CacheRequests > 0 {
		p(", %s", nouns(t.CacheRequests, "cache request"))
	}
	if t.Errors > 0 {
		p(", %s", nouns(t.Errors, "error"))
	}
	p("\nMapped: %s, %s; unmapped: %s, %s in %s",
		nouns(t.MappedRequests, "request"), bytesStr(t.MappedBytes), nouns(t.UnmappedRequests, "request"), bytesStr(t.UnmappedBytes), nouns(int64(len(s.Unmapped)), "range"))
	if t.PartlyMappedRequests > 0 {
		p("; partly mapped: %s", nouns(t.PartlyMappedRequests, "request"))
	}
	p("\n")
	p("Objects read: %d", t.Objects)
	if t.ObjectsDropped > 0 {
		p(" (%d more not listed)", t.ObjectsDropped)
	}
	p("\n")

	var files []*ObjectStats
	for i := range s.Objects {
		if k := s.Objects[i].Type; k == bmap.KindFile || k == bmap.KindDir || k == bmap.KindMeta {
			files = append(files, &s.Objects[i])
		}
	}

	byBytes := slices.Clone(files)
	slices.SortStableFunc(byBytes, func(a, b *ObjectStats) int { return cmp.Compare(b.Bytes, a.Bytes) })
	if len(byBytes) > 0 {
		p("\nTop %d files, directories and metadata by bytes read:\n", min(top, len(byBytes)))
		rows := [][]string{}
		for i, o := range byBytes[:min(top, len(byBytes))] {
			rows = append(rows, []string{strconv.Itoa(i + 1), string(o.Type), o.Device, o.Path, num(o.Reads), num(o.Bytes), num(o.DistinctBytes), shareStr(o), durStr(o.First)})
		}
		if err := table(w, []string{"#", "Type", "Device", "Path", "Reads", "Bytes", "Distinct", "Share", "First"}, "rlllrrrrr", rows); err != nil {
			return err
		}
	}
	if len(files) > 0 {
		p("\nThe first %d files, directories and metadata read:\n", min(top, len(files)))
		rows := [][]string{}
		for i, o := range files[:min(top, len(files))] {
			// The rank among the files, directories and metadata
			// (o.Order counts disks and partitions too).
			rows = append(rows, []string{strconv.Itoa(i + 1), durStr(o.First), string(o.Type), o.Device, o.Path, num(o.Reads), num(o.Bytes), shareStr(o)})
		}
		if err := table(w, []string{"Order", "First", "Type", "Device", "Path", "Reads", "Bytes", "Share"}, "rrlllrrr", rows); err != nil {
			return err
		}
	}

	var parts [][]string
	for i := range s.Objects {
		o := &s.Objects[i]
		if o.Type == bmap.KindPartition || o.Type == bmap.KindLV || o.Type == bmap.KindDisk {
			parts = append(parts, []string{string(o.Type), o.Device, sizeStr(o), num(o.Reads), num(o.Bytes), num(o.DistinctBytes), shareStr(o), durStr(o.First), durStr(o.Last)})
		}
	}
	if len(parts) > 0 {
		p("\nPartitions and disks:\n")
		if err := table(w, []string{"Type", "Device", "Size", "Reads", "Bytes", "Distinct", "Share", "First", "Last"}, "llrrrrrrr", parts); err != nil {
			return err
		}
	}

	// The boot's story: files in the order their contents were first read,
	// with the share of each that was read: whole-file loads (a kernel,
	// an initrd, a program) stand out from files merely brushed.
	var story []*ObjectStats
	for _, o := range files {
		if o.Type == bmap.KindFile && o.FirstContents != nil {
			story = append(story, o)
		}
	}
	slices.SortStableFunc(story, func(a, b *ObjectStats) int { return cmp.Compare(*a.FirstContents, *b.FirstContents) })
	if len(story) > 0 {
		n := min(2*top, len(story))
		p("\nFiles in the order their contents were first read (%d of %d):\n", n, len(story))
		rows := [][]string{}
		for i, o := range story[:n] {
			load := ""
			if o.Share != nil && *o.Share >= 0.999 {
				load = "whole"
			}
			rows = append(rows, []string{strconv.Itoa(i + 1), durStr(*o.FirstContents), o.Device, o.Path, sizeStr(o), num(o.DistinctBytes), shareStr(o), load})
		}
		if err := table(w, []string{"#", "First read", "Device", "Path", "Size", "Read", "Share", "Load"}, "rrllrrrl", rows); err != nil {
			return err
		}
	}

	if len(s.Unmapped) > 0 {
		n := min(top, len(s.Unmapped))
		p("\nUnmapped reads (%d range%s", len(s.Unmapped), plural(int64(len(s.Unmapped))))
		if s.UnmappedApprox {
			p(", merged: the ranges include gaps")
		}
		p("; the first %d):\n", n)
		rows := [][]string{}
		for _, r := range s.Unmapped[:n] {
			rows = append(rows, []string{strconv.Itoa(r.Disk), fmt.Sprintf("%#x", r.Off), fmt.Sprintf("%#x", r.Off+r.Len), num(r.Len)})
		}
		if err := table(w, []string{"Disk", "Start", "End", "Bytes"}, "rrrr", rows); err != nil {
			return err
		}
	}
	return nil
}

// table renders one table; align has a letter per column (l or r).
func table(w io.Writer, header []string, align string, rows [][]string) error {
	al := make([]tw.Align, len(header))
	for i := range al {
		al[i] = tw.AlignLeft
		if i < len(align) && align[i] == 'r' {
			al[i] = tw.AlignRight
		}
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: al}),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: al}),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return fmt.Errorf("reports: text: %w", err)
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("reports: text: %w", err)
	}
	return nil
}

// nouns is "1 request", "2 requests".
func nouns(n int64, noun string) string {
	return fmt.Sprintf("%d %s%s", n, noun, plural(n))
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// num writes n with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// bytesStr writes n in binary units.
func bytesStr(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		f /= unit
		if f < unit || u == "PiB" {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
	}
	return ""
}

func sizeStr(o *ObjectStats) string {
	if o.Size == 0 {
		return "-"
	}
	return num(o.Size)
}

func shareStr(o *ObjectStats) string {
	if o.Share == nil {
		return "-"
	}
	s := strconv.FormatFloat(*o.Share*100, 'f', 1, 64) + "%"
	if o.Approx {
		s = "<=" + s
	}
	return s
}

// durStr writes a time since the start, to the microsecond.
func durStr(n Nanos) string {
	return time.Duration(n).Round(time.Microsecond).String()
}
