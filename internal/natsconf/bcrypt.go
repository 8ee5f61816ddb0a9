package natsconf

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/blowfish"
)

// bcrypt in golang.org/x/crypto always draws a fresh random salt, so the same
// password would hash differently on every render and every `pulumi up` would
// show a diff and restart the cluster. This file implements the same algorithm
// (OpenBSD bcrypt, version 2a, as x/crypto/bcrypt does) with a salt derived from
// a per-stack secret and the user's identity — never from the password itself.
// Tests prove every hash with bcrypt.CompareHashAndPassword and by logging in
// to a real nats-server.

// DefaultBcryptCost is the work factor of the hashes in nats.conf, as in the seed.
const DefaultBcryptCost = 11

const (
	minBcryptCost = 4
	maxBcryptCost = 16 // higher costs make every client login take seconds
	// maxBcryptPassword is bcrypt's input limit; longer passwords are rejected, not truncated.
	maxBcryptPassword = 72
)

var bcryptEncoding = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// "OrpheanBeholderScryDoubt", the text bcrypt encrypts.
var bcryptMagic = []byte("OrpheanBeholderScryDoubt")

// deriveSalt returns the 16-byte bcrypt salt for one identity.
func deriveSalt(seed, identity string) []byte {
	mac := hmac.New(sha256.New, []byte(seed))
	mac.Write([]byte("natsnest bcrypt salt\x00"))
	mac.Write([]byte(identity))
	return mac.Sum(nil)[:16]
}

// hashCache remembers recent hashes: every node of a cluster renders the
// same users, and bcrypt is deliberately slow (an 11-node deploy spent
// seconds of CPU hashing the same passwords again). Keyed by a digest of the
// inputs, so no plaintext is kept; bounded, as fuzzing renders many inputs.
var hashCache = struct {
	sync.Mutex
	m map[[32]byte]string
}{m: map[[32]byte]string{}}

const hashCacheMax = 1024

// HashPassword returns a bcrypt hash of password with the given cost and a salt
// derived from seed and identity. Identical inputs give identical hashes.
func HashPassword(password, seed, identity string, cost int) (string, error) {
	key := sha256.Sum256([]byte(fmt.Sprintf("%d\x00%d:%s\x00%d:%s\x00%s", cost, len(seed), seed, len(identity), identity, password)))
	hashCache.Lock()
	h, ok := hashCache.m[key]
	hashCache.Unlock()
	if ok {
		return h, nil
	}
	h, err := hashPassword(password, seed, identity, cost)
	if err != nil {
		return "", err
	}
	hashCache.Lock()
	if len(hashCache.m) >= hashCacheMax {
		clear(hashCache.m)
	}
	hashCache.m[key] = h
	hashCache.Unlock()
	return h, nil
}

func hashPassword(password, seed, identity string, cost int) (string, error) {
	if password == "" {
		return "", errors.New("password is empty")
	}
	if len(password) > maxBcryptPassword {
		return "", fmt.Errorf("password is longer than bcrypt's %d bytes", maxBcryptPassword)
	}
	if seed == "" {
		return "", errors.New("hash seed is empty")
	}
	if cost < minBcryptCost || cost > maxBcryptCost {
		return "", fmt.Errorf("bcrypt cost %d is outside %d..%d", cost, minBcryptCost, maxBcryptCost)
	}
	salt := deriveSalt(seed, identity)
	// C implementations expand the key including its trailing NUL; so does x/crypto.
	key := append([]byte(password), 0)
	c, err := blowfish.NewSaltedCipher(key, salt)
	if err != nil {
		return "", err
	}
	for i := uint64(0); i < 1<<uint(cost); i++ {
		blowfish.ExpandKey(key, c)
		blowfish.ExpandKey(salt, c)
	}
	data := make([]byte, len(bcryptMagic))
	copy(data, bcryptMagic)
	for i := 0; i < len(data); i += 8 {
		for j := 0; j < 64; j++ {
			c.Encrypt(data[i:i+8], data[i:i+8])
		}
	}
	// Only 23 of the 24 bytes are encoded, for compatibility with C bcrypt.
	return fmt.Sprintf("$2a$%02d$%s%s", cost, bcryptEncoding.EncodeToString(salt), bcryptEncoding.EncodeToString(data[:23])), nil
}
