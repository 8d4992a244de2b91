package notify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// commitStatus sets the status of the applied commit on a forge: success
// when the run succeeded, failure when it failed, with the context
// gitsync/NAMESPACE/NAME so that each sync has its own check. The address
// is the repository's web URL (https://github.com/org/repo); the API is
// found from it as the forge's own tools do.
type commitStatus struct{ forge forge }

// forge builds the request of one forge's commit status API.
type forge func(repo *url.URL, path, sha, token, context, description string, failed bool) (request, error)

// StatusContext is the context (GitHub, Gitea), name (GitLab) or key
// (Bitbucket) of a sync's commit status.
func StatusContext(namespace, sync string) string { return "gitsync/" + namespace + "/" + sync }

var commitRE = regexp.MustCompile(`(?:^|[@:])([0-9a-f]{40})$`)

// Commit returns the Git commit a revision names (main@sha1:<hex>,
// sha1:<hex>, <hex>), or "".
func Commit(revision string) string {
	m := commitRE.FindStringSubmatch(revision)
	if m == nil {
		return ""
	}
	return m[1]
}

func (c commitStatus) requests(p *Provider, e *Event) ([]request, error) {
	sha := Commit(e.Revision)
	if sha == "" {
		return nil, &skipError{"the revision is not a Git commit"}
	}
	if p.Token == "" {
		return nil, errNoToken("the forge's API token")
	}
	u, err := url.Parse(p.Address)
	if err != nil {
		return nil, errors.New("the address is not a repository URL")
	}
	path := strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	if strings.Count(path, "/") < 1 {
		return nil, errors.New("the address must be the repository's URL: https://HOST/OWNER/REPO")
	}
	desc := e.Message
	if e.Reason != ReasonFailed {
		desc = "applied " + e.Revision
	}
	context := StatusContext(e.Namespace, e.Sync)
	if e.Involved != nil {
		// A Flux unit's status is its own check, beside the sync's.
		context += "/" + strings.ToLower(e.Involved.Kind) + "/" + e.Involved.Name
	}
	r, err := c.forge(u, path, sha, p.Token, context, cut(desc, 140), e.Reason == ReasonFailed)
	if err != nil {
		return nil, err
	}
	return []request{r}, nil
}

// githubDispatch sends a repository_dispatch event to a GitHub
// repository, as Flux's githubdispatch provider, so that a workflow runs
// on it: event_type is KIND/NAME.NAMESPACE of the sync or unit, and
// client_payload the generic provider's JSON. The address is the
// repository's URL; a token is required.
type githubDispatch struct{}

// DispatchPayload is the JSON body of the githubdispatch provider.
type DispatchPayload struct {
	EventType     string         `json:"event_type"`
	ClientPayload GenericPayload `json:"client_payload"`
}

func (githubDispatch) requests(p *Provider, e *Event) ([]request, error) {
	if p.Token == "" {
		return nil, errNoToken("a GitHub token")
	}
	u, err := url.Parse(p.Address)
	path := ""
	if err == nil {
		path = strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	}
	if err != nil || strings.Count(path, "/") != 1 {
		return nil, errors.New("the address must be the repository's URL: https://HOST/OWNER/REPO")
	}
	base := apiBase(u) + "/api/v3"
	if u.Host == "github.com" {
		base = "https://api.github.com"
	}
	payload := genericPayload(e)
	o := payload.InvolvedObject
	body, err := json.Marshal(DispatchPayload{EventType: o.Kind + "/" + o.Name + "." + o.Namespace, ClientPayload: payload})
	if err != nil {
		return nil, err
	}
	return []request{{method: http.MethodPost, url: base + "/repos/" + path + "/dispatches", body: body,
		header: http.Header{"Authorization": {"Bearer " + p.Token}, "Accept": {"application/vnd.github+json"}}}}, nil
}

// apiBase is scheme://host of the repository URL.
func apiBase(u *url.URL) string { return u.Scheme + "://" + u.Host }

// github: POST /repos/OWNER/REPO/statuses/SHA on api.github.com, or on
// HOST/api/v3 for GitHub Enterprise Server.
func github(u *url.URL, path, sha, token, context, desc string, failed bool) (request, error) {
	base := apiBase(u) + "/api/v3"
	if u.Host == "github.com" {
		base = "https://api.github.com"
	}
	state := map[bool]string{false: "success", true: "failure"}[failed]
	return statusRequest(base+"/repos/"+path+"/statuses/"+sha,
		map[string]string{"state": state, "context": context, "description": desc},
		http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/vnd.github+json"}})
}

// gitlab: POST /api/v4/projects/URL-ENCODED-PATH/statuses/SHA.
func gitlab(u *url.URL, path, sha, token, context, desc string, failed bool) (request, error) {
	state := map[bool]string{false: "success", true: "failed"}[failed]
	return statusRequest(apiBase(u)+"/api/v4/projects/"+url.PathEscape(path)+"/statuses/"+sha,
		map[string]string{"state": state, "name": context, "description": desc},
		http.Header{"Private-Token": {token}})
}

// gitea (and Forgejo): POST /api/v1/repos/OWNER/REPO/statuses/SHA.
func gitea(u *url.URL, path, sha, token, context, desc string, failed bool) (request, error) {
	state := map[bool]string{false: "success", true: "failure"}[failed]
	return statusRequest(apiBase(u)+"/api/v1/repos/"+path+"/statuses/"+sha,
		map[string]string{"state": state, "context": context, "description": desc},
		http.Header{"Authorization": {"token " + token}})
}

// bitbucket (Cloud): POST /2.0/repositories/OWNER/REPO/commit/SHA/statuses/build
// on api.bitbucket.org (on HOST/2.0 for any other host), with the token
// USER:APP_PASSWORD as basic authentication, as Flux's.
func bitbucket(u *url.URL, path, sha, token, context, desc string, failed bool) (request, error) {
	user, pass, ok := strings.Cut(token, ":")
	if !ok {
		return request{}, errors.New("the bitbucket token must be USERNAME:APP_PASSWORD")
	}
	base := apiBase(u) + "/2.0"
	if u.Host == "bitbucket.org" {
		base = "https://api.bitbucket.org/2.0"
	}
	key := bitbucketKey(context)
	state := map[bool]string{false: "SUCCESSFUL", true: "FAILED"}[failed]
	repoURL := apiBase(u) + "/" + path
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return statusRequest(base+"/repositories/"+path+"/commit/"+sha+"/statuses/build",
		map[string]string{"state": state, "key": key, "name": context, "description": desc, "url": repoURL},
		http.Header{"Authorization": {"Basic " + basic}})
}

// bitbucketServer (Server and Data Center): POST
// CONTEXT/rest/api/latest/projects/PROJECT/repos/REPO/commits/SHA/builds,
// the address being the repository's HTTP clone URL
// (https://HOST[/CONTEXT]/scm/PROJECT/REPO.git), as Flux's; the token is
// an HTTP access token (bearer) or USER:PASSWORD (basic).
func bitbucketServer(u *url.URL, path, sha, token, context, desc string, failed bool) (request, error) {
	i := strings.LastIndex("/"+path, "/scm/")
	if i < 0 {
		return request{}, errors.New("the address must be the repository's HTTP clone URL: https://HOST/scm/PROJECT/REPO.git")
	}
	ctxPath, id := ("/" + path)[:i], ("/" + path)[i+len("/scm/"):]
	project, repo, ok := strings.Cut(id, "/")
	if !ok || project == "" || repo == "" || strings.Contains(repo, "/") {
		return request{}, errors.New("the address must be the repository's HTTP clone URL: https://HOST/scm/PROJECT/REPO.git")
	}
	auth := "Bearer " + token
	if user, pass, ok := strings.Cut(token, ":"); ok {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	key := bitbucketKey(context)
	state := map[bool]string{false: "SUCCESSFUL", true: "FAILED"}[failed]
	return statusRequest(apiBase(u)+ctxPath+"/rest/api/latest/projects/"+project+"/repos/"+repo+"/commits/"+sha+"/builds",
		map[string]string{"state": state, "key": key, "name": context, "description": desc, "url": apiBase(u) + "/" + path},
		http.Header{"Authorization": {auth}, "X-Atlassian-Token": {"no-check"}})
}

// bitbucketKey is context as a Bitbucket status key, which has at most 40
// characters: longer ones become the first 40 hex digits of their SHA-256.
func bitbucketKey(context string) string {
	if len(context) <= 40 {
		return context
	}
	sum := sha256.Sum256([]byte(context))
	return hex.EncodeToString(sum[:])[:40]
}

func statusRequest(address string, body map[string]string, h http.Header) (request, error) {
	rs, err := jsonRequest(address, body, h)
	if err != nil {
		return request{}, err
	}
	return rs[0], nil
}
