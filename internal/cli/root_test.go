package cli

import (
	"reflect"
	"testing"
)

func TestFollowAlias(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"logs", "web", "-f"}, []string{"logs", "web", "--follow"}},
		{[]string{"-f", "shop.yaml", "logs", "web", "-f", "--tail", "5"}, []string{"-f", "shop.yaml", "logs", "web", "--follow", "--tail", "5"}},
		{[]string{"--file", "logs", "status"}, []string{"--file", "logs", "status"}},
		{[]string{"deploy", "-f", "x.yaml"}, []string{"deploy", "-f", "x.yaml"}},
		{[]string{"logs", "--", "-f"}, []string{"logs", "--", "-f"}},
	}
	for _, tc := range cases {
		if got := followAlias(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("followAlias(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	names := []string{"auth", "catalog", "orders"}
	if got := didYouMean("catalgo", names); got != ` (did you mean "catalog"?)` {
		t.Errorf("near miss: %q", got)
	}
	if got := didYouMean("zzz", names); got != " (services: auth, catalog, orders)" {
		t.Errorf("far miss: %q", got)
	}
}
