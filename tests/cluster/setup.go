package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
)

const restrictedRole = "informerd:restricted"

// setupCluster waits for /readyz, then gives the restricted user read access
// to configmaps and namespaces (and nothing else: not secrets), and waits until
// the authorizer actually enforces that.
func setupCluster(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var lastReadyz string
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "1").DoRaw(ctx)
		if err != nil {
			lastReadyz = err.Error() + "\n" + string(body)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for /readyz: %w; last answer: %s", err, tail(lastReadyz, 2000))
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for namespace default: %w", err)
	}

	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: restrictedRole},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"configmaps", "namespaces"},
			Verbs:     []string{"get", "list", "watch"},
		}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: restrictedRole},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: restrictedRole},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: restrictedUser}},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ClusterRole %s: %w", restrictedRole, err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ClusterRoleBinding %s: %w", restrictedRole, err)
	}

	// RBAC is served from informers: wait until the binding is in effect.
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               restrictedUser,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "watch", Resource: "configmaps"},
		}}
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		return err == nil && res.Status.Allowed, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for RBAC of user %s: %w", restrictedUser, err)
	}
	klog.Infof("testcluster: user %q may get/list/watch configmaps and namespaces", restrictedUser)
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func writeKubeconfig(path, server string, ca []byte, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testcluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[user] = &clientcmdapi.Context{Cluster: "testcluster", AuthInfo: user, Namespace: metav1.NamespaceDefault}
	cfg.CurrentContext = user
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// clusterEnv is cluster.env: shell-sourceable KEY='value' lines.
type clusterEnv struct {
	Dir, AdminKC, RestrictedKC, ServerURL, CAFile string
	AdminToken, RestrictToken, EtcdURL            string
	APIServerPort, EtcdPort, EtcdPeerPort, PID    int
	ConfigMapCache                                bool
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (e clusterEnv) write(path string) error {
	vars := map[string]string{
		"INFORMERD_CLUSTER_DIR":                     e.Dir,
		"INFORMERD_CLUSTER_K8S_VERSION":             kubeVersion,
		"KUBECONFIG":                                e.AdminKC,
		"INFORMERD_TEST_KUBECONFIG_ADMIN":           e.AdminKC,
		"INFORMERD_TEST_KUBECONFIG_RESTRICTED":      e.RestrictedKC,
		"INFORMERD_CLUSTER_APISERVER_URL":           e.ServerURL,
		"INFORMERD_CLUSTER_APISERVER_PORT":          strconv.Itoa(e.APIServerPort),
		"INFORMERD_CLUSTER_CA":                      e.CAFile,
		"INFORMERD_CLUSTER_ADMIN_TOKEN_FILE":        e.AdminToken,
		"INFORMERD_CLUSTER_RESTRICTED_TOKEN_FILE":   e.RestrictToken,
		"INFORMERD_CLUSTER_ETCD_URL":                e.EtcdURL,
		"INFORMERD_CLUSTER_ETCD_PORT":               strconv.Itoa(e.EtcdPort),
		"INFORMERD_CLUSTER_ETCD_PEER_PORT":          strconv.Itoa(e.EtcdPeerPort),
		"INFORMERD_CLUSTER_PID":                     strconv.Itoa(e.PID),
		"INFORMERD_CLUSTER_CONFIGMAP_WATCH_CACHE":   strconv.FormatBool(e.ConfigMapCache),
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Written by testcluster once the cluster is ready; removed when it stops.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, shellQuote(vars[k]))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readClusterEnv parses a cluster.env written by write.
func readClusterEnv(dir string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cluster.env"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
		out[k] = strings.ReplaceAll(v, `'\''`, "'")
	}
	return out, nil
}
