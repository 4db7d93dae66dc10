package rules

import "slices"

const flowLogType = "aws:ec2/flowLog:FlowLog"

var vpc7 = Rule{
	ID:          "AwsSolutions-VPC7",
	Description: "Every VPC (aws:ec2/vpc:Vpc or an awsx:ec2:Vpc component) has a flow log.",
	Types:       append(slices.Clone(vpcTypes), flowLogType),
	check: func(g *graph) []Finding {
		f := &finder{g: g, rule: "AwsSolutions-VPC7"}
		flowLogs := g.ofType(flowLogType)
		covered := func(v *Resource) bool {
			return slices.ContainsFunc(flowLogs, func(fl *Resource) bool { return refersTo(fl, "vpcId", v) })
		}
	vpcs:
		for _, v := range g.ofType(vpcTypes...) {
			if covered(v) {
				continue
			}
			// A VPC inside an awsx component is covered by a flow log on
			// the component's vpcId output.
			for _, a := range g.ancestors(v) {
				if a.Type == "awsx:ec2:Vpc" && covered(a) {
					continue vpcs
				}
			}
			f.add(v, "no flow log: add an aws:ec2/flowLog:FlowLog whose vpcId is this VPC's id")
		}
		return f.out
	},
}
