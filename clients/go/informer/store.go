package informer

import (
	"sort"
	"sync"
)

// Store is an informer's local, read-only copy of the objects it follows, keyed by
// "namespace/name" (client-go's cache.Store seen through a lister). Safe for concurrent use.
type Store struct {
	mu    sync.RWMutex
	items map[string]*Object
}

func newStore() *Store { return &Store{items: map[string]*Object{}} }

// GetByKey returns the object stored under key and whether there is one.
func (s *Store) GetByKey(key string) (*Object, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.items[key]
	return o, ok
}

// Get returns the object with this namespace and name and whether there is one.
func (s *Store) Get(namespace, name string) (*Object, bool) {
	return s.GetByKey(ObjectKey(namespace, name))
}

// List returns every stored object, sorted by key.
func (s *Store) List() []*Object {
	s.mu.RLock()
	out := make([]*Object, 0, len(s.items))
	for _, o := range s.items {
		out = append(out, o)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// ListKeys returns every stored key, sorted.
func (s *Store) ListKeys() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.items))
	for k := range s.items {
		out = append(out, k)
	}
	s.mu.RUnlock()
	sort.Strings(out)
	return out
}

// Len is the number of stored objects.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.items)
}

// versions snapshots key -> resourceVersion, the known_objects of a resubscription.
func (s *Store) versions() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]string, len(s.items))
	for k, o := range s.items {
		out[k] = o.ResourceVersion
	}
	return out
}

func (s *Store) put(o *Object) {
	s.mu.Lock()
	s.items[o.Key()] = o
	s.mu.Unlock()
}

func (s *Store) remove(key string) {
	s.mu.Lock()
	delete(s.items, key)
	s.mu.Unlock()
}
