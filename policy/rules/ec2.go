package rules

import "strings"

// openCIDRs are the sources that admit the whole internet.
var openCIDRs = []string{"0.0.0.0/0", "::/0"}

func openCIDRsIn(vs ...any) []string {
	var out []string
	for _, v := range vs {
		for _, s := range strs(v) {
			for _, open := range openCIDRs {
				if strings.TrimSpace(s) == open {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

var ec23 = Rule{
	ID:          "AwsSolutions-EC23",
	Description: "Security groups admit no inbound traffic from 0.0.0.0/0 or ::/0.",
	Types: []string{
		"aws:ec2/securityGroup:SecurityGroup",
		"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
		"aws:ec2/securityGroupRule:SecurityGroupRule",
	},
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-EC23"}
		const msg = "ingress from %s: admit a prefix list (e.g. CloudFront's origin-facing one) or a security group instead"
		for _, r := range g.ofType("aws:ec2/securityGroup:SecurityGroup") {
			in := r.Inputs["ingress"]
			if in == Unknown {
				f.unknown(r, "ingress")
				continue
			}
			for _, rule := range list(in) {
				m, ok := rule.(map[string]any)
				if !ok {
					if rule == Unknown {
						f.unknown(r, "an ingress block")
					}
					continue
				}
				if open := openCIDRsIn(m["cidrBlocks"], m["ipv6CidrBlocks"]); len(open) > 0 {
					f.add(r, msg, strings.Join(open, ", "))
				}
			}
		}
		for _, r := range g.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
			if open := openCIDRsIn(r.Inputs["cidrIpv4"], r.Inputs["cidrIpv6"]); len(open) > 0 {
				f.add(r, msg, strings.Join(open, ", "))
			}
		}
		for _, r := range g.ofType("aws:ec2/securityGroupRule:SecurityGroupRule") {
			if t, _ := r.Inputs["type"].(string); t != "ingress" {
				continue
			}
			if open := openCIDRsIn(r.Inputs["cidrBlocks"], r.Inputs["ipv6CidrBlocks"]); len(open) > 0 {
				f.add(r, msg, strings.Join(open, ", "))
			}
		}
		return f.out
	},
}
