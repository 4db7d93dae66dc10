package rules_test

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/wsfargate/websocket-service/policy/rules"
)

// TestReadmeTable keeps policy/README.md's rule table equal to the code.
func TestReadmeTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| ((?:AwsSolutions|WS)-[A-Z0-9]+) \| (.+) \|$`)
	var got, want []string
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		got = append(got, m[1]+": "+m[2])
	}
	for _, r := range rules.Rules() {
		want = append(want, r.ID+": "+r.Description)
	}
	if !slices.Equal(got, want) {
		t.Errorf("README rule table drifted from the code.\nREADME: %q\ncode:   %q", got, want)
	}
}
