package v1alpha1

import (
	"strings"
	"testing"
)

func TestTakeoverDefaultAndValidate(t *testing.T) {
	c := Defaults()
	c.NodeName = "node-a"
	if c.Takeover != TakeoverAuto {
		t.Errorf("default takeover = %q, want %q", c.Takeover, TakeoverAuto)
	}
	for _, v := range []string{TakeoverAuto, TakeoverOff} {
		c.Takeover = v
		if err := c.Validate(); err != nil {
			t.Errorf("takeover %q: %v", v, err)
		}
	}
	c.Takeover = "always"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `takeover: "always"`) {
		t.Errorf("takeover always: %v", err)
	}
}
