package natsconf

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPasswordIsBcrypt(t *testing.T) {
	for _, pw := range []string{"a", "Correct-Horse-Battery-Staple-22", strings.Repeat("x", 72), "pässwörd\"'$`\\"} {
		h, err := HashPassword(pw, "stack-seed", "APP/app", 4)
		if err != nil {
			t.Fatal(err)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)); err != nil {
			t.Errorf("x/crypto rejects our hash of %q: %v", pw, err)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("X"+pw)); err == nil {
			t.Errorf("hash of %q accepts a different password", pw)
		}
		if cost, _ := bcrypt.Cost([]byte(h)); cost != 4 {
			t.Errorf("cost = %d, want 4", cost)
		}
	}
}

func TestHashPasswordDeterministicAndSalted(t *testing.T) {
	a, _ := HashPassword("same-password", "seed-1", "$SYS/admin", 4)
	b, _ := HashPassword("same-password", "seed-1", "$SYS/admin", 4)
	if a != b {
		t.Fatalf("same inputs, different hashes: %s vs %s", a, b)
	}
	c, _ := HashPassword("same-password", "seed-2", "$SYS/admin", 4)
	d, _ := HashPassword("same-password", "seed-1", "APP/admin", 4)
	if a == c || a == d || c == d {
		t.Fatalf("salt does not depend on seed and identity: %s %s %s", a, c, d)
	}
	// The salt never depends on the password: two passwords, one identity, one salt.
	e, _ := HashPassword("other-password", "seed-1", "$SYS/admin", 4)
	if a[:29] != e[:29] {
		t.Fatalf("salt changed with the password: %s vs %s", a[:29], e[:29])
	}
}

func TestHashPasswordRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		pw, seed string
		cost     int
	}{
		"empty password": {"", "s", 4},
		"too long":       {strings.Repeat("x", 73), "s", 4},
		"no seed":        {"p", "", 4},
		"cost too low":   {"p", "s", 3},
		"cost too high":  {"p", "s", 17},
	} {
		if _, err := HashPassword(tc.pw, tc.seed, "id", tc.cost); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The cache returns what hashing returns, and inputs that only differ in
// where one field ends and the next begins do not share an entry.
func TestHashPasswordCache(t *testing.T) {
	direct, err := hashPassword("pw-cache", "ab", "c", 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if h, _ := HashPassword("pw-cache", "ab", "c", 4); h != direct {
			t.Fatalf("call %d: cached hash %s, direct %s", i, h, direct)
		}
	}
	shifted, _ := HashPassword("pw-cache", "a", "bc", 4)
	if shifted == direct {
		t.Fatal("seed/identity boundary not part of the cache key")
	}
	if want, _ := hashPassword("pw-cache", "a", "bc", 4); shifted != want {
		t.Fatal("cache returned another input's hash")
	}
}
