package manifests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// A Sentinel that restarts after the Secret's password changed must start with the new one:
// redis-ha.sh writes sentinel.conf at the first start only (Sentinel keeps what it learns in it),
// so the password lines must be set again at every start. The test runs the script's sentinel
// start, with real redis-server and redis-sentinel on loopback, against a sentinel.conf that a
// Sentinel started with the old password left behind, and a Redis that has the new one: the
// Sentinel must accept the new password and see the master up. The control: the old password
// is refused by the same Sentinel, so the check can tell them apart.
func TestRedisHASentinelRereadsThePassword(t *testing.T) {
	redisServer := harness.Require(t, "redis-server")
	redisCLI := harness.Require(t, "redis-cli")
	const oldPassword, newPassword = "old-password-0123456789", "new-password-9876543210"
	dir := t.TempDir()
	redisPort, sentinelPort := harness.FreePort(t), harness.FreePort(t)

	harness.Start(t, nil, redisServer, "--port", fmt.Sprint(redisPort), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--requirepass", newPassword)

	// What a Sentinel started with the old password leaves: its own lines, rewritten.
	conf := filepath.Join(dir, "sentinel.conf")
	old := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
sentinel monitor pingpong 127.0.0.1 %d 2
sentinel down-after-milliseconds pingpong 1000
sentinel auth-pass pingpong %s
requirepass %s
sentinel myid 0123456789abcdef0123456789abcdef01234567
`, sentinelPort, dir, redisPort, oldPassword, oldPassword)
	if err := os.WriteFile(conf, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}

	// Stand-ins for what only a pod has: its host name, and the other pods' Sentinels (none
	// answers, and the master "answers" at once, so the script starts without waiting).
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, script := range map[string]string{
		"hostname":  "#!/bin/sh\necho redis-ha-0\n",
		"redis-cli": "#!/bin/sh\necho PONG\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"PATH=" + bin + ":" + filepath.Dir(redisServer) + ":/usr/bin:/bin",
		"SENTINEL_CONF=" + conf,
		"REDIS_PASSWORD=" + newPassword,
		"REDISCLI_AUTH=" + newPassword,
	}
	sentinel := harness.Start(t, env, "sh", repoPath(t, "k8s", "redis-ha", "redis-ha.sh"), "sentinel")

	ask := func(password string, args ...string) (string, error) {
		cmd := exec.Command(redisCLI, append([]string{"-p", fmt.Sprint(sentinelPort), "--no-auth-warning", "-a", password}, args...)...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	var reply string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if reply, _ = ask(newPassword, "ping"); reply == "PONG" {
			break
		}
	}
	if reply != "PONG" {
		t.Fatalf("the restarted Sentinel does not accept the new password: %q\n%s", reply, sentinel.Output())
	}
	if reply, _ := ask(oldPassword, "ping"); reply == "PONG" {
		t.Fatalf("the control: the Sentinel accepts the old password too, so the check proves nothing")
	}
	// The Sentinel reaches the master with the new password: after more than down-after-milliseconds,
	// the master is still just "master", not subjectively down.
	time.Sleep(2500 * time.Millisecond)
	flags, err := ask(newPassword, "--raw", "sentinel", "master", "pingpong")
	if err != nil {
		t.Fatalf("sentinel master: %v: %s", err, flags)
	}
	fields := strings.Split(flags, "\n")
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == "flags" {
			if fields[i+1] != "master" {
				t.Fatalf("the Sentinel sees the master as %q, want master: it does not get in with the new password", fields[i+1])
			}
			t.Logf("the restarted Sentinel accepts the new password, refuses the old one, and sees the master up")
			return
		}
	}
	t.Fatalf("no flags in %q", flags)
}
