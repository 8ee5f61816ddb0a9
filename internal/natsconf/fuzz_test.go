package natsconf

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// FuzzRenderServerConfig feeds hostile strings into every free-text field of
// the model. Whatever it is given, the renderer either refuses the input with
// an error, or renders a config that nats-server loads with exactly the
// intended values — so no input can inject configuration.
func FuzzRenderServerConfig(f *testing.F) {
	for _, seed := range [][4]string{
		{"nats-1", "az:zone", "app", "password"},
		{"n\"1", "a\"b", "u\\ser", "p\"w"},
		{"x", "}\ninclude \"/etc/passwd\"\n{", "user\n  pass: x", "$VAR"},
		{"server_name", "tag\x00", "ü", "\r\n"},
		{"a}", "routes: [nats://evil:4248]", "admin", "{"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, name, tag, user, password string) {
		s := testTemplate(4)
		s.Cluster.Routes = []Route{{Host: "10.0.0.1", Port: 4248}, {Host: "10.0.0.2", Port: 4248}}
		s.Name = name
		s.Tags = []string{tag}
		s.Accounts[0].Users[0] = User{Name: user, Password: password}
		files, err := RenderServerConfig(s)
		if err != nil {
			return // refused: fine, as long as nothing was rendered
		}
		o := writeAndLoad(t, files)
		if o.ServerName != name {
			t.Fatalf("server_name %q loaded as %q", name, o.ServerName)
		}
		if len(o.Tags) != 1 || o.Tags[0] != strings.ToLower(tag) {
			t.Fatalf("tag %q loaded as %q", tag, o.Tags)
		}
		if len(o.Users) != 2 {
			t.Fatalf("want the admin and one user, nats-server loaded %d users", len(o.Users))
		}
		found := false
		for _, u := range o.Users {
			if u.Username == user && u.Account == "APP" {
				found = bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(password)) == nil
			}
		}
		if !found {
			t.Fatalf("user %q with its password not loaded as given", user)
		}
		if len(o.Routes) != 2 || o.Cluster.Name != s.Cluster.Name {
			t.Fatalf("cluster changed: %d routes, name %q", len(o.Routes), o.Cluster.Name)
		}
		if password != "" && strings.Contains(files.Config+files.Routes, password) && len(password) > 3 && !strings.Contains(renderPlainFor(t, s), password) {
			t.Fatalf("password %q appears in plaintext", password)
		}
	})
}

// renderPlainFor renders s with a neutral password, so a "leak" that is really
// just a substring of the surrounding config (e.g. password "user") is told
// apart from the password itself appearing.
func renderPlainFor(t *testing.T, s Server) string {
	s.Accounts = append([]Account(nil), s.Accounts...)
	s.Accounts[0].Users = []User{{Name: s.Accounts[0].Users[0].Name, Password: "neutral-password"}}
	f, err := RenderServerConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	return f.Config + f.Routes
}
