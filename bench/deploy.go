package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/program"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Assumed cloud latencies: how long Alibaba Cloud (or the node, for the
// remote commands) takes to create each resource. Rough figures from
// provisioning experience, stated in BENCHMARKS.md; the mocks sleep each one
// multiplied by the scale.
var resourceLatency = map[string]time.Duration{
	"alicloud:vpc/network:Network":                     5 * time.Second,
	"alicloud:vpc/switch:Switch":                       5 * time.Second,
	"alicloud:ecs/securityGroup:SecurityGroup":         2 * time.Second,
	"alicloud:ecs/securityGroupRule:SecurityGroupRule": 1 * time.Second,
	"alicloud:ecs/instance:Instance":                   60 * time.Second,
	"alicloud:ecs/ecsDisk:EcsDisk":                     10 * time.Second,
	"alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment": 5 * time.Second,
	"alicloud:ecs/eipAddress:EipAddress":               3 * time.Second,
	"alicloud:ecs/eipAssociation:EipAssociation":       3 * time.Second,
	"command:remote:CopyToRemote":                      10 * time.Second, // upload of the nats-server binary
}

// remoteCommandLatency is per provisioning step, by the suffix of the
// command's name (<servers>-<node>-<step>).
var remoteCommandLatency = map[string]time.Duration{
	"base":   15 * time.Second, // waits for cloud-init, creates the user and directories
	"disk":   10 * time.Second,
	"binary": 20 * time.Second,
	"config": 10 * time.Second,
	"start":  10 * time.Second, // starts nats-server and waits for /healthz?js-server-only=true
	// The service step (rolling later changes) and the leave step (run on
	// delete) are created without a create command: pulumi-command runs
	// nothing, so they take no time here.
}

// invokeLatency is per data source lookup; lookups block the program, in
// order, before the resources that follow them register.
var invokeLatency = map[string]time.Duration{
	"alicloud:ecs/getImages:getImages": time.Second,
	"alicloud:index/getZones:getZones": time.Second,
}

const remoteCommandType = "command:remote:Command"

// latencyOf is the assumed creation time of a resource; components and
// unknown types take none.
func latencyOf(typ, name string) time.Duration {
	if typ == remoteCommandType {
		if i := strings.LastIndexByte(name, '-'); i >= 0 {
			return remoteCommandLatency[name[i+1:]]
		}
		return 0
	}
	return resourceLatency[typ]
}

// DeployRun is one run of the program for one node count.
type DeployRun struct {
	Nodes int           `json:"nodes"`
	Round int           `json:"round"`
	Wall  time.Duration `json:"wall"` // measured, at the scaled latencies
	// Chain is the longest dependency chain of the recorded graph at the
	// assumed (unscaled) latencies, lookups included.
	Chain     time.Duration `json:"chain"`
	Path      []string      `json:"path,omitempty"`
	Resources int           `json:"resources"`
	// CPU is the CPU time the process used during the run: the
	// program's own work, which the scale does not shrink.
	CPU time.Duration `json:"cpu"`
	// MaxInFlight is the most resource creations the mock engine had in
	// progress at once.
	MaxInFlight int `json:"maxInFlight"`
	// Measured is the path the run's wall time took: from the resource
	// that finished last back through the dependencies that finished
	// last, with how long each waited after them.
	Measured []pathStep `json:"measured,omitempty"`
	Err      string     `json:"err,omitempty"`
}

// DeployResult is the deploy critical path figure.
type DeployResult struct {
	Part
	Scale      float64                  `json:"scale"`
	NodeCounts []int                    `json:"nodeCounts"`
	Latencies  map[string]time.Duration `json:"latencies"`
	Deploys    []DeployRun              `json:"deploys"`
	// EngineCheck: Probes independent resources of ProbeDelay each,
	// registered at once, took EngineWall.
	Probes     int           `json:"probes"`
	ProbeDelay time.Duration `json:"probeDelay"`
	EngineWall time.Duration `json:"engineWall"`
	EngineMax  int           `json:"engineMaxInFlight"`
}

// deployMocks is the mock engine's resource monitor: every registration
// sleeps its scaled latency and is recorded with its dependencies. It is
// not natsnesttest's Mocks, the fake engine of every unit test, because
// what it measures is time: each registration must take its resource
// type's cloud latency and count how many run at once.
type deployMocks struct {
	scale float64

	t0        time.Time
	mu        sync.Mutex
	nodes     []graphNode
	spans     map[string]span
	invokes   time.Duration // sum of the lookups' assumed latencies
	inFlight  int
	maxFlight int
	probe     time.Duration // latency of bench:index:Probe
}

func (m *deployMocks) sleep(d time.Duration) {
	m.mu.Lock()
	m.inFlight++
	m.maxFlight = max(m.maxFlight, m.inFlight)
	m.mu.Unlock()
	time.Sleep(time.Duration(float64(d) * m.scale))
	m.mu.Lock()
	m.inFlight--
	m.mu.Unlock()
}

// nodeNumberRE finds the node number in a node resource's name
// ("natsnest-nats-3", "natsnest-nats-3-eip").
var nodeNumberRE = regexp.MustCompile(`-([0-9]+)(-[a-z-]+)?$`)

func (m *deployMocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	d := latencyOf(args.TypeToken, args.Name)
	if args.TypeToken == "bench:index:Probe" {
		d = m.probe
	}
	if args.TypeToken == remoteCommandType {
		// pulumi-command runs a command's create, if it has one, when
		// the command is created; each one that does needs an assumed
		// latency, or the chain would leave it out unnoticed.
		create, hasCreate := args.Inputs["create"]
		hasCreate = hasCreate && !create.IsNull()
		switch {
		case !hasCreate:
			d = 0
		case d == 0:
			return "", nil, fmt.Errorf("bench: %s runs a command when created but has no assumed latency (remoteCommandLatency)", args.Name)
		}
	}
	start := time.Since(m.t0)
	if args.Custom {
		m.sleep(d)
	}
	end := time.Since(m.t0)
	var deps []string
	if req := args.RegisterRPC; req != nil {
		for _, u := range req.GetDependencies() {
			deps = append(deps, urnKey(u))
		}
	}
	m.mu.Lock()
	key := args.TypeToken + "::" + args.Name
	m.nodes = append(m.nodes, graphNode{Key: key, Type: args.TypeToken, Delay: d, Deps: deps})
	if m.spans != nil {
		m.spans[key] = span{start, end}
	}
	m.mu.Unlock()

	state := args.Inputs.Copy()
	n := 0
	if mm := nodeNumberRE.FindStringSubmatch(args.Name); mm != nil {
		n, _ = strconv.Atoi(mm[1])
	}
	switch args.TypeToken {
	case "alicloud:ecs/instance:Instance":
		state["privateIp"] = resource.NewProperty(fmt.Sprintf("172.16.%d.%d", n/200, 10+n%200))
		state["publicIp"] = resource.NewProperty("")
	case "alicloud:ecs/eipAddress:EipAddress":
		state["ipAddress"] = resource.NewProperty(fmt.Sprintf("47.0.%d.%d", n/200, 10+n%200))
	}
	id := ""
	if args.Custom {
		id = args.Name + "-id"
	}
	return id, state, nil
}

func urnKey(u string) string {
	urn := resource.URN(u)
	return string(urn.Type()) + "::" + urn.Name()
}

func (m *deployMocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	d := invokeLatency[args.Token]
	m.mu.Lock()
	m.invokes += d
	m.mu.Unlock()
	m.sleep(d)
	switch args.Token {
	case "alicloud:ecs/getImages:getImages":
		const image = "debian_12_11_x64_20G_alibase_20250701.vhd"
		return resource.PropertyMap{
			"id":  resource.NewProperty("images"),
			"ids": resource.NewProperty([]resource.PropertyValue{resource.NewProperty(image)}),
			"images": resource.NewProperty([]resource.PropertyValue{resource.NewProperty(resource.PropertyMap{
				"id": resource.NewProperty(image), "imageId": resource.NewProperty(image), "name": resource.NewProperty(image),
			})}),
		}, nil
	case "alicloud:index/getZones:getZones":
		zone := resource.NewProperty("cn-hangzhou-i")
		return resource.PropertyMap{
			"id":    resource.NewProperty("zones"),
			"ids":   resource.NewProperty([]resource.PropertyValue{zone}),
			"zones": resource.NewProperty([]resource.PropertyValue{resource.NewProperty(resource.PropertyMap{"id": zone})}),
		}, nil
	}
	return resource.PropertyMap{}, nil
}

// stackConfig is the seed's cluster template (stacks/Pulumi.cluster.yaml)
// with the secrets a stack sets, for nodes nodes.
func stackConfig(nodes int) (map[string]string, []string) {
	cfg := map[string]string{
		"alicloud:region":           "cn-hangzhou",
		"natsnest:nodeCount":        strconv.Itoa(nodes),
		"natsnest:zones":            `["cn-hangzhou-i"]`,
		"natsnest:chargeType":       "PostPaid",
		"natsnest:instanceType":     "ecs.g7.large",
		"natsnest:systemDiskSize":   "40",
		"natsnest:dataDiskSize":     "40",
		"natsnest:publicAccess":     "true",
		"natsnest:sshCidr":          "203.0.113.7/32",
		"natsnest:instancePassword": "Bench-Instance-Pw-42",
		"natsnest:adminPassword":    "bench-admin-password-0123456",
		"natsnest:appPassword":      "bench-app-password-0123",
		"natsnest:stackSecret":      "bench-stack-secret-0123456789",
	}
	return cfg, []string{"natsnest:instancePassword", "natsnest:adminPassword", "natsnest:appPassword", "natsnest:stackSecret"}
}

func withConfig(cfg map[string]string, secret []string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		info.Config, info.ConfigSecretKeys = cfg, secret
	}
}

// deployOnce runs the program for nodes nodes under fresh mocks.
func deployOnce(nodes int, scale float64) DeployRun {
	r := DeployRun{Nodes: nodes}
	m := &deployMocks{scale: scale, spans: map[string]span{}}
	cfg, secret := stackConfig(nodes)
	c0, t0 := cpuTime(), time.Now()
	m.t0 = t0
	err := pulumi.RunErr(program.Program, pulumi.WithMocks("natsnest", "bench", m), withConfig(cfg, secret))
	r.Wall, r.CPU = time.Since(t0), cpuTime()-c0
	if err != nil {
		r.Err = err.Error()
		return r
	}
	chain, path, err := longestChain(m.nodes)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Chain, r.Path = chain+m.invokes, path
	r.Measured = measuredPath(m.nodes, m.spans)
	for _, n := range m.nodes {
		if n.Delay > 0 || n.Type == remoteCommandType {
			r.Resources++
		}
	}
	r.MaxInFlight = m.maxFlight
	return r
}

// engineCheck registers probes independent resources at once, each taking
// delay: a mock engine that runs registrations in parallel takes about one
// delay, not probes of them.
func engineCheck(probes int, delay time.Duration) (time.Duration, int, error) {
	m := &deployMocks{scale: 1, probe: delay, t0: time.Now()}
	t0 := m.t0
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		for i := range probes {
			var res pulumi.CustomResourceState
			if err := ctx.RegisterResource("bench:index:Probe", fmt.Sprintf("probe-%d", i), nil, &res); err != nil {
				return err
			}
		}
		return nil
	}, pulumi.WithMocks("natsnest", "bench", m))
	return time.Since(t0), m.maxFlight, err
}

func (e *env) runDeploy(ctx context.Context) (*DeployResult, error) {
	res := &DeployResult{
		Part:       e.part("deploy", e.runsOr(3)),
		Scale:      e.deployScale,
		NodeCounts: e.deployNodeCounts,
		Latencies:  map[string]time.Duration{},
		Probes:     20,
		ProbeDelay: 200 * time.Millisecond,
	}
	for k, v := range resourceLatency {
		res.Latencies[k] = v
	}
	for k, v := range remoteCommandLatency {
		res.Latencies[remoteCommandType+" "+k] = v
	}
	for k, v := range invokeLatency {
		res.Latencies[k] = v
	}
	began := time.Now()
	var err error
	res.EngineWall, res.EngineMax, err = engineCheck(res.Probes, res.ProbeDelay)
	if err != nil {
		return nil, fmt.Errorf("engine check: %w", err)
	}
	e.logf("deploy: engine check: %d independent resources of %s each took %s (at most %d in flight)",
		res.Probes, fmtDur(res.ProbeDelay), fmtDur(res.EngineWall), res.EngineMax)
	// The nats-server binary the program uploads is built (or found in the
	// cache) once, before anything is timed.
	if r := deployOnce(1, 0); r.Err != "" {
		return nil, fmt.Errorf("warm-up run: %s", r.Err)
	}
	for round := range res.Runs {
		for i, n := range rotate(res.NodeCounts, round) {
			_ = i
			r := deployOnce(n, res.Scale)
			r.Round = round
			res.Deploys = append(res.Deploys, r)
			if r.Err != "" {
				e.logf("deploy: round %d, %2d nodes: ERROR %s", round+1, n, r.Err)
			} else {
				var worst pathStep
				for _, st := range r.Measured {
					if st.Lag > worst.Lag {
						worst = st
					}
				}
				e.logf("deploy: round %d, %2d nodes: wall %s, longest chain %s (%s scaled), program CPU %s, %d resources, %d in flight at most; longest wait %s before %s",
					round+1, n, fmtDur(r.Wall), fmtDur(r.Chain), fmtDur(scaleDown(r.Chain, res.Scale)), fmtDur(r.CPU), r.Resources, r.MaxInFlight, fmtDur(worst.Lag), worst.Key)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

func scaleDown(d time.Duration, scale float64) time.Duration {
	return time.Duration(float64(d) * scale)
}

// deployRuns returns the valid runs for a node count, and their walls
// indexed by round (NaN where missing) for per-round ratios.
func deployRuns(d *DeployResult, nodes int) (runs []DeployRun, byRound []float64) {
	byRound = nanSlice(d.Runs)
	for _, r := range d.Deploys {
		if r.Nodes == nodes && r.Err == "" {
			runs = append(runs, r)
			if r.Round >= 0 && r.Round < d.Runs {
				byRound[r.Round] = float64(r.Wall)
			}
		}
	}
	return runs, byRound
}

func renderDeploy(w writer, d *DeployResult) {
	if d == nil {
		w("## 1. Deploy critical path\n\nNot measured yet: `make bench BENCH_FLAGS=-only=deploy`.\n\n")
		return
	}
	partHeader(w, d.Part, "1. Deploy critical path")
	w("The production program — `internal/program.Program`, which `main.go` runs: the stack's config through `program.ClusterArgsFromConfig` into `natsnest.NewCluster`, and its exports — ")
	w("runs under `pulumi.WithMocks` with the seed's cluster template (`stacks/Pulumi.cluster.yaml`: one zone, a public IP per node, the nats-server binary uploaded) for 1, 3, 5 and 11 nodes, in a rotating order each round. ")
	w("The mock monitor's `NewResource` sleeps the resource's assumed cloud latency × %g and records its dependencies from the register request; the two lookups sleep too. ", d.Scale)
	w("The **longest chain** is computed from the recorded graph: the chain of dependencies whose latencies add up to the most, plus the lookups, which block the program before any resource registers. ")
	w("No engine can create the cluster faster; a wall time at the chain means nothing waits that need not.\n\n")
	w("Assumed latencies (unscaled):\n\n| resource | latency |\n|---|--:|\n")
	keys := make([]string, 0, len(d.Latencies))
	for k := range d.Latencies {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := d.Latencies[b] - d.Latencies[a]; c != 0 {
			return int(c / time.Millisecond)
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		w("| `%s` | %s |\n", k, fmtDur(d.Latencies[k]))
	}
	w("\nComponents take no time, and so do the remote commands created without a create command, which pulumi-command then does not run: each node's **service** step, chained node after node to roll later changes (restart or reload) one node at a time, and its **leave** step, which runs when the node is removed. Each node's **start** step boots nats-server, on all nodes at once. ")
	w("The mock engine runs registrations in parallel, as `pulumi up` does with its default (unbounded) `--parallel`: %d independent resources of %s each, registered at once, took %s (%d in flight at most). ",
		d.Probes, fmtDur(d.ProbeDelay), fmtDur(d.EngineWall), d.EngineMax)
	w("The program's own work is not scaled down: **program CPU** is the CPU time the process used during a run (rendering every node's files, bcrypt hashing each password once, the SDK and the mock engine). ")
	w("At 1/%g of the cloud's latencies that work weighs %gx more than in a real `pulumi up`, where it overlaps with the base, upload and binary steps.\n\n", 1/d.Scale, 1/d.Scale)

	w("| nodes | resources | longest chain (cloud time) | chain × %g | measured wall | program CPU | wall − scaled chain | most in flight | runs |\n|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n", d.Scale)
	for _, n := range d.NodeCounts {
		runs, _ := deployRuns(d, n)
		var walls, cpus, chains, excess []time.Duration
		maxFlight, resources := 0, 0
		for _, r := range runs {
			walls, cpus, chains = append(walls, r.Wall), append(cpus, r.CPU), append(chains, r.Chain)
			excess = append(excess, r.Wall-scaleDown(r.Chain, d.Scale))
			maxFlight = max(maxFlight, r.MaxInFlight)
			resources = r.Resources
		}
		chain := medianDuration(chains)
		w("| %d | %d | %s | %s | %s | %s | %s | %d | %d |\n", n, resources, fmtDur(chain), fmtDur(scaleDown(chain, d.Scale)),
			fmtDur(medianDuration(walls)), fmtDur(medianDuration(cpus)), fmtDur(medianDuration(excess)), maxFlight, len(runs))
	}
	w("\n")
	if slices.Contains(d.NodeCounts, 3) && slices.Contains(d.NodeCounts, 11) {
		r11, w11 := deployRuns(d, 11)
		r3, w3 := deployRuns(d, 3)
		if len(r11) > 0 && len(r3) > 0 {
			chainRatio := float64(r11[0].Chain) / float64(r3[0].Chain)
			verdict := "meets"
			if chainRatio > 1.10 {
				verdict = "misses"
			}
			w("**11 nodes ÷ 3 nodes.** Longest chain, i.e. the deploy time at cloud scale when nothing waits that need not: **%s** (%s against %s) — this %s the goal of at most 1.10×. ",
				fmtRatio(chainRatio), fmtDur(r11[0].Chain), fmtDur(r3[0].Chain), verdict)
			var walls, chains []float64
			for _, r := range r11 {
				walls, chains = append(walls, float64(r.Wall)), append(chains, float64(scaleDown(r.Chain, d.Scale)))
			}
			w("Measured wall at 1/%g scale: %s (median of per-round ratios). ", 1/d.Scale, fmtRatio(medianRatio(w11, w3)))
			w("At 11 nodes the measured wall is %s the scaled longest chain (median over runs); the rest is the program's own work and the engine's, which the scale does not shrink.\n\n", fmtRatio(medianRatio(walls, chains)))
		}
	}
	// The longest chain of the largest cluster, resource by resource.
	for _, n := range slices.Backward(d.NodeCounts) {
		runs, _ := deployRuns(d, n)
		if len(runs) == 0 {
			continue
		}
		w("The longest chain for %d nodes (%s = %s of lookups, then):\n\n", n, fmtDur(runs[0].Chain), fmtDur(lookupTotal(d)))
		for _, k := range runs[0].Path {
			typ, name, _ := strings.Cut(k, "::")
			if l := latencyOf(typ, name); l > 0 {
				w("1. `%s` — %s\n", k, fmtDur(l))
			}
		}
		w("\n")
		if mp := runs[0].Measured; len(mp) > 0 {
			var lag, took time.Duration
			for _, st := range mp {
				lag, took = lag+st.Lag, took+st.Took
			}
			w("Where the wall time of one measured %d-node run went (at 1/%g scale): from the resource that finished last back through the dependencies that finished last. ", n, 1/d.Scale)
			w("**Waited** is how long a resource's registration came after that dependency finished — the program's own work or the engine's; **took** is its (scaled) latency. ")
			w("In all, %s waited and %s took.\n\n| resource | waited | took |\n|---|--:|--:|\n", fmtDur(lag), fmtDur(took))
			for _, st := range mp {
				w("| `%s` | %s | %s |\n", st.Key, fmtDur(st.Lag), fmtDur(st.Took))
			}
			w("\n")
		}
		break
	}
	var errs []string
	for _, r := range d.Deploys {
		if r.Err != "" {
			errs = append(errs, fmt.Sprintf("round %d, %d nodes: %s", r.Round+1, r.Nodes, r.Err))
		}
	}
	if len(errs) > 0 {
		w("Runs that failed (left out of the medians):\n\n- %s\n\n", strings.Join(errs, "\n- "))
	}
}

func lookupTotal(d *DeployResult) time.Duration {
	var t time.Duration
	for k, v := range invokeLatency {
		if l, ok := d.Latencies[k]; ok {
			v = l
		}
		t += v
	}
	return t
}
