package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// title is the first line of a chat message: what happened to which sync.
func title(e *Event) string {
	verb := map[string]string{
		ReasonFailed: "failed", ReasonRecovered: "recovered", ReasonChanged: "applied changes", ReasonSucceeded: "succeeded",
	}[e.Reason]
	return fmt.Sprintf("gitsync %s/%s %s", e.Namespace, e.Sync, verb)
}

// fields are the facts a chat message lists under its text, in a stable
// order: revision, summary, then eventMetadata by key, then counts.
func fields(e *Event) [][2]string {
	var out [][2]string
	if e.Revision != "" {
		out = append(out, [2]string{"revision", e.Revision})
	}
	if e.Summary != "" {
		out = append(out, [2]string{"summary", e.Summary})
	}
	for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
		if k != "revision" && k != "summary" {
			out = append(out, [2]string{k, e.Metadata[k]})
		}
	}
	if len(e.Counts) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(e.Counts)) {
			parts = append(parts, fmt.Sprintf("%d %s", e.Counts[k], k))
		}
		out = append(out, [2]string{"objects", strings.Join(parts, ", ")})
	}
	return out
}

// bearer is the header that sends token as a bearer token; nil without
// one.
func bearer(token string) http.Header {
	if token == "" {
		return nil
	}
	return http.Header{"Authorization": {"Bearer " + token}}
}

func jsonRequest(address string, v any, header http.Header) ([]request, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return []request{{method: http.MethodPost, url: address, body: body, header: header}}, nil
}

// slack posts a message with one attachment, as Flux's slack provider: to
// an incoming webhook, or with a token to chat.postMessage (the address is
// then https://slack.com/api/chat.postMessage and channel is required).
type slack struct{}

// SlackPayload is the JSON body of the slack provider.
type SlackPayload struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	Text        string            `json:"text"`
	Attachments []SlackAttachment `json:"attachments"`
}

// SlackAttachment is one attachment of a Slack message.
type SlackAttachment struct {
	Color      string       `json:"color"`
	AuthorName string       `json:"author_name"`
	Text       string       `json:"text"`
	MrkdwnIn   []string     `json:"mrkdwn_in"`
	Fields     []SlackField `json:"fields,omitempty"`
}

// SlackField is a fact of a Slack attachment.
type SlackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

func (slack) requests(p *Provider, e *Event) ([]request, error) {
	color := "good"
	if e.Severity() == SeverityError {
		color = "danger"
	}
	a := SlackAttachment{Color: color, AuthorName: e.Object(), Text: e.Message, MrkdwnIn: []string{"text"}}
	for _, f := range fields(e) {
		a.Fields = append(a.Fields, SlackField{Title: f[0], Value: f[1]})
	}
	return jsonRequest(p.Address, SlackPayload{Channel: p.Channel, Username: p.Username, Text: title(e), Attachments: []SlackAttachment{a}}, bearer(p.Token))
}

// discord posts to a Discord webhook in Discord's own format (one embed).
type discord struct{}

// DiscordPayload is the JSON body of the discord provider.
type DiscordPayload struct {
	Username string         `json:"username,omitempty"`
	Content  string         `json:"content"`
	Embeds   []DiscordEmbed `json:"embeds"`
}

// DiscordEmbed is the embed of a Discord message.
type DiscordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Color       int            `json:"color"`
	Timestamp   string         `json:"timestamp"`
	Fields      []DiscordField `json:"fields,omitempty"`
}

// DiscordField is a fact of a Discord embed.
type DiscordField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (discord) requests(p *Provider, e *Event) ([]request, error) {
	color := 0x2eb886
	if e.Severity() == SeverityError {
		color = 0xd40e0d
	}
	em := DiscordEmbed{Title: title(e), Description: cut(e.Message, 4096), Color: color, Timestamp: e.Time.UTC().Format("2006-01-02T15:04:05Z")}
	for _, f := range fields(e) {
		em.Fields = append(em.Fields, DiscordField{Name: f[0], Value: cut(f[1], 1024)})
	}
	return jsonRequest(p.Address, DiscordPayload{Username: p.Username, Content: title(e), Embeds: []DiscordEmbed{em}}, nil)
}

// googlechat posts a card message to a Google Chat space webhook.
type googlechat struct{}

// GoogleChatPayload is the JSON body of the googlechat provider: a text
// (shown in notifications) and a card.
type GoogleChatPayload struct {
	Text    string           `json:"text"`
	CardsV2 []GoogleChatCard `json:"cardsV2"`
}

// GoogleChatCard is a card of a Google Chat message.
type GoogleChatCard struct {
	CardID string `json:"cardId"`
	Card   struct {
		Header   map[string]string `json:"header"`
		Sections []struct {
			Widgets []map[string]any `json:"widgets"`
		} `json:"sections"`
	} `json:"card"`
}

func (googlechat) requests(p *Provider, e *Event) ([]request, error) {
	var c GoogleChatCard
	c.CardID = "gitsync"
	c.Card.Header = map[string]string{"title": title(e), "subtitle": e.Object()}
	widgets := []map[string]any{{"textParagraph": map[string]string{"text": e.Message}}}
	for _, f := range fields(e) {
		widgets = append(widgets, map[string]any{"decoratedText": map[string]string{"topLabel": f[0], "text": f[1]}})
	}
	c.Card.Sections = append(c.Card.Sections, struct {
		Widgets []map[string]any `json:"widgets"`
	}{widgets})
	return jsonRequest(p.Address, GoogleChatPayload{Text: title(e), CardsV2: []GoogleChatCard{c}}, nil)
}

// msteams posts an Adaptive Card to a Microsoft Teams workflow webhook
// (the Office 365 connectors Flux once used are retired).
type msteams struct{}

// TeamsPayload is the JSON body of the msteams provider.
type TeamsPayload struct {
	Type        string            `json:"type"`
	Attachments []TeamsAttachment `json:"attachments"`
}

// TeamsAttachment holds the Adaptive Card.
type TeamsAttachment struct {
	ContentType string    `json:"contentType"`
	Content     TeamsCard `json:"content"`
}

// TeamsCard is an Adaptive Card.
type TeamsCard struct {
	Schema  string           `json:"$schema"`
	Type    string           `json:"type"`
	Version string           `json:"version"`
	Body    []map[string]any `json:"body"`
}

func (msteams) requests(p *Provider, e *Event) ([]request, error) {
	color := "good"
	if e.Severity() == SeverityError {
		color = "attention"
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": title(e), "weight": "bolder", "size": "medium", "wrap": true, "color": color},
		{"type": "TextBlock", "text": e.Message, "wrap": true},
	}
	var facts []map[string]string
	for _, f := range fields(e) {
		facts = append(facts, map[string]string{"title": f[0], "value": f[1]})
	}
	if len(facts) > 0 {
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	return jsonRequest(p.Address, TeamsPayload{Type: "message", Attachments: []TeamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content:     TeamsCard{Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: "1.4", Body: body},
	}}}, nil)
}

// lark posts an interactive card to a Lark (Feishu) bot's webhook, as
// Flux's lark provider: a header with the title, turquoise or red, and one
// lark_md block with the object, the message and the facts.
type lark struct{}

// LarkPayload is the JSON body of the lark provider.
type LarkPayload struct {
	MsgType string   `json:"msg_type"`
	Card    LarkCard `json:"card"`
}

// LarkCard is the card of a Lark message.
type LarkCard struct {
	Config struct {
		WideScreenMode bool `json:"wide_screen_mode"`
	} `json:"config"`
	Header   LarkHeader    `json:"header"`
	Elements []LarkElement `json:"elements"`
}

// LarkHeader is the title bar of a Lark card; Template is its color.
type LarkHeader struct {
	Title    LarkText `json:"title"`
	Template string   `json:"template"`
}

// LarkElement is a block of a Lark card.
type LarkElement struct {
	Tag  string   `json:"tag"`
	Text LarkText `json:"text"`
}

// LarkText is a text of a Lark card: Tag is plain_text or lark_md.
type LarkText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

func (lark) requests(p *Provider, e *Event) ([]request, error) {
	color := "turquoise"
	if e.Severity() == SeverityError {
		color = "red"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n%s\n\n", e.Object(), e.Message)
	for _, f := range fields(e) {
		fmt.Fprintf(&b, "%s: %s\n", f[0], f[1])
	}
	c := LarkCard{
		Header:   LarkHeader{Title: LarkText{Tag: "plain_text", Content: title(e)}, Template: color},
		Elements: []LarkElement{{Tag: "div", Text: LarkText{Tag: "lark_md", Content: b.String()}}},
	}
	c.Config.WideScreenMode = true
	return jsonRequest(p.Address, LarkPayload{MsgType: "interactive", Card: c}, nil)
}

// webex creates a message through the Webex messages API, as Flux's webex
// provider: channel is the room ID, token the bot's access token (the bot
// must be a member of the room), the message markdown.
type webex struct{}

// WebexAPI is the Webex messages API, the webex provider's default
// address.
const WebexAPI = "https://webexapis.com/v1/messages"

func (webex) defaultAddress() string { return WebexAPI }

// WebexPayload is the JSON body of the webex provider.
type WebexPayload struct {
	RoomID   string `json:"roomId"`
	Markdown string `json:"markdown"`
}

func (webex) requests(p *Provider, e *Event) ([]request, error) {
	if p.Channel == "" {
		return nil, errors.New("webex needs channel (the room ID)")
	}
	if p.Token == "" {
		return nil, errNoToken("the Webex bot's access token")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (%s)\n\n%s\n\n", title(e), e.Object(), e.Message)
	for _, f := range fields(e) {
		fmt.Fprintf(&b, "- **%s**: %s\n", f[0], f[1])
	}
	// A Webex message holds at most 7439 bytes.
	return jsonRequest(p.Address, WebexPayload{RoomID: p.Channel, Markdown: cut(b.String(), 7000)}, bearer(p.Token))
}

// cut shortens s to at most n bytes, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 3 && s[n-3]&0xc0 == 0x80 {
		n--
	}
	return s[:n-3] + "..."
}
