// Package podgen generates realistic Pods deterministically, so that informerd and client-go
// ingest exactly the same bytes in every benchmark run.
//
// A generated Pod looks like one a Deployment's ReplicaSet made and a kubelet runs: 3–8
// labels, an ownerReference to its ReplicaSet, 1–3 containers with env, ports, resources and
// probes, a projected service-account volume, a Running status with conditions and container
// statuses, and the two managedFields entries (kube-controller-manager and kubelet) that a real
// API server records. Encoded as JSON it is 4.5–10 KB (6.5 KB on average), of which managedFields is about a third.
//
// Pod i of seed s is a pure function of (s, i); a Stream of modifications is a pure function of
// its seed and sizes.
package podgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Shape says how many namespaces, nodes and apps the generated Pods spread over.
type Shape struct {
	Namespaces int // default 50
	Nodes      int // default 100
	Apps       int // distinct "app" label values; default 400
}

func (s Shape) withDefaults() Shape {
	if s.Namespaces <= 0 {
		s.Namespaces = 50
	}
	if s.Nodes <= 0 {
		s.Nodes = 100
	}
	if s.Apps <= 0 {
		s.Apps = 400
	}
	return s
}

// BaseTime is the creation time of the first generated Pod; all times derive from it, never
// from the clock, so the bytes are the same in every run.
var BaseTime = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

var (
	words = []string{"checkout", "payments", "search", "catalog", "cart", "auth", "gateway",
		"ledger", "billing", "profile", "inventory", "shipping", "notify", "reports", "media",
		"render", "ingest", "metrics", "audit", "session"}
	components = []string{"api", "worker", "frontend", "backend", "cache", "cron", "proxy"}
	images     = []string{"registry.example.com/%s/server", "ghcr.io/example/%s",
		"docker.io/example/%s-svc", "quay.io/example/%s"}
	sidecars = []string{"envoy", "fluent-bit", "otel-collector"}
	envNames = []string{"LOG_LEVEL", "GOMAXPROCS", "HTTP_PORT", "DATABASE_URL", "CACHE_TTL",
		"FEATURE_FLAGS", "OTEL_EXPORTER_OTLP_ENDPOINT", "REGION", "MAX_CONNECTIONS",
		"JAVA_OPTS"}
	alnum = "bcdfghjklmnpqrstvwxz2456789"
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func suffix(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

// nameSuffix is Pod i's 5-character name suffix, distinct for every i below 27^5: i times a
// multiplier prime to 27^5, written in base 27. Names are unique, as the API server keeps them; a
// random suffix made two of 100 000 Pods share a key, which an informer counts once.
func nameSuffix(i int) string {
	base := uint64(len(alnum))
	space := base * base * base * base * base
	x := (uint64(i) * 2654435761) % space
	b := make([]byte, 5)
	for k := range b {
		b[k] = alnum[x%base]
		x /= base
	}
	return string(b)
}

func uid(r *rand.Rand) types.UID {
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		default:
			b[i] = hex[r.IntN(16)]
		}
	}
	return types.UID(b)
}

// Pod returns Pod number i of `seed` with resourceVersion rv.
func Pod(seed uint64, i int, rv uint64, shape Shape) *corev1.Pod {
	shape = shape.withDefaults()
	r := rand.New(rand.NewPCG(seed, uint64(i)*0x9e3779b97f4a7c15+1))
	appIndex := r.IntN(shape.Apps)
	// The app decides namespace and look, so pods of one app are alike, as in a cluster.
	ar := rand.New(rand.NewPCG(seed^0xa5a5, uint64(appIndex)))
	app := fmt.Sprintf("%s-%s", pick(ar, words), pick(ar, components))
	if appIndex >= len(words)*len(components) {
		app = fmt.Sprintf("%s-%d", app, appIndex)
	}
	namespace := fmt.Sprintf("team-%02d", ar.IntN(shape.Namespaces))
	rsHash := suffix(ar, 10)
	rsUID := uid(ar)
	version := fmt.Sprintf("v1.%d.%d", ar.IntN(30), ar.IntN(10))
	_ = suffix(r, 5) // the draw the name's suffix once took: every later field stays as it was
	name := fmt.Sprintf("%s-%s-%s", app, rsHash, nameSuffix(i))
	created := BaseTime.Add(time.Duration(i) * 1500 * time.Millisecond)
	node := fmt.Sprintf("node-%03d", r.IntN(shape.Nodes))

	labels := map[string]string{"app": app, "pod-template-hash": rsHash}
	optional := [][2]string{
		{"app.kubernetes.io/name", app},
		{"app.kubernetes.io/instance", app + "-prod"},
		{"app.kubernetes.io/component", pick(ar, components)},
		{"app.kubernetes.io/part-of", pick(ar, words)},
		{"app.kubernetes.io/version", version},
		{"tier", pick(ar, []string{"frontend", "backend", "data"})},
		{"environment", pick(ar, []string{"prod", "staging", "canary"})},
	}
	extra := 1 + ar.IntN(3) // 3..5 labels in all, 8 for a tenth
	if ar.IntN(10) == 0 {
		extra = 6
	}
	for _, kv := range optional[:extra] {
		labels[kv[0]] = kv[1]
	}
	annotations := map[string]string{}
	if ar.IntN(3) == 0 {
		annotations["kubectl.kubernetes.io/restartedAt"] = BaseTime.Add(-time.Duration(ar.IntN(1000)) * time.Hour).Format(time.RFC3339)
	}
	if ar.IntN(3) == 0 {
		annotations["prometheus.io/scrape"] = "true"
		annotations["prometheus.io/port"] = "9090"
	}

	// Most pods run one container; some carry one or two sidecars.
	containers := 1
	switch x := ar.IntN(20); {
	case x >= 19:
		containers = 3
	case x >= 15:
		containers = 2
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			GenerateName:      fmt.Sprintf("%s-%s-", app, rsHash),
			Namespace:         namespace,
			UID:               uid(r),
			ResourceVersion:   strconv.FormatUint(rv, 10),
			CreationTimestamp: metav1.NewTime(created),
			Labels:            labels,
			Annotations:       annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         "apps/v1",
				Kind:               "ReplicaSet",
				Name:               fmt.Sprintf("%s-%s", app, rsHash),
				UID:                rsUID,
				Controller:         ptr(true),
				BlockOwnerDeletion: ptr(true),
			}},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr(int64(30)),
			DNSPolicy:                     corev1.DNSClusterFirst,
			ServiceAccountName:            app,
			DeprecatedServiceAccount:      app,
			SecurityContext:               &corev1.PodSecurityContext{RunAsNonRoot: ptr(true), FSGroup: ptr(int64(2000))},
			SchedulerName:                 "default-scheduler",
			Priority:                      ptr(int32(0)),
			EnableServiceLinks:            ptr(true),
			PreemptionPolicy:              ptr(corev1.PreemptLowerPriority),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))},
			},
		},
	}
	apiVolume := "kube-api-access-" + suffix(r, 5)
	pod.Spec.Volumes = []corev1.Volume{{
		Name: apiVolume,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr(int32(420)),
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr(int64(3607)), Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			},
		}},
	}}
	for c := 0; c < containers; c++ {
		pod.Spec.Containers = append(pod.Spec.Containers, container(ar, app, c, version, apiVolume))
	}

	started := created.Add(time.Duration(2+r.IntN(20)) * time.Second)
	podIP := fmt.Sprintf("10.%d.%d.%d", 64+r.IntN(64), r.IntN(256), 1+r.IntN(254))
	hostIP := fmt.Sprintf("192.168.%d.%d", r.IntN(4), 10+r.IntN(200))
	pod.Status = corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     podIP,
		PodIPs:    []corev1.PodIP{{IP: podIP}},
		StartTime: ptr(metav1.NewTime(created.Add(time.Second))),
		QOSClass:  corev1.PodQOSBurstable,
	}
	for _, t := range []corev1.PodConditionType{"PodReadyToStartContainers", corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		at := started
		if t == corev1.PodScheduled || t == corev1.PodInitialized {
			at = created
		}
		pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{
			Type: t, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at),
		})
	}
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:         c.Name,
			State:        corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
			Ready:        true,
			RestartCount: 0,
			Image:        c.Image,
			ImageID:      c.Image[:lastColon(c.Image)] + "@sha256:" + hexString(ar, 64),
			ContainerID:  "containerd://" + hexString(r, 64),
			Started:      ptr(true),
		})
	}
	SetManagedFields(pod, created, started)
	return pod
}

func container(r *rand.Rand, app string, c int, version, apiVolume string) corev1.Container {
	name := app
	image := fmt.Sprintf(pick(r, images), app) + ":" + version
	if c > 0 {
		name = sidecars[(c-1)%len(sidecars)]
		image = fmt.Sprintf("docker.io/example/%s:%d.%d", name, 1+r.IntN(3), r.IntN(20))
	}
	port := int32(8080 + c)
	memory := 64 * (1 + r.IntN(8))
	portName := "http"
	if c > 0 {
		portName = fmt.Sprintf("admin-%d", c)
	}
	ct := corev1.Container{
		Name:  name,
		Image: image,
		Ports: []corev1.ContainerPort{
			{Name: portName, ContainerPort: port, Protocol: corev1.ProtocolTCP},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse(fmt.Sprintf("%dm", 50*(1+r.IntN(10)))),
				corev1.ResourceMemory: resource.MustParse(fmt.Sprintf("%dMi", memory)),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse(fmt.Sprintf("%dMi", memory*(1+r.IntN(3)))),
			},
		},
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		VolumeMounts:             []corev1.VolumeMount{{Name: apiVolume, ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
	}
	if c == 0 && r.IntN(2) == 0 {
		ct.Ports = append(ct.Ports, corev1.ContainerPort{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
	}
	if c == 0 {
		probe := func(path string, delay int32) *corev1.Probe {
			return &corev1.Probe{
				ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
				InitialDelaySeconds: delay, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
			}
		}
		ct.ReadinessProbe = probe("/readyz", 5)
		if r.IntN(2) == 0 {
			ct.LivenessProbe = probe("/healthz", 10)
		}
	}
	envs := r.IntN(3)
	for e := 0; e < envs; e++ {
		ct.Env = append(ct.Env, corev1.EnvVar{Name: envNames[(e+c)%len(envNames)], Value: fmt.Sprintf("value-%s", suffix(r, 4+r.IntN(12)))})
	}
	if c > 0 || r.IntN(2) == 0 {
		return ct
	}
	ct.Env = append(ct.Env, corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}})
	return ct
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}

func hexString(r *rand.Rand, n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[r.IntN(16)]
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

type tree = map[string]any

func leaf() tree { return tree{} }

func keyed(k, v string) string { return fmt.Sprintf(`k:{"%s":"%s"}`, k, v) }

func keyedPort(port int32, proto string) string {
	return fmt.Sprintf(`k:{"containerPort":%d,"protocol":"%s"}`, port, proto)
}

// SetManagedFields records, as a real API server does, which manager owns which fields: the
// ReplicaSet controller the spec and metadata, the kubelet the status.
func SetManagedFields(pod *corev1.Pod, created, updated time.Time) {
	labels := tree{".": leaf()}
	for k := range pod.Labels {
		labels["f:"+k] = leaf()
	}
	containers := tree{}
	for _, c := range pod.Spec.Containers {
		ct := tree{".": leaf(), "f:image": leaf(), "f:imagePullPolicy": leaf(), "f:name": leaf(),
			"f:resources": tree{".": leaf(), "f:limits": tree{".": leaf(), "f:memory": leaf()},
				"f:requests": tree{".": leaf(), "f:cpu": leaf(), "f:memory": leaf()}},
			"f:terminationMessagePath": leaf(), "f:terminationMessagePolicy": leaf()}
		env := tree{".": leaf()}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				env[keyed("name", e.Name)] = tree{".": leaf(), "f:name": leaf(), "f:valueFrom": tree{".": leaf(), "f:fieldRef": leaf()}}
			} else {
				env[keyed("name", e.Name)] = tree{".": leaf(), "f:name": leaf(), "f:value": leaf()}
			}
		}
		ct["f:env"] = env
		ports := tree{".": leaf()}
		for _, p := range c.Ports {
			ports[keyedPort(p.ContainerPort, string(p.Protocol))] = tree{".": leaf(), "f:containerPort": leaf(), "f:name": leaf(), "f:protocol": leaf()}
		}
		ct["f:ports"] = ports
		probe := tree{".": leaf(), "f:failureThreshold": leaf(), "f:httpGet": tree{".": leaf(), "f:path": leaf(), "f:port": leaf(), "f:scheme": leaf()},
			"f:initialDelaySeconds": leaf(), "f:periodSeconds": leaf(), "f:successThreshold": leaf(), "f:timeoutSeconds": leaf()}
		if c.LivenessProbe != nil {
			ct["f:livenessProbe"] = probe
		}
		if c.ReadinessProbe != nil {
			ct["f:readinessProbe"] = probe
		}
		containers[keyed("name", c.Name)] = ct
	}
	metadata := tree{"f:generateName": leaf(), "f:labels": labels,
		"f:ownerReferences": tree{".": leaf(), keyed("uid", string(pod.OwnerReferences[0].UID)): leaf()}}
	if len(pod.Annotations) > 0 {
		annotations := tree{".": leaf()}
		for k := range pod.Annotations {
			annotations["f:"+k] = leaf()
		}
		metadata["f:annotations"] = annotations
	}
	spec := tree{"f:metadata": metadata,
		"f:spec": tree{"f:containers": containers, "f:dnsPolicy": leaf(), "f:enableServiceLinks": leaf(),
			"f:restartPolicy": leaf(), "f:schedulerName": leaf(), "f:securityContext": tree{".": leaf(), "f:fsGroup": leaf(), "f:runAsNonRoot": leaf()},
			"f:serviceAccount": leaf(), "f:serviceAccountName": leaf(), "f:terminationGracePeriodSeconds": leaf()}}
	conditions := tree{}
	for _, c := range pod.Status.Conditions {
		conditions[keyed("type", string(c.Type))] = tree{".": leaf(), "f:lastProbeTime": leaf(), "f:lastTransitionTime": leaf(), "f:status": leaf(), "f:type": leaf()}
	}
	status := tree{"f:status": tree{"f:conditions": conditions, "f:containerStatuses": leaf(),
		"f:hostIP": leaf(), "f:hostIPs": leaf(), "f:phase": leaf(), "f:podIP": leaf(),
		"f:podIPs":    tree{".": leaf(), keyed("ip", pod.Status.PodIP): tree{".": leaf(), "f:ip": leaf()}},
		"f:startTime": leaf()}}
	raw := func(t tree) *metav1.FieldsV1 {
		b, err := json.Marshal(t)
		if err != nil {
			panic(err)
		}
		return &metav1.FieldsV1{Raw: b}
	}
	pod.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			Time: ptr(metav1.NewTime(created)), FieldsType: "FieldsV1", FieldsV1: raw(spec)},
		{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			Time: ptr(metav1.NewTime(updated)), FieldsType: "FieldsV1", FieldsV1: raw(status), Subresource: "status"},
	}
}

// Modify changes `pod` as a running cluster would, deterministically from `r`: mostly status
// churn (a container restarts, a condition flips), sometimes a label or annotation edit.
// It sets the new resourceVersion and returns a short name of what changed.
func Modify(r *rand.Rand, pod *corev1.Pod, rv uint64, at time.Time) string {
	pod.ResourceVersion = strconv.FormatUint(rv, 10)
	what := "status"
	switch x := r.IntN(10); {
	case x < 6: // a container restarts
		cs := &pod.Status.ContainerStatuses[r.IntN(len(pod.Status.ContainerStatuses))]
		cs.RestartCount++
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(1 + r.IntN(137)), Reason: "Error", StartedAt: cs.State.Running.StartedAt,
			FinishedAt: metav1.NewTime(at), ContainerID: cs.ContainerID}}
		cs.ContainerID = "containerd://" + hexString(r, 64)
		cs.State.Running.StartedAt = metav1.NewTime(at)
	case x < 8: // readiness flips
		for i := range pod.Status.Conditions {
			c := &pod.Status.Conditions[i]
			if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
				if c.Status == corev1.ConditionTrue {
					c.Status = corev1.ConditionFalse
					c.Reason = "ContainersNotReady"
					c.Message = "containers with unready status: [" + pod.Spec.Containers[0].Name + "]"
				} else {
					c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
				}
				c.LastTransitionTime = metav1.NewTime(at)
			}
		}
	case x < 9:
		what = "label"
		pod.Labels["rollout"] = "r" + suffix(r, 6)
	default:
		what = "annotation"
		pod.Annotations["deployment.kubernetes.io/revision"] = strconv.Itoa(1 + r.IntN(50))
	}
	if pod.ManagedFields != nil {
		pod.ManagedFields[1].Time = ptr(metav1.NewTime(at))
	}
	return what
}
