package harness

import "testing"

func TestListeningOn(t *testing.T) {
	for _, tc := range []struct {
		name, logs      string
		addr, adminAddr string
		found           bool
	}{
		{
			name: "the line among others",
			logs: `{"level":"WARN","msg":"no REDIS_URL or REDIS_ADDR set"}` + "\n" +
				`{"level":"INFO","msg":"listening","addr":"[::]:41234","admin_addr":"[::]:39001","version":"e2e"}` + "\n" +
				`{"level":"INFO","msg":"request","path":"/ping"}` + "\n",
			addr: "127.0.0.1:41234", adminAddr: "127.0.0.1:39001", found: true,
		},
		{name: "an IPv4 listener", logs: `{"msg":"listening","addr":"0.0.0.0:5000","admin_addr":"0.0.0.0:9797"}`,
			addr: "127.0.0.1:5000", adminAddr: "127.0.0.1:9797", found: true},
		{name: "not yet", logs: `{"msg":"connecting"}` + "\n"},
		{name: "what LOG_LEVEL=warn lets through", logs: `{"level":"WARN","msg":"no REDIS_URL or REDIS_ADDR set"}` + "\n"},
		{name: "a line cut short", logs: `{"msg":"listening","addr":"[::]:41`},
		{name: "no admin address", logs: `{"msg":"listening","addr":"[::]:41234"}` + "\n"},
		{name: "not JSON", logs: "listening on :5000\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, adminAddr, found := listeningOn(tc.logs)
			if addr != tc.addr || adminAddr != tc.adminAddr || found != tc.found {
				t.Errorf("listeningOn = %q, %q, %v; want %q, %q, %v", addr, adminAddr, found, tc.addr, tc.adminAddr, tc.found)
			}
		})
	}
}

func TestHidesListening(t *testing.T) {
	for _, tc := range []struct {
		env    []string
		hidden bool
	}{
		{[]string{"LOG_LEVEL=info", "PORT=0"}, false},
		{[]string{"LOG_LEVEL=info", "LOG_LEVEL=debug"}, false},
		{[]string{"LOG_LEVEL=info", "LOG_LEVEL=warn"}, true},
		{[]string{"LOG_LEVEL=info", "LOG_LEVEL=ERROR"}, true},
		{[]string{"LOG_LEVEL=warn", "LOG_LEVEL=info"}, false},
		{[]string{"REDIS_ADDR=127.0.0.1:6379"}, false},
	} {
		if _, hidden := hidesListening(tc.env); hidden != tc.hidden {
			t.Errorf("hidesListening(%q) = %v, want %v", tc.env, hidden, tc.hidden)
		}
	}
}
