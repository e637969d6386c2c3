package informer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTokenFileIsReReadAfterRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	source := &TokenFile{Path: path, Reread: 50 * time.Millisecond}
	md, err := source.GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer first" {
		t.Fatalf("got %v, %v; want Bearer first", md, err)
	}
	if err := os.WriteFile(path, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	md, err = source.GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer second" {
		t.Fatalf("got %v, %v; want Bearer second after the rotation", md, err)
	}
	if !source.RequireTransportSecurity() {
		t.Error("a token must not go over plaintext")
	}
}

func TestTokenFileMissingIsAnError(t *testing.T) {
	source := &TokenFile{Path: filepath.Join(t.TempDir(), "absent")}
	if _, err := source.GetRequestMetadata(context.Background()); err == nil {
		t.Error("want an error for a missing token file")
	}
}
