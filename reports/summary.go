// Package reports turns a bmaplogger trace into answers: which files,
// directories, metadata structures and partitions a client (a booting
// guest) read, in what order, how much of each, when, what it read that
// belongs to nothing, and where on the disk the reads went.
//
// An Aggregator (aggregate.go) is a logger.Sink, so it summarises a trace
// live while bmaplogger serves; fed the events of an NDJSON trace
// (logger.ReadNDJSON, AddJSON) it gives the same Summary afterwards. The
// Summary is written as JSON (json.go, the schema below), as text tables
// (text.go, github.com/olekukonko/tablewriter) or as one self-contained
// HTML page (html.go); Write picks the format by the file's extension.
//
// # Memory
//
// An Aggregator's memory is bounded whatever the length of the trace: it
// keeps one record per object read (bounded by the map, or by
// MaxObjects for a trace without one), a set of coalesced byte ranges per
// object capped at Options.MaxRanges ranges (past the cap the closest
// ranges are merged and the object's distinct bytes become an upper bound,
// flagged "approx"; once all objects together hold MaxTotalRanges ranges,
// an object that grows is cut to 16), the same for the unmapped ranges and the read regions
// of each disk (of at most MaxDisks disks: the reads of further disks
// count in the totals and the timeline only), and at most MaxBuckets
// timeline buckets (the bucket width doubles as the trace grows).
//
// # The JSON report (version 1)
//
// One object; every time is in nanoseconds since "start"; every offset
// and length in bytes, offsets from the start of the disk:
//
//	{"version":1,
//	 "start":"2026-11-20T10:00:00.123456789Z",   the trace's start (RFC 3339, UTC)
//	 "duration_ns":7012345678,                   end of the last request (t_ns + dur_ns)
//	 "exports":[{"name":"boot.img","disk":1,"device":"/dev/sda","image":"/vm/boot.img","size":67108864}],
//	 "totals":{
//	   "requests":18600,        reads and cache requests traced
//	   "bytes":9523200,         sum of their lengths
//	   "distinct_bytes":9000000,  bytes of the disks read at least once (per disk, summed)
//	   "mapped_requests":..., "mapped_bytes":...,      requests wholly / bytes inside an object
//	                            other than a disk (partition, LV, metadata, directory, file)
//	   "unmapped_requests":..., "unmapped_bytes":...,  requests wholly / bytes in only a disk or nothing
//	   "partly_mapped_requests":...,  requests with bytes of both (the three counts add up to requests)
//	   "cache_requests":0,      NBD_CMD_CACHE requests (counted in requests)
//	   "errors":0,              requests the client got an error for
//	   "connections":1,         connections: the server's count when it gave one
//	                            (Aggregator.SetConnections), else distinct connection numbers of the reads
//	   "objects":123,           objects read (the length of "objects" unless capped)
//	   "objects_dropped":0      objects past MaxObjects, not listed (a trace without a map only)
//	 },
//	 "objects":[                in order of first read
//	   {"type":"f","disk":1,"device":"/dev/sda1","path":"/boot/vmlinuz","inode":12,
//	    "size":5000000,         bytes: a file's or directory's size from the map; for other
//	                            objects the sum of their extents; absent when unknown
//	    "first_ns":..., "last_ns":...,   arrival of the first and last request that touched it
//	    "reads":1200,           requests that touched it
//	    "bytes":5000000,        sum over those requests of the bytes inside the object
//	    "distinct_bytes":5001216,  bytes of the object read at least once (disk bytes, union)
//	    "approx":true,          only when the range cap was hit: distinct_bytes is an upper bound
//	    "share":1.0,            files and directories: the part of the contents [0,size) read;
//	                            other objects: distinct_bytes/size; absent when size is unknown
//	    "order":1}              rank by first read, from 1
//	 ],
//	 "unmapped":[{"disk":1,"off":0,"len":512}],   coalesced ranges read that lie in no object
//	                            but a disk (or in none), in disk order
//	 "unmapped_approx":false,   true when the range cap merged unmapped ranges (gaps included)
//	 "timeline":{"bucket_ns":1048576,"buckets":[  bucket i covers [i*bucket_ns, (i+1)*bucket_ns)
//	   {"requests":12,"bytes":6144,"by_device":{"/dev/sda1":5632,"/dev/sda":512}}]},
//	                            requests by arrival; by_device splits their bytes by partition,
//	                            bytes in no partition go to the disk's device
//	 "layout":[                 per disk, for a disk map
//	   {"disk":1,"device":"/dev/sda","size":67108864,
//	    "partitions":[{"device":"/dev/sda1","off":1048576,"len":66060288}],
//	    "objects":[{"object":0,"extents":[{"off":..., "len":...}]}],   objects read (index into
//	                            "objects"), files and directories first, at most MaxLayoutObjects,
//	                            each at most MaxLayoutExtents extents (the closest merged), at
//	                            most MaxLayoutTotal extents in all
//	    "reads":[{"off":0,"len":1024,"first_ns":0}],   coalesced regions read, with the
//	                            first time any of their bytes was read; at most Options.MaxRanges
//	    "reads_approx":false}
//	 ]}
//
// Fields are added without a version bump (readers ignore unknown fields);
// Version changes on any incompatible change.
package reports

import (
	"time"

	"github.com/virt-bmap/virt-bmap/bmap"
	"github.com/virt-bmap/virt-bmap/logger"
)

// Version is the version of the JSON report.
const Version = 1

// Summary is the JSON report, and what the text and HTML reports render.
type Summary struct {
	Version        int                  `json:"version"`
	Start          time.Time            `json:"start"`
	Duration       Nanos                `json:"duration_ns"`
	Exports        []logger.ExportEntry `json:"exports"`
	Totals         Totals               `json:"totals"`
	Objects        []ObjectStats        `json:"objects"`
	Unmapped       []Range              `json:"unmapped"`
	UnmappedApprox bool                 `json:"unmapped_approx"`
	Timeline       Timeline             `json:"timeline"`
	Layout         []DiskLayout         `json:"layout"`
}

// Nanos is a duration written in JSON as integer nanoseconds.
type Nanos int64

// Duration converts n to a time.Duration.
func (n Nanos) Duration() time.Duration { return time.Duration(n) }

// Totals counts the whole trace.
type Totals struct {
	Requests         int64 `json:"requests"`
	Bytes            int64 `json:"bytes"`
	DistinctBytes    int64 `json:"distinct_bytes"`
	MappedRequests   int64 `json:"mapped_requests"`
	MappedBytes      int64 `json:"mapped_bytes"`
	UnmappedRequests int64 `json:"unmapped_requests"`
	// PartlyMappedRequests read bytes of both kinds; MappedRequests,
	// UnmappedRequests and it add up to Requests.
	PartlyMappedRequests int64 `json:"partly_mapped_requests"`
	UnmappedBytes        int64 `json:"unmapped_bytes"`
	CacheRequests        int64 `json:"cache_requests"`
	Errors               int64 `json:"errors"`
	Connections          int64 `json:"connections"`
	Objects              int64 `json:"objects"`
	ObjectsDropped       int64 `json:"objects_dropped"`
}

// ObjectStats is what was read of one object.
type ObjectStats struct {
	Type          bmap.Kind `json:"type"`
	Disk          int       `json:"disk"`
	Device        string    `json:"device"`
	Path          string    `json:"path,omitempty"`
	Inode         uint64    `json:"inode,omitempty"`
	Size          int64     `json:"size,omitempty"`
	First         Nanos     `json:"first_ns"`
	Last          Nanos     `json:"last_ns"`
	Reads         int64     `json:"reads"`
	Bytes         int64     `json:"bytes"`
	DistinctBytes int64     `json:"distinct_bytes"`
	Approx        bool      `json:"approx,omitempty"`
	Share         *float64  `json:"share,omitempty"`
	Order         int       `json:"order"`
	// FirstContents is when a file's or directory's contents were first
	// read (nil: never, only its record, inode or index blocks).
	FirstContents *Nanos `json:"first_contents_ns,omitempty"`
}

// Range is a byte range of a disk.
type Range struct {
	Disk int   `json:"disk"`
	Off  int64 `json:"off"`
	Len  int64 `json:"len"`
}

// Timeline is the trace in fixed time buckets.
type Timeline struct {
	BucketNs Nanos    `json:"bucket_ns"`
	Buckets  []Bucket `json:"buckets"`
}

// Bucket is one interval of the timeline.
type Bucket struct {
	Requests int64            `json:"requests"`
	Bytes    int64            `json:"bytes"`
	ByDevice map[string]int64 `json:"by_device"`
}

// DiskLayout places what was read on one disk, for a disk map.
type DiskLayout struct {
	Disk        int            `json:"disk"`
	Device      string         `json:"device"`
	Size        int64          `json:"size"`
	Partitions  []Extent       `json:"partitions"`
	Objects     []LayoutObject `json:"objects"`
	Reads       []ReadRegion   `json:"reads"`
	ReadsApprox bool           `json:"reads_approx"`
}

// Extent is a named byte range of a disk (a partition).
type Extent struct {
	Device string `json:"device"`
	Off    int64  `json:"off"`
	Len    int64  `json:"len"`
}

// LayoutObject is where an object that was read lies on its disk.
type LayoutObject struct {
	Object  int    `json:"object"` // index into Summary.Objects
	Extents []Span `json:"extents"`
}

// Span is an offset and a length.
type Span struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// ReadRegion is a coalesced region of a disk that was read.
type ReadRegion struct {
	Off   int64 `json:"off"`
	Len   int64 `json:"len"`
	First Nanos `json:"first_ns"` // first time any byte of it was read
}

// Limits on what a Summary holds (see Memory in the package doc).
const (
	DefaultMaxRanges = 4096    // Options.MaxRanges default
	MaxObjects       = 1 << 18 // objects kept from a trace without a map
	MaxTotalRanges   = 1 << 21 // ranges held by all objects' sets (48 MiB)
	minRanges        = 16      // ranges per object once MaxTotalRanges is reached
	MaxBuckets       = 1024    // timeline buckets (the width doubles past it)
	MinBucket        = time.Millisecond
	MaxDisks         = 64      // disks with read regions, unmapped ranges and a layout
	MaxLayoutObjects = 20000   // objects in a disk's layout
	MaxLayoutExtents = 256     // extents per layout object (the closest merged)
	MaxLayoutTotal   = 1 << 17 // extents in a disk's layout
)

// Options configures an Aggregator.
type Options struct {
	// Start is the time the trace's event times count from (the NDJSON
	// header's "start").
	Start time.Time
	// Exports are the exports served, as in the NDJSON header.
	Exports []logger.ExportEntry
	// MaxRanges caps the ranges kept per object, for the unmapped reads
	// and for the read regions of each disk (0: DefaultMaxRanges).
	MaxRanges int
}
