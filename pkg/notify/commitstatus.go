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
type forge func(s *status) (request, error)

// status is the commit status a forge's request sets.
type status struct {
	// repo is the repository's URL; path its path, without the slashes
	// around it and without .git.
	repo *url.URL
	path string
	// sha is the commit; token the provider's token.
	sha, token string
	// context is StatusContext's, with the Flux unit for a unit's event.
	context string
	// description says what the run did, at most 140 bytes.
	description string
	// summary is the event's summary (the sync's cluster, say), "" for none.
	summary string
	// failed is set for a failed run.
	failed bool
}

// StatusContext is the context (GitHub, Gitea), name (GitLab), key
// (Bitbucket) or genre/name (Azure DevOps) of a sync's commit status.
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
	r, err := c.forge(&status{repo: u, path: path, sha: sha, token: p.Token, context: context,
		description: cut(desc, 140), summary: e.Summary, failed: e.Reason == ReasonFailed})
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
func github(s *status) (request, error) {
	base := apiBase(s.repo) + "/api/v3"
	if s.repo.Host == "github.com" {
		base = "https://api.github.com"
	}
	state := map[bool]string{false: "success", true: "failure"}[s.failed]
	return statusRequest(base+"/repos/"+s.path+"/statuses/"+s.sha,
		map[string]string{"state": state, "context": s.context, "description": s.description},
		http.Header{"Authorization": {"Bearer " + s.token}, "Accept": {"application/vnd.github+json"}})
}

// gitlab: POST /api/v4/projects/URL-ENCODED-PATH/statuses/SHA.
func gitlab(s *status) (request, error) {
	state := map[bool]string{false: "success", true: "failed"}[s.failed]
	return statusRequest(apiBase(s.repo)+"/api/v4/projects/"+url.PathEscape(s.path)+"/statuses/"+s.sha,
		map[string]string{"state": state, "name": s.context, "description": s.description},
		http.Header{"Private-Token": {s.token}})
}

// gitea (and Forgejo): POST /api/v1/repos/OWNER/REPO/statuses/SHA.
func gitea(s *status) (request, error) {
	state := map[bool]string{false: "success", true: "failure"}[s.failed]
	return statusRequest(apiBase(s.repo)+"/api/v1/repos/"+s.path+"/statuses/"+s.sha,
		map[string]string{"state": state, "context": s.context, "description": s.description},
		http.Header{"Authorization": {"token " + s.token}})
}

// bitbucket (Cloud): POST /2.0/repositories/OWNER/REPO/commit/SHA/statuses/build
// on api.bitbucket.org (on HOST/2.0 for any other host), with the token
// USER:APP_PASSWORD as basic authentication, as Flux's.
func bitbucket(s *status) (request, error) {
	user, pass, ok := strings.Cut(s.token, ":")
	if !ok {
		return request{}, errors.New("the bitbucket token must be USERNAME:APP_PASSWORD")
	}
	base := apiBase(s.repo) + "/2.0"
	if s.repo.Host == "bitbucket.org" {
		base = "https://api.bitbucket.org/2.0"
	}
	key := bitbucketKey(s.context)
	state := map[bool]string{false: "SUCCESSFUL", true: "FAILED"}[s.failed]
	repoURL := apiBase(s.repo) + "/" + s.path
	return statusRequest(base+"/repositories/"+s.path+"/commit/"+s.sha+"/statuses/build",
		map[string]string{"state": state, "key": key, "name": s.context, "description": s.description, "url": repoURL},
		http.Header{"Authorization": {basicAuth(user, pass)}})
}

// bitbucketServer (Server and Data Center): POST
// CONTEXT/rest/api/latest/projects/PROJECT/repos/REPO/commits/SHA/builds,
// the address being the repository's HTTP clone URL
// (https://HOST[/CONTEXT]/scm/PROJECT/REPO.git), as Flux's; the token is
// an HTTP access token (bearer) or USER:PASSWORD (basic).
func bitbucketServer(s *status) (request, error) {
	i := strings.LastIndex("/"+s.path, "/scm/")
	if i < 0 {
		return request{}, errors.New("the address must be the repository's HTTP clone URL: https://HOST/scm/PROJECT/REPO.git")
	}
	ctxPath, id := ("/" + s.path)[:i], ("/" + s.path)[i+len("/scm/"):]
	project, repo, ok := strings.Cut(id, "/")
	if !ok || project == "" || repo == "" || strings.Contains(repo, "/") {
		return request{}, errors.New("the address must be the repository's HTTP clone URL: https://HOST/scm/PROJECT/REPO.git")
	}
	auth := "Bearer " + s.token
	if user, pass, ok := strings.Cut(s.token, ":"); ok {
		auth = basicAuth(user, pass)
	}
	key := bitbucketKey(s.context)
	state := map[bool]string{false: "SUCCESSFUL", true: "FAILED"}[s.failed]
	base := apiBase(s.repo)
	return statusRequest(base+ctxPath+"/rest/api/latest/projects/"+project+"/repos/"+repo+"/commits/"+s.sha+"/builds",
		map[string]string{"state": state, "key": key, "name": s.context, "description": s.description, "url": base + "/" + s.path},
		http.Header{"Authorization": {auth}, "X-Atlassian-Token": {"no-check"}})
}

// azureDevOps: POST
// COLLECTION/PROJECT/_apis/git/repositories/REPO/commits/SHA/statuses, the
// address being the repository's URL (https://dev.azure.com/ORG/PROJECT/_git/REPO;
// Azure DevOps Server: https://HOST/COLLECTION/PROJECT/_git/REPO), the token
// a personal access token sent as basic authentication with an empty user,
// as Flux's. The state is succeeded or error, as Flux's. Flux's genre is
// fluxcd (fluxcd:SUMMARY with a summary); gitsync's is gitsync
// (gitsync:SUMMARY), and the name is the context after "gitsync/", so that
// GENRE/NAME reads as the other forges' context: gitsync/NAMESPACE/NAME.
func azureDevOps(s *status) (request, error) {
	parts := strings.Split(s.path, "/")
	n := len(parts)
	if n < 3 || parts[n-2] != "_git" || parts[n-3] == "" || parts[n-1] == "" {
		return request{}, errors.New("the address must be the repository's URL: https://dev.azure.com/ORG/PROJECT/_git/REPO")
	}
	collection := apiBase(s.repo)
	for _, p := range parts[:n-3] {
		collection += "/" + url.PathEscape(p)
	}
	project, repo := url.PathEscape(parts[n-3]), url.PathEscape(parts[n-1])
	genre := "gitsync"
	if s.summary != "" {
		genre += ":" + s.summary
	}
	state := map[bool]string{false: "succeeded", true: "error"}[s.failed]
	return statusRequest(collection+"/"+project+"/_apis/git/repositories/"+repo+"/commits/"+s.sha+"/statuses?api-version="+azureDevOpsAPIVersion,
		map[string]any{"state": state, "description": s.description,
			"context": map[string]string{"genre": genre, "name": strings.TrimPrefix(s.context, "gitsync/")}},
		http.Header{"Authorization": {basicAuth("", s.token)}})
}

// azureDevOpsAPIVersion is the REST API version of azureDevOps' request:
// 6.0 is taken by Azure DevOps Services and by Azure DevOps Server 2020
// and later.
const azureDevOpsAPIVersion = "6.0"

// basicAuth is the value of an Authorization header for basic
// authentication.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
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

func statusRequest(address string, body any, h http.Header) (request, error) {
	rs, err := jsonRequest(address, body, h)
	if err != nil {
		return request{}, err
	}
	return rs[0], nil
}
