package spec

import (
	"encoding/json"
	"time"
)

// Duration is a Go duration string such as "90s" or "1m30s", as Flux writes
// durations. It marshals in time.Duration's canonical form ("1m30s"), so
// equal durations written differently give equal digests.
//
// A value that does not parse is kept, not refused, by UnmarshalJSON: the
// JSON decoder cannot say where an unmarshaler failed, whereas Validate
// reports it with its field path.
type Duration struct {
	time.Duration

	// invalid is the JSON text of a value that is not a duration string.
	invalid string
}

// NewDuration returns d as a *Duration, for building specs in Go.
func NewDuration(d time.Duration) *Duration {
	return &Duration{Duration: d}
}

// UnmarshalJSON implements json.Unmarshaler. It never fails; see Duration.
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = Duration{}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		d.invalid = string(b)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.invalid = string(b)
		return nil
	}
	d.Duration = v
	return nil
}

// MarshalJSON implements json.Marshaler. An unparsable value is written back
// as it was read, so that marshaling an invalid spec loses nothing.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.invalid != "" {
		return []byte(d.invalid), nil
	}
	return json.Marshal(d.Duration.String())
}
