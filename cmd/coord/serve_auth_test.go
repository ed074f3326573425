package main

import (
	"testing"
	"time"

	"github.com/coord-io/coord/coord/server"
)

// TestServeAuthFlags: --bcrypt-cost and --auth-token-ttl reach the
// member's configuration, from flags or COORD_BCRYPT_COST and
// COORD_AUTH_TOKEN_TTL, with the defaults 10 and 5m.
func TestServeAuthFlags(t *testing.T) {
	cfg := serveConfigFromArgs(t)
	if cfg.BcryptCost != server.DefaultBcryptCost || cfg.AuthTokenTTL != server.DefaultAuthTokenTTL {
		t.Fatalf("defaults: bcrypt cost %d, token ttl %v", cfg.BcryptCost, cfg.AuthTokenTTL)
	}
	cfg = serveConfigFromArgs(t, "--bcrypt-cost", "6", "--auth-token-ttl", "30s")
	if cfg.BcryptCost != 6 || cfg.AuthTokenTTL != 30*time.Second {
		t.Fatalf("flags: bcrypt cost %d, token ttl %v", cfg.BcryptCost, cfg.AuthTokenTTL)
	}
	t.Setenv("COORD_BCRYPT_COST", "5")
	t.Setenv("COORD_AUTH_TOKEN_TTL", "1m")
	cfg = serveConfigFromArgs(t)
	if cfg.BcryptCost != 5 || cfg.AuthTokenTTL != time.Minute {
		t.Fatalf("env: bcrypt cost %d, token ttl %v", cfg.BcryptCost, cfg.AuthTokenTTL)
	}
	bad := cfg
	bad.BcryptCost = 3
	if err := bad.Validate(); err == nil {
		t.Fatal("bcrypt cost 3 accepted")
	}
}
