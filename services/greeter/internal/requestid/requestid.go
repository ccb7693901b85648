// Package requestid validates, generates and carries X-Request-ID values.
package requestid

import (
	"context"
	"crypto/rand"
	"net/http"
)

// Header is the HTTP header that carries the request id in both directions.
const Header = "X-Request-ID"

// MaxLen bounds an accepted id; longer ones are replaced, not truncated.
const MaxLen = 128

// Valid reports whether an incoming id is safe to echo and to log: 1 to
// MaxLen characters from [A-Za-z0-9._:-], which covers UUIDs, ULIDs and the
// ids common proxies generate while keeping headers and logs clean.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// New returns a fresh random id (128 bits, base32).
func New() string {
	return rand.Text()
}

// FromHeader returns the incoming id in h if it is valid, a new one otherwise.
func FromHeader(h http.Header) string {
	if id := h.Get(Header); Valid(id) {
		return id
	}
	return New()
}

type contextKey struct{}

// NewContext returns a copy of ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the id carried by ctx, or "" if there is none.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(contextKey{}).(string)
	return id
}
