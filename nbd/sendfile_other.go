//go:build !linux

package nbd

import (
	"errors"
	"time"
)

// Elsewhere than on Linux a FileBacked source is served as any other
// (no preadv2 RWF_NOWAIT, no sendfile to a Unix socket).

var errWouldBlock = errors.New("nbd: data not in the page cache")

func (c *conn) initFile()            { c.fd = -1 }
func (c *conn) readNow(t *task) bool { return false }

func (c *conn) readAt(p []byte, off int64, nowait bool) error { return c.readFull(p, off) }

func (c *conn) mapRead(t *task) bool { return false }

func (c *conn) sendFile(fd int, off, guest, n int64, dur *time.Duration) (ferr, err error) {
	return nil, errors.New("nbd: sendfile not supported")
}

type sendfileState struct{}

// sendfileMin: see sendfile_linux.go (mapRead never maps elsewhere).
const sendfileMin = 64 << 10
