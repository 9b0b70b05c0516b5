package v1alpha1

import (
	"strings"
	"testing"
	"time"
)

func TestValidateHost(t *testing.T) {
	ok := Defaults()
	ok.NodeName = "n"
	ok.IPVSTCPTimeout, ok.IPVSTCPFinTimeout, ok.IPVSUDPTimeout = 900*time.Second, 0, time.Minute
	ok.DrainTimeout = time.Hour
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	if Defaults().DrainCheckPeriod <= 0 || Defaults().IPv6Forwarding || Defaults().StrictARP {
		t.Errorf("defaults: %+v", Defaults())
	}
	bad := ok
	bad.IPVSTCPTimeout = 1500 * time.Millisecond
	bad.IPVSUDPTimeout = -time.Second
	bad.DrainTimeout = -time.Second
	bad.DrainCheckPeriod = -time.Second
	err := bad.Validate()
	for _, want := range []string{"ipvsTCPTimeout: 1.5s", "ipvsUDPTimeout: -1s", "drainTimeout: -1s", "drainCheckPeriod: -1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to name %q", err, want)
		}
	}
}
