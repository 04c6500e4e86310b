package bmap

import (
	"bufio"
	"fmt"
	"io"
)

// Read reads a map in either form: JSON when the first byte that is not
// white space is '{', the text form otherwise. Nothing is consumed while
// sniffing, so errors in the text form carry the input's line numbers.
func Read(r io.Reader) (*Map, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n = min(2*n, br.Size()) {
		b, err := br.Peek(n)
		for _, c := range b {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case '{':
				return ReadJSON(br)
			}
			return readText(br, 0)
		}
		if err == io.EOF || n == br.Size() {
			// Only white space so far: the text reader says what is wrong
			// with it, if anything.
			return readText(br, 0)
		}
		if err != nil {
			return nil, fmt.Errorf("bmap: reading map: %w", err)
		}
	}
}
