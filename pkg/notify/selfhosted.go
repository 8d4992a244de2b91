package notify

import (
	"crypto/sha1" //nolint:gosec // a transaction ID, not a signature
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Chat servers people host themselves, as Flux's providers of the same
// names send to them.

// text is an event as plain text: the title, the message, then the facts,
// one per line.
func text(e *Event) string {
	var b strings.Builder
	b.WriteString(title(e) + "\n" + e.Message + "\n")
	for _, f := range fields(e) {
		fmt.Fprintf(&b, "- %s: %s\n", f[0], f[1])
	}
	return b.String()
}

// matrix sends an m.text message to a Matrix room: address is the
// homeserver, channel the room ID, token the access token. The
// transaction ID is the message's digest, so that a retry of the same
// message is taken once.
type matrix struct{}

// MatrixPayload is the JSON body of the matrix provider.
type MatrixPayload struct {
	MsgType string `json:"msgtype"`
	Body    string `json:"body"`
}

func (matrix) requests(p *Provider, e *Event) ([]request, error) {
	if p.Channel == "" || p.Token == "" {
		return nil, errors.New("matrix needs channel (the room ID) and a token (the Secret's token key)")
	}
	body, err := json.Marshal(MatrixPayload{MsgType: "m.text", Body: text(e)})
	if err != nil {
		return nil, err
	}
	txn := sha1.Sum(body) //nolint:gosec // see matrix
	u := strings.TrimSuffix(p.Address, "/") + "/_matrix/client/r0/rooms/" + url.PathEscape(p.Channel) +
		"/send/m.room.message/" + hex.EncodeToString(txn[:])
	return []request{{method: http.MethodPut, url: u, body: body, header: http.Header{"Authorization": {"Bearer " + p.Token}}}}, nil
}

// ntfy publishes to an ntfy topic: address is the server, channel the
// topic; a token is sent as a bearer token.
type ntfy struct{}

// NtfyPayload is the JSON body of the ntfy provider.
type NtfyPayload struct {
	Topic   string   `json:"topic"`
	Title   string   `json:"title"`
	Message string   `json:"message"`
	Tags    []string `json:"tags,omitempty"`
}

func (ntfy) requests(p *Provider, e *Event) ([]request, error) {
	if p.Channel == "" {
		return nil, errors.New("ntfy needs channel (the topic)")
	}
	tag := "information_source"
	if e.Severity() == SeverityError {
		tag = "rotating_light"
	}
	msg := strings.TrimPrefix(text(e), title(e)+"\n")
	return jsonRequest(p.Address, NtfyPayload{Topic: p.Channel, Title: title(e), Message: msg, Tags: []string{tag}}, bearer(p.Token))
}

// grafana adds an annotation through Grafana's Graphite annotation API:
// address is https://GRAFANA/api/annotations/graphite; a token is sent as
// a bearer token. The tags let a dashboard pick the sync's annotations:
// gitsync, the reason, sync: NAME, namespace: NS and the event's metadata.
type grafana struct{}

// GrafanaPayload is the JSON body of the grafana provider (Grafana's
// Graphite annotation format).
type GrafanaPayload struct {
	When int64    `json:"when"`
	Text string   `json:"text"`
	Tags []string `json:"tags,omitempty"`
}

func (grafana) requests(p *Provider, e *Event) ([]request, error) {
	tag := func(k, v string) string {
		return strings.ReplaceAll(k, ":", "|") + ": " + strings.ReplaceAll(v, ":", "|")
	}
	tags := []string{"gitsync", strings.ToLower(e.Reason), tag("sync", e.Sync), tag("namespace", e.Namespace)}
	for _, f := range fields(e) {
		tags = append(tags, tag(f[0], f[1]))
	}
	return jsonRequest(p.Address, GrafanaPayload{When: e.Time.Unix(), Text: title(e) + ": " + e.Message, Tags: tags}, bearer(p.Token))
}

// telegram sends a message through the Telegram Bot API: address is
// https://api.telegram.org (or a Bot API server of one's own), channel the
// chat ID or @channel, token the bot's token. The token is part of the
// request's path, as the API wants it; errors never name the URL (post).
type telegram struct{}

// TelegramPayload is the JSON body of the telegram provider: plain text,
// so that nothing in a message needs escaping.
type TelegramPayload struct {
	ChatID string `json:"chat_id"`
	Text   string `json:"text"`
}

func (telegram) requests(p *Provider, e *Event) ([]request, error) {
	if p.Channel == "" || p.Token == "" {
		return nil, errors.New("telegram needs channel (the chat ID) and a token (the bot's, the Secret's token key)")
	}
	u := strings.TrimSuffix(p.Address, "/") + "/bot" + url.PathEscape(p.Token) + "/sendMessage"
	return jsonRequest(u, TelegramPayload{ChatID: p.Channel, Text: cut(text(e), 4096)}, nil)
}
