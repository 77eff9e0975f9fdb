package main

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"pingpong/v3_redis_counter/internal/redistest"
)

// These tests run the service against a redis-server that speaks TLS only,
// with a certificate of a throwaway CA made by the test: as a managed Redis
// does, with the CA its provider hands out.

// TestRedisOverTLS counts over TLS, and shows the certificate is checked:
// without the CA file the service trusts the system's CAs, which do not know
// this one, and a name the certificate does not hold is refused too. Either
// way the service never counts: /readyz and /ping answer 503, and the log
// says why.
func TestRedisOverTLS(t *testing.T) {
	certs := redistest.NewCerts(t)
	tests := []struct {
		name    string
		env     func(redis *redistest.Server) map[string]string
		wantErr string // in the log; "" when the service counts
	}{
		{"a rediss:// URL and the CA file", func(redis *redistest.Server) map[string]string {
			return map[string]string{"REDIS_URL": redis.URL(), "REDIS_TLS_CA_FILE": certs.CAFile}
		}, ""},
		{"REDIS_ADDR and REDIS_TLS=true", func(redis *redistest.Server) map[string]string {
			return map[string]string{"REDIS_ADDR": redis.Addr, "REDIS_TLS": "true", "REDIS_TLS_CA_FILE": certs.CAFile}
		}, ""},
		{"a server name the certificate holds", func(redis *redistest.Server) map[string]string {
			return map[string]string{"REDIS_URL": redis.URL(), "REDIS_TLS_CA_FILE": certs.CAFile, "REDIS_TLS_SERVER_NAME": "localhost"}
		}, ""},
		{"without the CA file: the system's CAs", func(redis *redistest.Server) map[string]string {
			return map[string]string{"REDIS_URL": redis.URL()}
		}, "certificate signed by unknown authority"},
		{"a server name the certificate does not hold", func(redis *redistest.Server) map[string]string {
			return map[string]string{"REDIS_URL": redis.URL(), "REDIS_TLS_CA_FILE": certs.CAFile, "REDIS_TLS_SERVER_NAME": "redis.example"}
		}, "certificate is valid for localhost, not redis.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env(redistest.StartTLS(t, certs))
			if tt.wantErr == "" {
				a := startApp(t, env)
				for want := int64(1); want <= 3; want++ {
					if got := a.ping(t); got != want {
						t.Fatalf("ping %d answered %d", want, got)
					}
				}
				return
			}
			a := startUnready(t, env)
			if status, _ := a.get(t, "/readyz"); status != http.StatusServiceUnavailable {
				t.Errorf("GET /readyz = %d, want 503", status)
			}
			if status, body := a.get(t, "/ping"); status != http.StatusServiceUnavailable || !strings.Contains(body, "counter unavailable") {
				t.Errorf("GET /ping = %d %q, want 503 counter unavailable", status, body)
			}
			waitForLog(t, a, tt.wantErr)
		})
	}
}

// TestSentinelOverTLS finds the master through three Sentinels, where every
// server and Sentinel speaks TLS only and the replicas follow the master
// over TLS: go-redis dials the Sentinels with the servers' TLS settings. A
// ping is answered only once a replica has its count (REDIS_MIN_REPLICAS is
// 1 with Sentinels), so the counts prove replication too. The control drops
// the CA file: the first dial, to a Sentinel, fails the check.
func TestSentinelOverTLS(t *testing.T) {
	certs := redistest.NewCerts(t)
	ha := redistest.StartHATLS(t, certs)
	env := map[string]string{"REDIS_SENTINELS": ha.SentinelAddrs(), "REDIS_MASTER_NAME": ha.MasterName,
		"REDIS_TLS": "true", "REDIS_TLS_CA_FILE": certs.CAFile}
	a := startApp(t, env)
	for want := int64(1); want <= 3; want++ {
		if got := a.ping(t); got != want {
			t.Fatalf("ping %d answered %d", want, got)
		}
	}

	delete(env, "REDIS_TLS_CA_FILE")
	control := startUnready(t, env)
	if status, body := control.get(t, "/ping"); status != http.StatusServiceUnavailable {
		t.Errorf("without the CA file, GET /ping = %d %q, want 503", status, body)
	}
	waitForLog(t, control, "sentinels specified in configuration are unreachable: tls: failed to verify certificate")
}

// waitForLog waits until the app's log says text, asking /readyz again and
// again meanwhile: each time it dials Redis. On a busy machine a handshake
// can first time out, and that is logged instead of the certificate's error.
func waitForLog(t *testing.T, a *app, text string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(a.logs.String(), text); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the log still does not say %q:\n%s", text, a.logs.String())
		}
		a.get(t, "/readyz")
	}
}

// TestRedisTLSSettings: what each setting makes of the client's TLS
// settings, for a single server and for the failover client.
func TestRedisTLSSettings(t *testing.T) {
	caFile := redistest.NewCerts(t).CAFile
	tests := []struct {
		name           string
		env            map[string]string
		wantTLS        bool
		wantCAs        bool // the CA file's, not the system's
		wantServerName string
	}{
		{"plain", map[string]string{"REDIS_URL": "redis://cache:6379"}, false, false, ""},
		{"rediss://", map[string]string{"REDIS_URL": "rediss://cache:6380"}, true, false, ""},
		{"skip_verify=false is no harm", map[string]string{"REDIS_URL": "rediss://cache:6380/0?skip_verify=false"}, true, false, ""},
		{"REDIS_TLS", map[string]string{"REDIS_ADDR": "cache:6380", "REDIS_TLS": "true"}, true, false, ""},
		{"CA file", map[string]string{"REDIS_URL": "rediss://cache:6380", "REDIS_TLS_CA_FILE": caFile}, true, true, ""},
		{"server name", map[string]string{"REDIS_ADDR": "10.0.0.7:6380", "REDIS_TLS": "true", "REDIS_TLS_SERVER_NAME": "cache"}, true, false, "cache"},
		{"Sentinels", map[string]string{"REDIS_SENTINELS": "s1:26379", "REDIS_MASTER_NAME": "m", "REDIS_TLS": "true", "REDIS_TLS_CA_FILE": caFile}, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(environment(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			client, err := cfg.newRedisClient()
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			got := client.Options().TLSConfig
			if (got != nil) != tt.wantTLS {
				t.Fatalf("TLS %v, want %v", got != nil, tt.wantTLS)
			}
			if got == nil {
				return
			}
			if got.MinVersion != tls.VersionTLS12 || got.InsecureSkipVerify || (got.RootCAs != nil) != tt.wantCAs || got.ServerName != tt.wantServerName {
				t.Errorf("MinVersion %x, InsecureSkipVerify %v, CA file's CAs %v, ServerName %q; want TLS 1.2, a check, %v, %q",
					got.MinVersion, got.InsecureSkipVerify, got.RootCAs != nil, got.ServerName, tt.wantCAs, tt.wantServerName)
			}
		})
	}
}

// TestMainRefusesUncheckedTLS: a setting that would skip or break the check
// of Redis's certificate stops start-up with one line that names it, status
// 2, and no secret.
func TestMainRefusesUncheckedTLS(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"REDIS_URL=rediss://:hunter2@127.0.0.1:6380/0?skip_verify=true"}, `pingpong: invalid REDIS_URL="(hidden)": `},
		{[]string{"REDIS_URL=rediss://:hunter2@127.0.0.1:6380/0?skip_verify=1"}, `pingpong: invalid REDIS_URL="(hidden)": `},
		{[]string{"REDIS_URL=rediss://127.0.0.1:6380", "REDIS_TLS_CA_FILE=/does/not/exist"}, `pingpong: invalid REDIS_TLS_CA_FILE="/does/not/exist": want the path of a readable PEM file`},
		{[]string{"REDIS_URL=rediss://127.0.0.1:6380", "REDIS_TLS_CA_FILE=" + t.TempDir()}, `pingpong: invalid REDIS_TLS_CA_FILE=`},
		{[]string{"REDIS_URL=rediss://127.0.0.1:6380", "REDIS_TLS_CA_FILE=" + writeFile(t, "not a certificate\n")}, `pingpong: invalid REDIS_TLS_CA_FILE=`},
		{[]string{"REDIS_URL=redis://127.0.0.1:6379", "REDIS_TLS_CA_FILE=" + redistest.NewCerts(t).CAFile}, `pingpong: invalid REDIS_TLS_CA_FILE=`},
		{[]string{"REDIS_TLS=true"}, `pingpong: invalid REDIS_TLS="true"`},
		{[]string{"REDIS_ADDR=127.0.0.1:6379", "REDIS_TLS=yes"}, `pingpong: invalid REDIS_TLS="yes": want true or false`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, " "), func(t *testing.T) {
			// count opens no port, should the settings be accepted after all.
			code, stderr := runMain(t, tt.env, "count")
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) {
				t.Errorf("stderr = %q, want one line starting with %q", stderr, tt.want)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("the password leaked into the error: %q", stderr)
			}
		})
	}
}
