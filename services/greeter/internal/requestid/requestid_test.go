package requestid

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"6f1c1d3e-8d1a-4c52-9d1f-0b7e5e3f2a10", true}, // UUID
		{"01J9ZC3M7Q9X6K2V5T8R4N1B0D", true},           // ULID
		{"gw-1:req_42.a", true},
		{strings.Repeat("a", MaxLen), true},
		{"", false},
		{strings.Repeat("a", MaxLen+1), false},
		{"has space", false},
		{"line\nbreak", false},
		{`quote"`, false},
		{"<script>", false},
		{"naïve", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.id); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestNewIsValidAndUnique(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		id := New()
		if !Valid(id) {
			t.Fatalf("New() = %q, which Valid rejects", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestFromHeader(t *testing.T) {
	t.Run("accepts a valid id", func(t *testing.T) {
		h := http.Header{}
		h.Set(Header, "abc-123")
		if got := FromHeader(h); got != "abc-123" {
			t.Errorf("FromHeader() = %q, want the incoming abc-123", got)
		}
	})
	for name, incoming := range map[string]string{
		"generates when missing":  "",
		"replaces an invalid one": "bad id\r\nX-Injected: 1",
		"replaces a too long one": strings.Repeat("a", MaxLen+1),
	} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if incoming != "" {
				h.Set(Header, incoming)
			}
			got := FromHeader(h)
			if got == incoming || !Valid(got) {
				t.Errorf("FromHeader() = %q, want a newly generated valid id", got)
			}
		})
	}
}

func TestContext(t *testing.T) {
	if got := FromContext(context.Background()); got != "" {
		t.Errorf("FromContext(empty) = %q, want \"\"", got)
	}
	ctx := NewContext(context.Background(), "abc")
	if got := FromContext(ctx); got != "abc" {
		t.Errorf("FromContext() = %q, want abc", got)
	}
}
