package diskerr

import (
	"errors"
	"io"
	"testing"
)

func TestFormatError(t *testing.T) {
	e := &FormatError{FS: "ntfs", Off: 0x1c0400, What: "MFT record 57", Msg: "bad fixup"}
	if got, want := e.Error(), "ntfs: MFT record 57 at 0x1c0400: bad fixup"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	w := &FormatError{FS: "qcow2", Off: 0x30000, What: "L2 table", Msg: "reading", Err: io.ErrUnexpectedEOF}
	if got, want := w.Error(), "qcow2: L2 table at 0x30000: reading: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var err error = w
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("errors.Is does not see the cause through FormatError")
	}
	var fe *FormatError
	if !errors.As(errors.Join(errors.New("x"), err), &fe) || fe.What != "L2 table" {
		t.Error("errors.As does not find the FormatError")
	}
	c := &FormatError{FS: "xz", What: "block", Err: io.ErrUnexpectedEOF}
	if got, want := c.Error(), "xz: block at 0x0: unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
