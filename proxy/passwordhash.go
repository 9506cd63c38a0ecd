package proxy

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	htpasswd "github.com/tg123/go-htpasswd"
	"golang.org/x/crypto/bcrypt"
)

const (
	// maxBcryptCost is the highest bcrypt cost accepted (Apache's limit).
	// A higher one is a typo or an attack on the server: cost 31 takes
	// days per check, and every check pays the dearest line of the file.
	maxBcryptCost = 17
	// maxShaCryptRounds bounds SHA-crypt for the same reason; Apache's
	// htpasswd writes 5000 unless told otherwise.
	maxShaCryptRounds = 1_000_000
)

// passwordHash is one line's password hash, checked by go-htpasswd.
type passwordHash struct {
	hash string // as written, to tell a changed line on reload
	// class is the scheme and its cost: two hashes of one class cost the
	// same to check, whatever the password.
	class string
	htpasswd.EncodedPasswd
}

var (
	// The formats that crypt(3) and Apache write, checked in full before
	// the library sees them: a malformed salt made its SHA-crypt panic.
	md5CryptRE = regexp.MustCompile(`^\$(apr1|1)\$[./0-9A-Za-z]{1,8}\$[./0-9A-Za-z]{22}$`)
	shaCryptRE = regexp.MustCompile(`^\$([56])\$(?:rounds=([0-9]{1,9})\$)?[./0-9A-Za-z]{1,16}\$([./0-9A-Za-z]+)$`)
	desCryptRE = regexp.MustCompile(`^[./0-9A-Za-z]{13}$`)

	errDESCrypt = errors.New("DES crypt (htpasswd -d) uses only the first 8 characters of a password and is not supported: make the line again with htpasswd -B")
	errUnknown  = errors.New("unsupported hash format: make the line with htpasswd -B (bcrypt)")
)

// parsePasswordHash reads the hash of an htpasswd line: bcrypt, MD5
// ($apr1$, Apache's default, and $1$), SHA-crypt ($5$, $6$), {SHA} and
// {SSHA}. Its errors never quote the hash, which is a secret too.
func parsePasswordHash(hash string) (*passwordHash, error) {
	var (
		class string
		parse htpasswd.PasswdParser
	)
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return nil, errors.New("malformed bcrypt hash")
		}
		if cost > maxBcryptCost {
			return nil, fmt.Errorf("bcrypt cost %d is above %d", cost, maxBcryptCost)
		}
		class, parse = fmt.Sprintf("bcrypt-%02d", cost), htpasswd.AcceptBcrypt
	case strings.HasPrefix(hash, "$apr1$"), strings.HasPrefix(hash, "$1$"):
		m := md5CryptRE.FindStringSubmatch(hash)
		if m == nil {
			return nil, errors.New("malformed MD5 hash")
		}
		class, parse = "md5-"+m[1], htpasswd.AcceptMd5
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		var err error
		if class, err = shaCryptClass(hash); err != nil {
			return nil, err
		}
		parse = htpasswd.AcceptCryptSha
	case strings.HasPrefix(hash, "{SHA}"):
		class, parse = "sha1", htpasswd.AcceptSha
	case strings.HasPrefix(hash, "{SSHA}"):
		class, parse = "ssha1", htpasswd.AcceptSsha
	case desCryptRE.MatchString(hash):
		return nil, errDESCrypt
	default:
		return nil, errUnknown
	}
	pw, err := parse(hash)
	if err != nil || pw == nil {
		return nil, fmt.Errorf("malformed %s hash", class)
	}
	return &passwordHash{hash: hash, class: class, EncodedPasswd: pw}, nil
}

// shaCryptClass checks a SHA-crypt hash and names its class by its rounds.
func shaCryptClass(hash string) (string, error) {
	m := shaCryptRE.FindStringSubmatch(hash)
	size := map[string]int{"5": 43, "6": 86}
	if m == nil || len(m[3]) != size[m[1]] {
		return "", errors.New("malformed SHA-crypt hash")
	}
	rounds := 5000
	if m[2] != "" {
		rounds, _ = strconv.Atoi(m[2]) // nine digits at most: no overflow
		// crypt(3) clamps rounds below 1000; the library would make a
		// hash of other rounds than written, so refuse the line.
		if rounds < 1000 || rounds > maxShaCryptRounds {
			return "", fmt.Errorf("SHA-crypt rounds %d outside 1000 to %d", rounds, maxShaCryptRounds)
		}
	}
	return fmt.Sprintf("sha%s-crypt-%d", map[string]string{"5": "256", "6": "512"}[m[1]], rounds), nil
}
