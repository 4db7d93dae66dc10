// Package e2e tests several real server processes behind a real reverse
// proxy and a real Redis, standing in for the ALB, the tasks and
// ElastiCache. It has only tests; make test runs them without -race, since
// they drive a thousand connections.
package e2e
