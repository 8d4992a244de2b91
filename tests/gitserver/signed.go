package gitserver

import (
	"context"
	"fmt"
	"strings"
)

// Signer signs the payload of a commit or tag (the object without its
// signature, as Git signs it) and returns the armored signature: an
// OpenPGP "-----BEGIN PGP SIGNATURE-----" block or an SSHSIG
// "-----BEGIN SSH SIGNATURE-----" block in the "git" namespace. Tests make
// one from a generated key; a Signer that signs other bytes than it is
// given makes a signature that does not verify.
type Signer func(payload []byte) ([]byte, error)

// SignHead replaces the head commit of the current branch with the same
// commit signed by sign, as `git commit --amend -S` would, and returns the
// new commit's id. The unsigned commit stays in the object store,
// unreachable.
func (r *Repo) SignHead(ctx context.Context, sign Signer) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.head(ctx)
	if err != nil {
		return "", err
	}
	payload, err := r.run(ctx, nil, nil, "cat-file", "commit", head)
	if err != nil {
		return "", err
	}
	sig, err := sign([]byte(payload))
	if err != nil {
		return "", fmt.Errorf("repo %s: sign commit: %w", r.name, err)
	}
	// The signature is a header after the others: "gpgsig" and its lines,
	// each continuation line indented by one space.
	headers, message, ok := strings.Cut(payload, "\n\n")
	if !ok {
		return "", fmt.Errorf("repo %s: commit %s has no message separator", r.name, head)
	}
	lines := strings.Split(strings.TrimRight(string(sig), "\n"), "\n")
	signed := headers + "\ngpgsig " + strings.Join(lines, "\n ") + "\n\n" + message
	id, err := r.run(ctx, strings.NewReader(signed), nil, "hash-object", "-t", "commit", "-w", "--stdin")
	if err != nil {
		return "", err
	}
	id = strings.TrimSpace(id)
	if _, err := r.run(ctx, nil, nil, "update-ref", "refs/heads/"+r.branch, id, head); err != nil {
		return "", err
	}
	return id, nil
}

// SignedTag creates the annotated tag name with message msg at the current
// branch's head, signed by sign (the signature follows the message, as
// `git tag -s` writes it), and returns the tag object's id.
func (r *Repo) SignedTag(ctx context.Context, name, msg string, sign Signer) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	head, err := r.head(ctx)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	payload := fmt.Sprintf("object %s\ntype commit\ntag %s\ntagger %s\n\n%s", head, name, r.nextIdent(), msg)
	sig, err := sign([]byte(payload))
	if err != nil {
		return "", fmt.Errorf("repo %s: sign tag %s: %w", r.name, name, err)
	}
	id, err := r.run(ctx, strings.NewReader(payload+string(sig)), nil, "hash-object", "-t", "tag", "-w", "--stdin")
	if err != nil {
		return "", err
	}
	id = strings.TrimSpace(id)
	// The empty old value makes update-ref refuse an existing tag.
	if _, err := r.run(ctx, nil, nil, "update-ref", "refs/tags/"+name, id, ""); err != nil {
		return "", err
	}
	return id, nil
}
