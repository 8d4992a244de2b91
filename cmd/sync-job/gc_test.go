package main

import "testing"

func TestMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		content string
		want    int64
		ok      bool
	}{
		{"268435456\n", 256 << 20, true},
		{"max\n", 0, false},                 // cgroup v2: no limit
		{"9223372036854771712\n", 0, false}, // cgroup v1: no limit
		{"", 0, false},
		{"-1", 0, false},
	} {
		got, ok := memoryLimit(tt.content)
		if got != tt.want || ok != tt.ok {
			t.Errorf("memoryLimit(%q) = %d, %v; want %d, %v", tt.content, got, ok, tt.want, tt.ok)
		}
	}
}
