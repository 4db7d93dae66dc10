package rules

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// TagPrefix starts the key of every suppression tag; the rule ID follows it,
// e.g. "nag:suppress:AwsSolutions-IAM5".
const TagPrefix = "nag:suppress:"

// MinReasonLength is the shortest accepted reason, as in cdk-nag: a
// suppression has to say why, not just that.
const MinReasonLength = 10

// maxTagValue and maxTagKey are AWS's limits on tag values and keys.
const (
	maxTagValue = 256
	maxTagKey   = 128
)

// tagChars is the character set AWS accepts in tag keys and values (the
// services that are strictest, e.g. EC2 and IAM, enforce exactly this).
// Commas, quotes, parentheses and semicolons are NOT in it.
var tagChars = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

// Suppression accepts one rule's findings on one resource, for a reason.
type Suppression struct {
	// Rule is the suppressed rule's ID, e.g. "AwsSolutions-CFR4".
	Rule string
	// Reason says why the finding is acceptable; it becomes a tag value.
	Reason string
}

// NewSuppression validates rule and reason and returns the suppression, or
// an error naming what is wrong: an unknown or unsuppressible rule ID, or a
// reason that is too short, longer than 256 characters, or uses characters
// AWS does not allow in tag values (only letters, digits, spaces and
// _ . : / = + - @ are allowed, so no commas, quotes or parentheses).
func NewSuppression(rule, reason string) (Suppression, error) {
	s := Suppression{Rule: rule, Reason: reason}
	if err := s.Validate(); err != nil {
		return Suppression{}, err
	}
	return s, nil
}

// Suppress is [NewSuppression] for reasons written as literals in the stack
// code: it panics on an invalid rule or reason, like regexp.MustCompile,
// because that is a programmer error the first mock test run catches.
func Suppress(rule, reason string) Suppression {
	s, err := NewSuppression(rule, reason)
	if err != nil {
		panic(err)
	}
	return s
}

// Validate reports why s cannot be carried as an AWS tag or names no
// suppressible rule, or nil.
func (s Suppression) Validate() error {
	if _, ok := ruleByID(s.Rule); !ok {
		return fmt.Errorf("suppression of %q: unknown rule ID (known: %s)", s.Rule, strings.Join(suppressibleIDs(), ", "))
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(s.Reason)); n < MinReasonLength {
		return fmt.Errorf("suppression of %s: reason %q is %d characters, need at least %d", s.Rule, s.Reason, n, MinReasonLength)
	}
	if n := utf8.RuneCountInString(s.Reason); n > maxTagValue {
		return fmt.Errorf("suppression of %s: reason is %d characters, AWS tag values allow at most %d", s.Rule, n, maxTagValue)
	}
	if !tagChars.MatchString(s.Reason) {
		return fmt.Errorf("suppression of %s: reason %q has characters AWS tag values do not allow (use only letters, digits, spaces and _ . : / = + - @)", s.Rule, s.Reason)
	}
	if n := utf8.RuneCountInString(TagPrefix + s.Rule); n > maxTagKey {
		return fmt.Errorf("suppression of %s: tag key is %d characters, AWS allows at most %d", s.Rule, n, maxTagKey)
	}
	return nil
}

// Tags returns the suppressions as AWS tags (key TagPrefix+rule, value the
// reason), to merge into the tags of the resource they apply to. It panics
// on an invalid suppression or on two suppressions of the same rule, both
// programmer errors (a zero Suppression was never made by [Suppress]).
//
// A resource type without a tags input (RolePolicy, RolePolicyAttachment,
// BucketPolicy, BucketPublicAccessBlock, ec2 SecurityGroupRule) is
// suppressed through its owner's tags: the Role, Bucket or SecurityGroup it
// refers to. Such a suppression covers the rule on the owner and on all the
// untaggable resources it owns.
func Tags(s ...Suppression) map[string]string {
	tags := make(map[string]string, len(s))
	for _, x := range s {
		if err := x.Validate(); err != nil {
			panic(err)
		}
		k := TagPrefix + x.Rule
		if _, dup := tags[k]; dup {
			panic(fmt.Sprintf("rules.Tags: %s suppressed twice", x.Rule))
		}
		tags[k] = x.Reason
	}
	return tags
}

// suppressionsIn reads the suppression tags of a tags input. Tags with the
// prefix that do not form a valid suppression come back as errors, so that
// a hand-written or mistyped tag is reported instead of silently ignored.
func suppressionsIn(tags any) (map[string]Suppression, []error) {
	m, ok := tags.(map[string]any)
	if !ok {
		return nil, nil
	}
	out := map[string]Suppression{}
	var errs []error
	for k, v := range m {
		rule, ok := strings.CutPrefix(k, TagPrefix)
		if !ok {
			continue
		}
		reason, ok := v.(string)
		if !ok {
			errs = append(errs, fmt.Errorf("tag %q: value is %T, want a string reason", k, v))
			continue
		}
		s := Suppression{Rule: rule, Reason: reason}
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("tag %q: %w", k, err))
			continue
		}
		out[rule] = s
	}
	return out, errs
}
