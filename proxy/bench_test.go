package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/steadyrest/steadyrest/overlay"
)

// BenchmarkSaveLoad measures one POST plus one GET of a 1 MiB data object
// through HTTP, the proxy and the store on the memory remote.
func BenchmarkSaveLoad(b *testing.B) {
	f := newFs(b, "memory")
	store, err := overlay.New(f, overlay.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(store, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := make([]byte, 1<<20)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		_, _ = rand.Read(body)
		sum := sha256.Sum256(body)
		url := srv.URL + "/data/" + hex.EncodeToString(sum[:])
		res, err := http.Post(url, "application/octet-stream", bytes.NewReader(body))
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("POST: %v %v", err, res)
		}
		res.Body.Close()
		res, err = http.Get(url)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("GET: %v %v", err, res)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if n != int64(len(body)) {
			b.Fatalf("GET returned %d bytes", n)
		}
	}
}
