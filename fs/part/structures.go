package part

// Region is a partition-table structure on the disk: a boot sector, a GPT
// header, an entry array.
type Region struct {
	Name     string
	Off, Len int64
}

// Structures returns where the table itself lies on the disk, for the
// block map to name reads of it.
func (t *Table) Structures() []Region {
	ss := t.SectorSize
	if ss == 0 {
		ss = sectorSize
	}
	switch t.Scheme {
	case SchemeMBR:
		return []Region{{"MBR", 0, sectorSize}}
	case SchemeGPT:
		return []Region{{"protective MBR", 0, sectorSize}, {"GPT header", ss, ss}}
	}
	return nil
}
