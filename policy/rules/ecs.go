package rules

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

const (
	clusterType = "aws:ecs/cluster:Cluster"
	taskDefType = "aws:ecs/taskDefinition:TaskDefinition"
)

var ecs4 = Rule{
	ID:          "AwsSolutions-ECS4",
	Description: "ECS clusters have CloudWatch Container Insights enabled (enabled or enhanced).",
	Types:       []string{clusterType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-ECS4"}
	clusters:
		for _, r := range g.ofType(clusterType) {
			settings := r.Inputs["settings"]
			if settings == Unknown {
				f.unknown(r, "settings")
				continue
			}
			for _, s := range list(settings) {
				m, _ := s.(map[string]any)
				if m["name"] != "containerInsights" {
					continue
				}
				if v, _ := m["value"].(string); v == "enabled" || v == "enhanced" {
					continue clusters
				}
			}
			f.add(r, `Container Insights is off: add the setting {name: "containerInsights", value: "enhanced"}`)
		}
		return f.out
	},
}

// containers parses a task definition's containerDefinitions, a JSON
// string in the provider schema. ok is false when there is nothing to
// check; a parse failure is reported on f.
func containers(f *finder, r *Resource) (defs []map[string]any, ok bool) {
	raw := r.Inputs["containerDefinitions"]
	switch v := raw.(type) {
	case string:
		if err := json.Unmarshal([]byte(v), &defs); err != nil {
			f.add(r, "containerDefinitions is not a JSON array of container definitions: %v", err)
			return nil, false
		}
		return defs, true
	case []any:
		// Some callers hand over the decoded form.
		for i, e := range v {
			m, isMap := e.(map[string]any)
			if !isMap {
				f.add(r, "containerDefinitions[%d] is %T, want an object", i, e)
				return nil, false
			}
			defs = append(defs, m)
		}
		return defs, true
	default:
		if raw == Unknown {
			f.unknown(r, "containerDefinitions")
		} else {
			f.add(r, "containerDefinitions is missing or %T, want a JSON string", raw)
		}
		return nil, false
	}
}

func containerName(c map[string]any, i int) string {
	if n, ok := c["name"].(string); ok && n != "" {
		return n
	}
	return fmt.Sprintf("#%d", i)
}

var ecs7 = Rule{
	ID:          "AwsSolutions-ECS7",
	Description: "Every container of an ECS task definition has a log configuration.",
	Types:       []string{taskDefType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-ECS7"}
		for _, r := range g.ofType(taskDefType) {
			defs, ok := containers(f, r)
			if !ok {
				continue
			}
			for i, c := range defs {
				lc, _ := c["logConfiguration"].(map[string]any)
				if d, _ := lc["logDriver"].(string); d == "" {
					f.add(r, "container %s has no logConfiguration.logDriver: send its logs to CloudWatch with the awslogs driver", containerName(c, i))
				}
			}
		}
		return f.out
	},
}

// secretWords are name parts that mark an environment variable as a
// secret. KEY counts only as the last part (API_KEY, not KEY_PREFIX).
var secretWords = []string{"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "TOKENS", "CREDENTIAL", "CREDENTIALS", "APIKEY", "PRIVATEKEY"}

// publicNames are environment variables whose names look secret but whose
// values are public by design. PUSHER_APP_KEY is Pusher's app key: every
// client sends it in the connection URL (/app/{key}); the app's secret is
// PUSHER_APP_SECRET, which the rule still flags. The list is exact names,
// not patterns, so that any other *_KEY stays a finding.
var publicNames = []string{"PUSHER_APP_KEY"}

// looksSecret reports whether an environment variable name suggests its
// value is a secret. Names split at non-alphanumerics and at camelCase
// humps, so DB_PASSWORD, originSecret and stripe-api-key all match.
func looksSecret(name string) bool {
	if slices.Contains(publicNames, name) {
		return false
	}
	var parts []string
	var cur []rune
	prevLower := false
	flush := func() {
		if len(cur) > 0 {
			parts = append(parts, strings.ToUpper(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range name {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
			prevLower = false
			continue
		case unicode.IsUpper(r) && prevLower:
			flush()
		}
		cur = append(cur, r)
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
	}
	flush()
	for i, p := range parts {
		if slices.Contains(secretWords, p) || (p == "KEY" && i == len(parts)-1) {
			return true
		}
	}
	return false
}

var ecs2 = Rule{
	ID:          "AwsSolutions-ECS2",
	Description: "No container passes a secret-looking value (PASSWORD, SECRET, TOKEN, *_KEY, CREDENTIAL...) as a plain environment variable; use secrets.",
	Types:       []string{taskDefType},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-ECS2"}
		for _, r := range g.ofType(taskDefType) {
			defs, ok := containers(&finder{g: g}, r) // ECS7 reports parse failures
			if !ok {
				continue
			}
			for i, c := range defs {
				for _, e := range list(c["environment"]) {
					m, _ := e.(map[string]any)
					if n, _ := m["name"].(string); looksSecret(n) {
						f.add(r, "container %s sets %s as a plain environment variable: pass it through secrets (Secrets Manager or SSM) instead", containerName(c, i), n)
					}
				}
			}
		}
		return f.out
	},
}
