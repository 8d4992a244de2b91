package sops

import (
	"errors"
	"fmt"
)

// SOPS splits the data key of a file with more than one key group by
// Shamir's secret sharing, byte by byte, over GF(2^8) with the AES
// polynomial x^8+x^4+x^3+x+1: each byte of the key is the constant term of
// a random polynomial of degree threshold-1, and a group's share holds the
// polynomial's values at one x, followed by that x as its last byte.
// Combining evaluates the Lagrange interpolation of the shares at x = 0.

// gfMul multiplies in GF(2^8) without branching on its operands.
func gfMul(a, b byte) byte {
	var p byte
	for i := 7; i >= 0; i-- {
		// Double p (reducing by the polynomial when its top bit falls
		// off), then add a when bit i of b is set.
		p = (p << 1) ^ (-(p >> 7) & 0x1b)
		p ^= -(b >> uint(i) & 1) & a
	}
	return p
}

// gfInv returns a^254, the inverse of a non-zero a (the multiplicative
// group has 255 elements).
func gfInv(a byte) byte {
	r := byte(1)
	for range 254 {
		r = gfMul(r, a)
	}
	return r
}

// combineShares rebuilds a secret from shares of equal length, each ending
// in its distinct, non-zero x coordinate. Any number of shares at or above
// the threshold gives the same secret; fewer give a wrong one, which the
// file's MAC then refuses.
func combineShares(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, errors.New("key groups: at least two shares are needed")
	}
	n := len(shares[0])
	if n < 2 {
		return nil, errors.New("key groups: a share is too short")
	}
	xs := make([]byte, len(shares))
	seen := map[byte]bool{}
	for i, s := range shares {
		if len(s) != n {
			return nil, fmt.Errorf("key groups: shares have different lengths (%d and %d bytes)", n, len(s))
		}
		x := s[n-1]
		if x == 0 || seen[x] {
			return nil, errors.New("key groups: two shares have the same x coordinate, or one is zero")
		}
		seen[x] = true
		xs[i] = x
	}
	// The Lagrange basis at 0 for share i is the product over j != i of
	// x_j / (x_j - x_i); subtraction is XOR.
	basis := make([]byte, len(shares))
	for i := range shares {
		num, den := byte(1), byte(1)
		for j := range shares {
			if i != j {
				num = gfMul(num, xs[j])
				den = gfMul(den, xs[j]^xs[i])
			}
		}
		basis[i] = gfMul(num, gfInv(den))
	}
	secret := make([]byte, n-1)
	for k := range secret {
		var v byte
		for i, s := range shares {
			v ^= gfMul(s[k], basis[i])
		}
		secret[k] = v
	}
	return secret, nil
}
