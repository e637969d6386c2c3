package informer

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	informerv1 "informerd.dev/clients/go/informerv1"
)

// Client reads informerd's caches directly (List, Get, ByIndex) and is what informers subscribe
// through. Safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn // nil when the caller owns the connection
	rpc  informerv1.InformerServiceClient
}

// Keepalive is the client side of gRPC keepalive that Dial and DialAddresses use: a ping after
// 30 s without traffic, the connection declared dead 10 s after an unanswered ping, also while
// no stream is open (informerd accepts pings 10 s apart). With the streams' bookmark watchdog
// (Options.SilenceTimeout) it bounds how long a client trusts a silent server.
var Keepalive = keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}

// defaultDialOptions are what Dial and DialAddresses use before the caller's options.
func defaultDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithKeepaliveParams(Keepalive),
	}
}

// Dial connects to informerd at target ("host:port" or "unix:///path"). Without options it uses
// plaintext, keepalive (see Keepalive) and retries connecting every 2 s at most, so an informer
// notices a restarted server soon; pass grpc.DialOptions to change that (e.g. TLS credentials).
// The connection is lazy: Dial fails only on a malformed target.
func Dial(target string, opts ...grpc.DialOption) (*Client, error) {
	conn, err := grpc.NewClient(target, append(defaultDialOptions(), opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, rpc: informerv1.NewInformerServiceClient(conn)}, nil
}

// dialSchemes numbers the resolver schemes of DialAddresses, one per call.
var dialSchemes atomic.Int64

// DialAddresses connects to several informerd replicas that follow the same API server
// ("host:port" or "unix:///path" each): calls are spread round robin over the addresses that are up, and one
// that goes away is left out until it is back, so an informer's resume after a replica died
// (its stream ended, or the bookmark watchdog gave up on it) goes to another one. Subscription
// positions are the API server's resourceVersions, so a resume by resourceVersion or
// known_objects continues on any replica. Options as Dial's.
func DialAddresses(addrs []string, opts ...grpc.DialOption) (*Client, error) {
	if len(addrs) == 0 {
		return nil, status.Error(codes.InvalidArgument, "DialAddresses: no address")
	}
	r := manual.NewBuilderWithScheme(fmt.Sprintf("informerd-addrs-%d", dialSchemes.Add(1)))
	state := resolver.State{}
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	all := append(defaultDialOptions(), grpc.WithResolvers(r),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		grpc.WithContextDialer(dialAddress))
	conn, err := grpc.NewClient(r.Scheme()+":///informerd", append(all, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, rpc: informerv1.NewInformerServiceClient(conn)}, nil
}

// NewClient uses a connection the caller made (and closes).
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{rpc: informerv1.NewInformerServiceClient(conn)}
}

// Close closes the connection Dial made; a no-op for NewClient.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// RPC is the generated stub, for calls the helpers do not cover.
func (c *Client) RPC() informerv1.InformerServiceClient { return c.rpc }

// ListOptions narrow List and ByIndex, as informer.v1's ListRequest.
type ListOptions struct {
	// Namespace limits the answer to one namespace; empty = all.
	Namespace string
	// LabelSelector and FieldSelector use Kubernetes' syntax; empty = everything.
	LabelSelector string
	FieldSelector string
	// Limit is the page size (0 = the server's default); List and ByIndex fetch every page.
	Limit int32
	// MinResourceVersion waits until the cache has seen this version (read your writes), up to
	// the context's deadline.
	MinResourceVersion string
	// Fields is a field mask: each object is pruned to these paths ("spec.nodeName",
	// "metadata.labels"; its identity and resourceVersion always kept); empty = whole objects.
	// At most 64 paths.
	Fields []string
	// WaitForSync waits, up to the context's deadline, for a resource informerd is still
	// starting (on demand) instead of failing Unavailable.
	WaitForSync bool
}

// GetOptions are what Get reads beyond the object's name; as ListOptions' fields of the same
// names.
type GetOptions struct {
	MinResourceVersion string
	Fields             []string
	WaitForSync        bool
}

// maxListRestarts bounds how often a paged read restarts after its snapshot expired (ABORTED).
const maxListRestarts = 3

// ListResources returns what informerd caches, with sync state and index names.
func (c *Client) ListResources(ctx context.Context) ([]*informerv1.ResourceStatus, error) {
	resp, err := c.rpc.ListResources(ctx, &informerv1.ListResourcesRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetResources(), nil
}

// List returns every cached object of resource matching opts, sorted by key, from one
// consistent snapshot, and that snapshot's resourceVersion. Errors are gRPC statuses (see
// informer.v1): NotFound for a resource informerd does not cache, InvalidArgument for a bad
// selector, Unavailable while the resource is not synced.
func (c *Client) List(ctx context.Context, resource string, opts ListOptions) ([]*Object, string, error) {
	for attempt := 0; ; attempt++ {
		var out []*Object
		req := &informerv1.ListRequest{
			Resource: resource, Namespace: opts.Namespace, LabelSelector: opts.LabelSelector,
			FieldSelector: opts.FieldSelector, Limit: opts.Limit, MinResourceVersion: opts.MinResourceVersion,
			Fields: opts.Fields, WaitForSync: opts.WaitForSync,
		}
		var rv string
		var err error
		for {
			var resp *informerv1.ListResponse
			resp, err = c.rpc.List(ctx, req)
			if err != nil {
				break
			}
			rv = resp.GetResourceVersion()
			for _, o := range resp.GetObjects() {
				out = append(out, FromProto(o))
			}
			if resp.GetNextPageToken() == "" {
				return out, rv, nil
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if status.Code(err) != codes.Aborted || attempt >= maxListRestarts {
			return nil, "", err
		}
	}
}

// Get returns one cached object. NotFound when the cache has no such object. With a
// minResourceVersion (optional, at most one) it waits until the cache has seen that version.
func (c *Client) Get(ctx context.Context, resource, namespace, name string, minResourceVersion ...string) (*Object, error) {
	var opts GetOptions
	if len(minResourceVersion) > 0 {
		opts.MinResourceVersion = minResourceVersion[0]
	}
	return c.GetWithOptions(ctx, resource, namespace, name, opts)
}

// GetWithOptions is Get with a field mask or a wait for the resource's first sync.
func (c *Client) GetWithOptions(ctx context.Context, resource, namespace, name string, opts GetOptions) (*Object, error) {
	req := &informerv1.GetRequest{
		Resource: resource, Namespace: namespace, Name: name,
		MinResourceVersion: opts.MinResourceVersion, Fields: opts.Fields, WaitForSync: opts.WaitForSync,
	}
	resp, err := c.rpc.Get(ctx, req)
	if err != nil {
		return nil, err
	}
	return FromProto(resp.GetObject()), nil
}

// ByIndex returns every cached object whose index indexName holds value (e.g. index
// "namespace", value "default"), narrowed by opts, sorted by key. InvalidArgument names the
// resource's indexes when indexName is not one.
func (c *Client) ByIndex(ctx context.Context, resource, indexName, value string, opts ListOptions) ([]*Object, error) {
	for attempt := 0; ; attempt++ {
		var out []*Object
		req := &informerv1.ByIndexRequest{
			Resource: resource, IndexName: indexName, Value: value, Namespace: opts.Namespace,
			LabelSelector: opts.LabelSelector, FieldSelector: opts.FieldSelector, Limit: opts.Limit,
			MinResourceVersion: opts.MinResourceVersion, Fields: opts.Fields, WaitForSync: opts.WaitForSync,
		}
		var err error
		for {
			var resp *informerv1.ByIndexResponse
			resp, err = c.rpc.ByIndex(ctx, req)
			if err != nil {
				break
			}
			for _, o := range resp.GetObjects() {
				out = append(out, FromProto(o))
			}
			if resp.GetNextPageToken() == "" {
				return out, nil
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if status.Code(err) != codes.Aborted || attempt >= maxListRestarts {
			return nil, err
		}
	}
}

// dialAddress connects to one address of DialAddresses: a unix socket for "unix:PATH" or
// "unix://PATH", else TCP.
func dialAddress(ctx context.Context, addr string) (net.Conn, error) {
	network := "tcp"
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", strings.TrimPrefix(rest, "//")
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}
