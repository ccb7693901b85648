package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBodyBytes bounds a request body; a greeting request is a few dozen bytes.
const maxBodyBytes = 4 << 10

// errorResponse is the body of every error response.
type errorResponse struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Encoding our own response types cannot fail; a write error means the
	// client has gone, and there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: msg})
}

var errTrailingData = errors.New("request body must hold a single JSON object")

// decodeJSON decodes the request body, which must be one JSON object of at
// most maxBodyBytes with no unknown fields, into dst. If it cannot, it
// writes the error response (415, 413 or 400) and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mediaType != "application/json" {
		w.Header().Set("Accept-Post", "application/json")
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}

	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if err = dec.Decode(new(json.RawMessage)); err == io.EOF {
			return true
		} else if err == nil {
			err = errTrailingData
		}
	}
	status, msg := describeDecodeError(err)
	writeError(w, status, msg)
	return false
}

func describeDecodeError(err error) (status int, msg string) {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body must be at most %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return http.StatusBadRequest, "request body must not be empty"
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadRequest, "request body must be valid JSON"
	case errors.As(err, &wrongType) && wrongType.Field != "":
		return http.StatusBadRequest, fmt.Sprintf("%s: must be a %s", wrongType.Field, wrongType.Type)
	case errors.As(err, &wrongType):
		return http.StatusBadRequest, "request body must be a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no error type for this one.
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, errTrailingData):
		return http.StatusBadRequest, err.Error()
	default:
		return http.StatusBadRequest, "request body is invalid"
	}
}
