package spec

import (
	"reflect"
	"testing"
)

const ecsSpec = `project: shop
environments:
  prod:
    engine: ecs
    aws:
      region: eu-west-1
      cluster: shop-prod
      subnets: [subnet-a, subnet-b]
      security_groups: [sg-1]
      listener: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/1/2
      execution_role: arn:aws:iam::123456789012:role/shop-exec
defaults:
  cpu: 256
  memory: 512
services:
  web:
    image: web:1
    route: {path: /}
  api:
    image: api:1
    cpu: 1024
    memory: 4096
`

func TestParse_ECSEnvironment(t *testing.T) {
	s := mustParse(t, ecsSpec)
	if s.Services["web"].CPU != 256 || s.Services["web"].Memory != 512 {
		t.Errorf("web cpu/memory = %d/%d, want the defaults 256/512", s.Services["web"].CPU, s.Services["web"].Memory)
	}
	if s.Services["api"].CPU != 1024 || s.Services["api"].Memory != 4096 {
		t.Errorf("api cpu/memory = %d/%d", s.Services["api"].CPU, s.Services["api"].Memory)
	}
	prod, err := s.ForEnvironment("prod")
	if err != nil {
		t.Fatal(err)
	}
	want := &AWS{Region: "eu-west-1", Cluster: "shop-prod", Subnets: []string{"subnet-a", "subnet-b"}, SecurityGroups: []string{"sg-1"},
		Listener:      "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/1/2",
		ExecutionRole: "arn:aws:iam::123456789012:role/shop-exec"}
	if prod.Engine != EngineECS || prod.Env != "prod" || !reflect.DeepEqual(prod.AWS, want) {
		t.Errorf("ForEnvironment(prod): engine %q env %q aws %+v", prod.Engine, prod.Env, prod.AWS)
	}
	if s.AWS != nil {
		t.Error("ForEnvironment changed the spec it was called on")
	}
}

func TestParse_ECSProblemsCarryLines(t *testing.T) {
	src := `project: shop
environments:
  prod:
    engine: ecs
    aws:
      cluster: shop-prod
      subnets: [subnet-a]
      listener: not-an-arn
      execution_role: arn:aws:iam::1:role/x
services:
  web:
    image: web:1
    route: {path: /}
  api:
    image: api:1
    cpu: 256
    memory: 4096
  worker:
    image: w:1
    cpu: 300
    memory: 512
`
	_, err := parse(t, src)
	got := problemsOf(t, err)
	want := []string{
		`:8:7: environments.prod.aws.listener: listener "not-an-arn" is not an ARN (write the ALB listener's ARN, arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID)`,
		`:11:3: services.web.cpu: an ecs environment needs cpu and memory for every service (environment prod runs on ecs) (add e.g. ` + "`cpu: 256` and `memory: 512`" + ` to the service (or under defaults:))`,
		`:17:5: services.api.memory: memory 4096 is not valid with cpu 256 on Fargate (environment prod runs on ecs) (with cpu 256 use one of 512, 1024, 2048)`,
		`:20:5: services.worker.cpu: cpu 300 is not a Fargate CPU value (environment prod runs on ecs) (use one of 256, 512, 1024, 2048, 4096, 8192, 16384)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%q\nwant\n%q", got, want)
	}
}

func TestFargateProblem(t *testing.T) {
	for _, c := range []struct {
		cpu, mem int
		ok       bool
	}{
		{256, 512, true}, {256, 2048, true}, {256, 3072, false}, {512, 4096, true}, {1024, 1024, false},
		{4096, 30720, true}, {8192, 20480, true}, {8192, 18432, false}, {16384, 122880, true}, {0, 512, false}, {128, 256, false},
	} {
		msg, _ := FargateProblem(c.cpu, c.mem)
		if (msg == "") != c.ok {
			t.Errorf("FargateProblem(%d, %d) = %q, want ok=%v", c.cpu, c.mem, msg, c.ok)
		}
	}
}
