package greeting

import (
	"strings"
	"testing"
)

func TestGreet(t *testing.T) {
	tests := []struct {
		name, lang string
		want       Greeting
	}{
		{"Ada", "", Greeting{Name: "Ada", Lang: "en", Message: "Hello, Ada!"}},
		{"Ada", "en", Greeting{Name: "Ada", Lang: "en", Message: "Hello, Ada!"}},
		{"Ada", "de", Greeting{Name: "Ada", Lang: "de", Message: "Hallo, Ada!"}},
		{"Ada", "es", Greeting{Name: "Ada", Lang: "es", Message: "¡Hola, Ada!"}},
		{"Ada", "fr", Greeting{Name: "Ada", Lang: "fr", Message: "Bonjour, Ada !"}},
		{"  José María ", "es", Greeting{Name: "José María", Lang: "es", Message: "¡Hola, José María!"}},
		{"Zoë O’Brien-Smith Jr.", "en", Greeting{Name: "Zoë O’Brien-Smith Jr.", Lang: "en", Message: "Hello, Zoë O’Brien-Smith Jr.!"}},
		{"Ἀριστοτέλης", "de", Greeting{Name: "Ἀριστοτέλης", Lang: "de", Message: "Hallo, Ἀριστοτέλης!"}},
		{strings.Repeat("é", MaxNameLen), "en", Greeting{Name: strings.Repeat("é", MaxNameLen), Lang: "en", Message: "Hello, " + strings.Repeat("é", MaxNameLen) + "!"}},
	}
	for _, tt := range tests {
		got, err := Greet(tt.name, tt.lang)
		if err != nil {
			t.Errorf("Greet(%q, %q): %v", tt.name, tt.lang, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Greet(%q, %q) = %+v, want %+v", tt.name, tt.lang, got, tt.want)
		}
	}
}

func TestGreetRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, lang string
		wantErr    string
	}{
		{"", "en", "name: must not be empty"},
		{"   ", "en", "name: must not be empty"},
		{strings.Repeat("a", MaxNameLen+1), "en", "name: must be at most 64 characters"},
		{"R2D2", "en", `name: '2' is not allowed; use letters, spaces, hyphens, apostrophes or periods`},
		{"<script>", "en", `name: '<' is not allowed; use letters, spaces, hyphens, apostrophes or periods`},
		{"Ada\nLovelace", "en", `name: '\n' is not allowed; use letters, spaces, hyphens, apostrophes or periods`},
		{"Ad\xffa", "en", "name: must be valid UTF-8"},
		{"Ada", "xx", `lang: "xx" is not supported; use one of de, en, es, fr`},
		{"Ada", "EN", `lang: "EN" is not supported; use one of de, en, es, fr`},
	}
	for _, tt := range tests {
		_, err := Greet(tt.name, tt.lang)
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("Greet(%q, %q) error = %v, want %q", tt.name, tt.lang, err, tt.wantErr)
		}
	}
}

func TestLanguagesIsSortedAndACopy(t *testing.T) {
	got := Languages()
	var codes []string
	for _, l := range got {
		codes = append(codes, l.Code)
	}
	if strings.Join(codes, ",") != "de,en,es,fr" {
		t.Fatalf("Languages() codes = %v, want de,en,es,fr", codes)
	}
	got[0].Code = "xx"
	if Languages()[0].Code != "de" {
		t.Error("changing the result of Languages() changed the supported languages")
	}
}
