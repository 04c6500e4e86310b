package reports

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes s as the JSON report (see the package doc), indented,
// with a final newline.
func WriteJSON(w io.Writer, s *Summary) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("reports: json: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// ReadJSON reads a JSON report written by WriteJSON.
func ReadJSON(r io.Reader) (*Summary, error) {
	s := new(Summary)
	if err := json.NewDecoder(r).Decode(s); err != nil {
		return nil, fmt.Errorf("reports: json: %w", err)
	}
	if s.Version != Version {
		return nil, fmt.Errorf("reports: json: report version %d, want %d", s.Version, Version)
	}
	return s, nil
}
