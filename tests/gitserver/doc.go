// Package gitserver runs a real Git server inside a test process: smart HTTP and
// HTTPS through the installed `git http-backend`, and SSH through
// golang.org/x/crypto/ssh running the installed `git upload-pack` and
// `git receive-pack`. Tests clone, fetch and push to it with any Git client.
//
// A Server serves the bare repositories under one root directory. Repos are
// created with Server.CreateRepo and authored with Repo.Commit and friends,
// which write straight into the bare repository with `git fast-import` and
// `git update-ref` (no working clone and no push), so that creating a repo with
// a few commits costs a few milliseconds and a commit of ten thousand files
// well under a second.
//
// Authentication follows Options: HTTP basic and bearer tokens are each
// optional; SSH always requires public-key authentication with the key from
// Server.ClientKey or one of Options.AuthorizedKeys. The SSH host key is derived
// from a fixed seed, so a known_hosts line stays the same across runs except
// for the port.
//
// SSH URLs are given in the ssh:// form only (Server.SSHURL): the scp-like form
// `git@host:repo.git` has no place for a port, and the server never listens on
// port 22. Tests of scp-like URL parsing do not need a server; tests that need
// one connect with the ssh:// form, or with Server.SSHAddr and their own
// configuration.
package gitserver
