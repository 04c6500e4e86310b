package client

import "github.com/virt-bmap/virt-bmap/nbd"

// Wire constants of NetworkBlockDevice/nbd doc/proto.md that package nbd
// (the server) keeps unexported; the typed ones (options, replies,
// commands, errors) are nbd's, for their names.
const (
	nbdMagic         = 0x4e42444d41474943 // "NBDMAGIC"
	optMagic         = 0x49484156454f5054 // "IHAVEOPT"
	oldstyleMagic    = 0x0000420281861253
	optReplyMagic    = 0x0003e889045565a9
	requestMagic     = 0x25609513
	simpleReplyMagic = 0x67446698
	structReplyMagic = 0x668e33ef

	flagFixedNewstyle = 1 << 0 // handshake flags
	flagNoZeroes      = 1 << 1

	tflagHasFlags = 1 << 0 // transmission flags

	infoExport    = 0 // NBD_INFO_*
	infoBlockSize = 3

	replyFlagDone        = 1 << 0
	replyTypeNone        = 0
	replyTypeOffsetData  = 1
	replyTypeOffsetHole  = 2
	replyTypeBlockStatus = 5
	replyTypeErrorBit    = 1 << 15
	replyTypeError       = 1<<15 + 1
	replyTypeErrorOffset = 1<<15 + 2

	stateHole = 1 << 0 // base:allocation
	stateZero = 1 << 1
)

// Limits on what a server may make the client hold.
const (
	// maxOptReply bounds the data of one option reply.
	maxOptReply = 64 << 10
	// maxOptReplies bounds the replies to one option (info, meta context).
	maxOptReplies = 1024
	// maxRequest is the largest READ sent (the protocol's interoperable
	// maximum; a server's smaller maximum block size lowers it).
	maxRequest = 32 << 20
	// maxExtents bounds the descriptors of one block-status chunk.
	maxExtents = 1 << 17
	// maxChunks bounds the chunks of one structured read reply.
	maxChunks = 1 << 16
	// maxBlockStatus is the longest range asked in one NBD_CMD_BLOCK_STATUS.
	maxBlockStatus = 1 << 30
)

const metaBaseAllocation = "base:allocation"

// Server's types, for their String methods.
type (
	option = nbd.Option
	rep    = nbd.Rep
	cmd    = nbd.Cmd
)
