package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gitsync/gitsync/pkg/action"
	"github.com/gitsync/gitsync/pkg/format"
)

// addBootstrapFlags adds uninstall's --bootstrap and --yes.
func (o *uninstallOptions) addBootstrapFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.Bootstrap, "bootstrap", false,
		"remove the root sync bootstrap made (NAME and namespace default to "+action.BootstrapName+") and its credentials Secret; prints what to delete in Git")
	cmd.Flags().BoolVar(&o.Yes, "yes", false,
		"with --bootstrap: also delete PATH/gitsync-system from Git with a commit pushed with the root sync's credentials")
}

// completeBootstrap is Complete for --bootstrap: NAME and the namespace
// default to bootstrap's.
func (o *uninstallOptions) completeBootstrap(cmd *cobra.Command, args []string) error {
	if err := o.complete(cmd, args); err != nil {
		return err
	}
	if o.Name == "" {
		o.Name = action.BootstrapName
	}
	if o.flags.Namespace == nil || *o.flags.Namespace == "" {
		o.Namespace = action.BootstrapName
	}
	return nil
}

// runBootstrap removes the root sync and says what is left in Git.
func (o *uninstallOptions) runBootstrap(ctx context.Context) error {
	prog := format.NewProgress(o.ErrOut, o.cfg.Now)
	res, err := action.UninstallBootstrap(ctx, o.cfg, action.UninstallBootstrapOptions{
		Ref: o.ref(), Prune: o.Prune, Push: o.Yes, Progress: prog})
	if res.Commit != "" {
		fmt.Fprintf(o.Out, "commit %s pushed to %s: %s deleted\n", res.Commit, res.Branch, res.GitDir)
	}
	if res.Uninstall != nil {
		for _, d := range res.Uninstall.Deletions {
			line := fmt.Sprintf("%s %s", d.ID, strings.ToLower(string(d.Action)))
			if d.Reason != "" {
				line += ": " + d.Reason
			}
			fmt.Fprintln(o.Out, line)
		}
	}
	if res.SecretDeleted != "" {
		fmt.Fprintf(o.Out, "Secret/%s/%s deleted\n", o.Namespace, res.SecretDeleted)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "root sync %s/%s uninstalled", o.Namespace, o.Name)
	if res.Uninstall != nil && res.Uninstall.Left > 0 {
		fmt.Fprintf(o.Out, "; the %s it applied were left in place (--prune deletes them)", format.Count(res.Uninstall.Left, "object"))
	}
	fmt.Fprintln(o.Out)
	if !o.Yes {
		_, err = fmt.Fprintf(o.Out, "Git still holds it: delete %s from branch %s of %s (or run again with --yes), "+
			"or the next bootstrap brings it back\n", res.GitDir, res.Branch, res.URL)
	}
	return err
}
