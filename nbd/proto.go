package nbd

import (
	"fmt"
	"strconv"
)

// Wire constants of the NBD protocol, as named in NetworkBlockDevice/nbd
// doc/proto.md. Every integer on the wire is big-endian.

// Handshake magics.
const (
	nbdMagic         = 0x4e42444d41474943 // "NBDMAGIC"
	optMagic         = 0x49484156454f5054 // "IHAVEOPT"
	optReplyMagic    = 0x0003e889045565a9
	requestMagic     = 0x25609513
	simpleReplyMagic = 0x67446698
	structReplyMagic = 0x668e33ef
)

// Handshake flags (server) and client flags.
const (
	flagFixedNewstyle = 1 << 0
	flagNoZeroes      = 1 << 1

	clientFixedNewstyle = 1 << 0
	clientNoZeroes      = 1 << 1
)

// Transmission flags.
const (
	flagHasFlags        = 1 << 0
	flagReadOnly        = 1 << 1
	flagSendFlush       = 1 << 2
	flagSendFUA         = 1 << 3
	flagRotational      = 1 << 4
	flagSendTrim        = 1 << 5
	flagSendWriteZeroes = 1 << 6
	flagSendDF          = 1 << 7
	flagCanMultiConn    = 1 << 8
	flagSendResize      = 1 << 9
	flagSendCache       = 1 << 10
	flagSendFastZero    = 1 << 11
)

// Option is an option request type of the option-haggling phase.
type Option uint32

// Options.
const (
	OptExportName      Option = 1
	OptAbort           Option = 2
	OptList            Option = 3
	OptPeekExport      Option = 4 // withdrawn
	OptStartTLS        Option = 5
	OptInfo            Option = 6
	OptGo              Option = 7
	OptStructuredReply Option = 8
	OptListMetaContext Option = 9
	OptSetMetaContext  Option = 10
	OptExtendedHeaders Option = 11
)

var optNames = map[Option]string{
	OptExportName: "NBD_OPT_EXPORT_NAME", OptAbort: "NBD_OPT_ABORT", OptList: "NBD_OPT_LIST",
	OptPeekExport: "NBD_OPT_PEEK_EXPORT", OptStartTLS: "NBD_OPT_STARTTLS", OptInfo: "NBD_OPT_INFO",
	OptGo: "NBD_OPT_GO", OptStructuredReply: "NBD_OPT_STRUCTURED_REPLY",
	OptListMetaContext: "NBD_OPT_LIST_META_CONTEXT", OptSetMetaContext: "NBD_OPT_SET_META_CONTEXT",
	OptExtendedHeaders: "NBD_OPT_EXTENDED_HEADERS",
}

func (o Option) String() string {
	if s, ok := optNames[o]; ok {
		return s
	}
	return "NBD_OPT_" + strconv.FormatUint(uint64(o), 10)
}

// Rep is an option reply type.
type Rep uint32

// Option replies; errors have bit 31 set.
const (
	RepAck              Rep = 1
	RepServer           Rep = 2
	RepInfo             Rep = 3
	RepMetaContext      Rep = 4
	RepErrUnsup         Rep = 1<<31 + 1
	RepErrPolicy        Rep = 1<<31 + 2
	RepErrInvalid       Rep = 1<<31 + 3
	RepErrPlatform      Rep = 1<<31 + 4
	RepErrTLSReqd       Rep = 1<<31 + 5
	RepErrUnknown       Rep = 1<<31 + 6
	RepErrShutdown      Rep = 1<<31 + 7
	RepErrBlockSizeReqd Rep = 1<<31 + 8
	RepErrTooBig        Rep = 1<<31 + 9
)

var repNames = map[Rep]string{
	RepAck: "NBD_REP_ACK", RepServer: "NBD_REP_SERVER", RepInfo: "NBD_REP_INFO",
	RepMetaContext: "NBD_REP_META_CONTEXT", RepErrUnsup: "NBD_REP_ERR_UNSUP",
	RepErrPolicy: "NBD_REP_ERR_POLICY", RepErrInvalid: "NBD_REP_ERR_INVALID",
	RepErrPlatform: "NBD_REP_ERR_PLATFORM", RepErrTLSReqd: "NBD_REP_ERR_TLS_REQD",
	RepErrUnknown: "NBD_REP_ERR_UNKNOWN", RepErrShutdown: "NBD_REP_ERR_SHUTDOWN",
	RepErrBlockSizeReqd: "NBD_REP_ERR_BLOCK_SIZE_REQD", RepErrTooBig: "NBD_REP_ERR_TOO_BIG",
}

func (r Rep) String() string {
	if s, ok := repNames[r]; ok {
		return s
	}
	return "NBD_REP_" + strconv.FormatUint(uint64(r), 10)
}

// Information types of NBD_OPT_INFO and NBD_OPT_GO.
const (
	infoExport      = 0
	infoName        = 1
	infoDescription = 2
	infoBlockSize   = 3
)

// Cmd is a transmission request type.
type Cmd uint16

// Commands.
const (
	CmdRead        Cmd = 0
	CmdWrite       Cmd = 1
	CmdDisc        Cmd = 2
	CmdFlush       Cmd = 3
	CmdTrim        Cmd = 4
	CmdCache       Cmd = 5
	CmdWriteZeroes Cmd = 6
	CmdBlockStatus Cmd = 7
	CmdResize      Cmd = 8
)

var cmdNames = [...]string{"NBD_CMD_READ", "NBD_CMD_WRITE", "NBD_CMD_DISC", "NBD_CMD_FLUSH",
	"NBD_CMD_TRIM", "NBD_CMD_CACHE", "NBD_CMD_WRITE_ZEROES", "NBD_CMD_BLOCK_STATUS", "NBD_CMD_RESIZE"}

func (c Cmd) String() string {
	if int(c) < len(cmdNames) {
		return cmdNames[c]
	}
	return "NBD_CMD_" + strconv.FormatUint(uint64(c), 10)
}

// Command flags.
const (
	cmdFlagFUA      = 1 << 0
	cmdFlagNoHole   = 1 << 1
	cmdFlagDF       = 1 << 2
	cmdFlagReqOne   = 1 << 3
	cmdFlagFastZero = 1 << 4
)

// Structured reply flags and chunk types.
const (
	replyFlagDone = 1 << 0

	replyTypeNone        = 0
	replyTypeOffsetData  = 1
	replyTypeOffsetHole  = 2
	replyTypeBlockStatus = 5
	replyTypeError       = 1<<15 + 1
	replyTypeErrorOffset = 1<<15 + 2
)

// base:allocation flags.
const (
	stateHole = 1 << 0
	stateZero = 1 << 1
)

// Errno is an NBD error value, sent in replies.
type Errno uint32

// Error values allowed by the protocol.
const (
	EPERM     Errno = 1
	EIO       Errno = 5
	ENOMEM    Errno = 12
	EINVAL    Errno = 22
	ENOSPC    Errno = 28
	EOVERFLOW Errno = 75
	ENOTSUP   Errno = 95
	ESHUTDOWN Errno = 108
)

var errnoNames = map[Errno]string{EPERM: "EPERM", EIO: "EIO", ENOMEM: "ENOMEM", EINVAL: "EINVAL",
	ENOSPC: "ENOSPC", EOVERFLOW: "EOVERFLOW", ENOTSUP: "ENOTSUP", ESHUTDOWN: "ESHUTDOWN"}

func (e Errno) String() string {
	if s, ok := errnoNames[e]; ok {
		return s
	}
	return "errno " + strconv.FormatUint(uint64(e), 10)
}

func (e Errno) Error() string { return "nbd: " + e.String() }

// Limits.
const (
	// MaxRequest is the largest READ or CACHE length served (the
	// maximum block size advertised through NBD_INFO_BLOCK_SIZE).
	MaxRequest = 32 << 20
	// maxOption bounds the data of one option; longer options are
	// skipped without being stored and answered with NBD_REP_ERR_TOO_BIG.
	maxOption = 64 << 10
	// maxString is the protocol's limit on a string (export name, query).
	maxString = 4096
	// maxOptions bounds the options of one handshake (nbdkit's limit is 32).
	maxOptions = 256
	// maxExtents bounds the descriptors of one BLOCK_STATUS reply.
	maxExtents = 1 << 16
)

// request is a transmission request header (28 bytes on the wire).
type request struct {
	flags  uint16
	cmd    Cmd
	handle uint64
	off    uint64
	len    uint32
}

func (r *request) String() string {
	return fmt.Sprintf("%v handle %#x offset %d length %d flags %#x", r.cmd, r.handle, r.off, r.len, r.flags)
}
