package sopstest

import (
	"crypto/rand"
	"errors"
)

// Shamir's secret sharing as SOPS splits a data key: per byte, a random
// polynomial over GF(2^8) (AES polynomial) with the byte as its constant
// term, evaluated at x = 1..n; each share is the values followed by its x.
// Multiplication here goes through log and exp tables of the generator 3,
// unlike package sops's, so that a mistake in either shows.

var gfExp, gfLog = func() (exp [510]byte, log [256]byte) {
	x := byte(1)
	for i := range 255 {
		exp[i], exp[i+255] = x, x
		log[x] = byte(i)
		// x *= 3: x*2 reduced, plus x.
		x2 := x << 1
		if x&0x80 != 0 {
			x2 ^= 0x1b
		}
		x ^= x2
	}
	return exp, log
}()

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

func split(secret []byte, n, threshold int) ([][]byte, error) {
	if threshold < 2 || threshold > n || n > 255 {
		return nil, errors.New("sopstest: bad Shamir threshold or group count")
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][len(secret)] = byte(i + 1)
	}
	coef := make([]byte, threshold)
	for k, b := range secret {
		coef[0] = b
		if _, err := rand.Read(coef[1:]); err != nil {
			return nil, err
		}
		for i := range shares {
			x, y, xp := byte(i+1), byte(0), byte(1)
			for _, c := range coef {
				y ^= gfMul(c, xp)
				xp = gfMul(xp, x)
			}
			shares[i][k] = y
		}
	}
	return shares, nil
}
