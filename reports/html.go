package reports

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// The HTML report is one self-contained file: the template, its CSS and
// its script (html/) are embedded in the binary and inlined into the page,
// the Summary goes in as one JSON blob (<script type="application/json">,
// see html_data.go), and nothing is fetched: it works offline, from a
// file:// URL, and can be mailed. The script (plain JavaScript, no
// framework) draws the disk map on a <canvas>, the timeline as SVG and
// the sortable tables; after drawing it records what it drew on <body>
// (data-drawn, data-map-*, data-timeline-bars, data-rows-*, data-errors),
// which is what browser_test.go checks in headless Chromium.

//go:embed html/report.html.tmpl html/report.css html/report.js html/errors.js
var htmlFS embed.FS

var htmlTemplate = template.Must(template.New("report.html.tmpl").Funcs(template.FuncMap{
	"bytes": htmlBytes,
	"count": htmlCount,
	"dur":   htmlDuration,
	"int64": func(n int) int64 { return int64(n) },
	"s":     plural, // {{count .N}} thing{{s .N}}
}).ParseFS(htmlFS, "html/report.html.tmpl"))

// htmlPage is what the template is executed with.
type htmlPage struct {
	Title    string
	Start    string
	Duration time.Duration
	Exports  []htmlExport
	Totals   Totals
	Cut      htmlCut
	Limits   htmlLimits
	CSS      template.CSS
	Errors   template.JS // installed first: counts errors for the tests
	JS       template.JS
	Data     template.JS // the JSON blob; <, > and & are \u-escaped
}

// WriteHTML writes s as one self-contained HTML page.
func WriteHTML(w io.Writer, s *Summary) error {
	d := newHTMLData(s)
	blob, err := json.Marshal(d) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	asset := func(name string) string {
		b, err := htmlFS.ReadFile("html/" + name)
		if err != nil {
			panic(err) // embedded at build time
		}
		return string(b)
	}
	p := htmlPage{
		Title:    htmlTitle(s),
		Start:    d.Start,
		Duration: s.Duration.Duration(),
		Exports:  d.Exports,
		Totals:   s.Totals,
		Cut:      d.Cut,
		Limits:   d.Limits,
		CSS:      template.CSS(asset("report.css")),
		Errors:   template.JS(asset("errors.js")),
		JS:       template.JS(asset("report.js")),
		Data:     template.JS(blob),
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, &p); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

// htmlTitle names the trace by its exports.
func htmlTitle(s *Summary) string {
	var names []string
	for _, e := range s.Exports {
		n := e.Name
		if n == "" {
			n = e.Device
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return "bmaplogger trace"
	}
	return "bmaplogger trace of " + strings.Join(names, ", ")
}

// htmlBytes is n in binary units ("1.5 MiB").
func htmlBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f %s", v, units[i])
	case v < 100:
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// htmlCount is n with thousands separators ("18,600").
func htmlCount(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// htmlDuration is d rounded for a reader ("7.012 s", "3.4 ms").
func htmlDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	}
	return fmt.Sprintf("%d ns", d.Nanoseconds())
}

func init() {
	formats[".html"] = WriteHTML
	formats[".htm"] = WriteHTML
}
