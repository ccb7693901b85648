// Package greeting composes greetings in the supported languages. It knows
// nothing about HTTP; every error it returns is the caller's bad input.
package greeting

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest name, in characters, that Greet accepts.
const MaxNameLen = 64

// DefaultLang is used when no language is asked for.
const DefaultLang = "en"

// Language is a supported greeting language.
type Language struct {
	Code   string `json:"code"` // ISO 639-1
	Name   string `json:"name"` // English name
	format string // fmt format taking the name
}

// languages is sorted by code; Languages and error messages list it in this order.
var languages = []Language{
	{Code: "de", Name: "German", format: "Hallo, %s!"},
	{Code: "en", Name: "English", format: "Hello, %s!"},
	{Code: "es", Name: "Spanish", format: "¡Hola, %s!"},
	{Code: "fr", Name: "French", format: "Bonjour, %s !"},
}

// Languages returns the supported languages, sorted by code.
func Languages() []Language {
	return slices.Clone(languages)
}

// Greeting is a composed greeting.
type Greeting struct {
	Name    string `json:"name"`
	Lang    string `json:"lang"`
	Message string `json:"message"`
}

// Greet greets name in lang (DefaultLang when empty). Surrounding spaces in
// name are ignored; what remains must be 1 to MaxNameLen letters, spaces,
// hyphens, apostrophes or periods.
func Greet(name, lang string) (Greeting, error) {
	name = strings.TrimSpace(name)
	if err := validateName(name); err != nil {
		return Greeting{}, err
	}
	if lang == "" {
		lang = DefaultLang
	}
	i := slices.IndexFunc(languages, func(l Language) bool { return l.Code == lang })
	if i < 0 {
		codes := make([]string, len(languages))
		for i, l := range languages {
			codes[i] = l.Code
		}
		return Greeting{}, fmt.Errorf("lang: %q is not supported; use one of %s", lang, strings.Join(codes, ", "))
	}
	return Greeting{Name: name, Lang: lang, Message: fmt.Sprintf(languages[i].format, name)}, nil
}

func validateName(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return errors.New("name: must be valid UTF-8")
	case n == 0:
		return errors.New("name: must not be empty")
	case n > MaxNameLen:
		return fmt.Errorf("name: must be at most %d characters", MaxNameLen)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsMark(r) && !strings.ContainsRune(" -'’.", r) {
			return fmt.Errorf("name: %q is not allowed; use letters, spaces, hyphens, apostrophes or periods", r)
		}
	}
	return nil
}
